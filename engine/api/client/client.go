// Package client is the typed client of haven's agent API (engine/api),
// used by the CLI and the tests. It reaches an agent over its unix socket or
// over TCP with the bearer token derived from the cluster key.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	// BaseVersion and CurrentVersion are set on a 409 configuration conflict.
	BaseVersion    *uint64
	CurrentVersion *uint64
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

// Status returns GET /v1/status.
func (c *Client) Status(ctx context.Context) (api.StatusView, error) {
	var v api.StatusView
	err := c.get(ctx, "/v1/status", &v)
	return v, err
}

// Config returns GET /v1/config: the committed configuration.
func (c *Client) Config(ctx context.Context) (api.ConfigView, error) {
	var v api.ConfigView
	err := c.get(ctx, "/v1/config", &v)
	return v, err
}

// ApplyConfig sends POST /v1/config. A stale base comes back as an *Error
// with Status 409 and both versions.
func (c *Client) ApplyConfig(ctx context.Context, req api.ConfigRequest) (api.ConfigResponse, error) {
	var v api.ConfigResponse
	body, err := json.Marshal(req)
	if err != nil {
		return v, err
	}
	err = c.do(ctx, http.MethodPost, "/v1/config", body, &v)
	return v, err
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) do(ctx context.Context, method, path string, in []byte, out any) error {
	var rd io.Reader
	if in != nil {
		rd = bytes.NewReader(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
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
			return &Error{Status: resp.StatusCode, Message: eb.Error, BaseVersion: eb.BaseVersion, CurrentVersion: eb.CurrentVersion}
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

// Cleanup sends POST /v1/resources/cleanup.
func (c *Client) Cleanup(ctx context.Context, req api.CleanupRequest) (api.CleanupResponse, error) {
	var v api.CleanupResponse
	body, err := json.Marshal(req)
	if err != nil {
		return v, err
	}
	err = c.do(ctx, http.MethodPost, "/v1/resources/cleanup", body, &v)
	return v, err
}

// Standby sends POST /v1/nodes/standby.
func (c *Client) Standby(ctx context.Context, req api.StandbyRequest) (api.StandbyResponse, error) {
	var v api.StandbyResponse
	body, err := json.Marshal(req)
	if err != nil {
		return v, err
	}
	err = c.do(ctx, http.MethodPost, "/v1/nodes/standby", body, &v)
	return v, err
}

// Maintenance sends POST /v1/nodes/maintenance.
func (c *Client) Maintenance(ctx context.Context, req api.MaintenanceRequest) (api.MaintenanceResponse, error) {
	var v api.MaintenanceResponse
	err := c.post(ctx, "/v1/nodes/maintenance", req, &v)
	return v, err
}

// Move sends POST /v1/resources/move.
func (c *Client) Move(ctx context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	var v api.MoveResponse
	err := c.post(ctx, "/v1/resources/move", req, &v)
	return v, err
}

// Ban sends POST /v1/resources/ban.
func (c *Client) Ban(ctx context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	var v api.MoveResponse
	err := c.post(ctx, "/v1/resources/ban", req, &v)
	return v, err
}

// Clear sends POST /v1/resources/clear.
func (c *Client) Clear(ctx context.Context, req api.ClearRequest) (api.ClearResponse, error) {
	var v api.ClearResponse
	err := c.post(ctx, "/v1/resources/clear", req, &v)
	return v, err
}

// SetTargetRole sends POST /v1/resources/target-role.
func (c *Client) SetTargetRole(ctx context.Context, req api.TargetRoleRequest) (api.TargetRoleResponse, error) {
	var v api.TargetRoleResponse
	err := c.post(ctx, "/v1/resources/target-role", req, &v)
	return v, err
}

// Where returns GET /v1/resources/where?resource=ID.
func (c *Client) Where(ctx context.Context, resource string) (api.WhereView, error) {
	var v api.WhereView
	err := c.get(ctx, "/v1/resources/where?"+url.Values{"resource": {resource}}.Encode(), &v)
	return v, err
}

// Constraints returns GET /v1/resources/constraints.
func (c *Client) Constraints(ctx context.Context) (api.ConstraintsView, error) {
	var v api.ConstraintsView
	err := c.get(ctx, "/v1/resources/constraints", &v)
	return v, err
}

func (c *Client) post(ctx context.Context, path string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, body, out)
}
