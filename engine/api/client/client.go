// Package client is the typed client of haven's agent API (engine/api),
// used by the CLI and the tests. It reaches an agent over its unix socket or
// over TCP with the bearer token derived from the cluster key.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/havenha/haven/engine/api"
)

// Client talks to one agent.
type Client struct {
	target string // for messages: unix:PATH or http://ADDR
	base   string
	token  string
	hc     *http.Client
}

// Error is an error answered by the agent.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("agent answered %d: %s", e.Status, e.Message) }

// Unix returns a client for the agent's unix socket.
func Unix(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second,
	}
	return &Client{target: "unix:" + path, base: "http://agent", hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// TCP returns a client for an agent's TCP address (host:port) with a token.
func TCP(addr, token string) *Client {
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return &Client{target: addr, base: "http://" + addr, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Target describes where the client connects (for messages).
func (c *Client) Target() string { return c.target }

// Quorum returns GET /v1/quorum.
func (c *Client) Quorum(ctx context.Context) (api.QuorumView, error) {
	var v api.QuorumView
	err := c.get(ctx, "/v1/quorum", &v)
	return v, err
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("reach the agent at %s: %w (is 'haven agent' running there?)", c.target, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read the answer of %s: %w", c.target, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb api.ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
			return &Error{Status: resp.StatusCode, Message: eb.Error}
		}
		return &Error{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode the answer of %s for %s: %w", c.target, path, err)
	}
	return nil
}

func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
