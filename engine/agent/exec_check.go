package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
)

// check runs the resource's health check once (nil when none is set). It
// runs within ctx and at most check.timeout (default 5s).
func (a *execAgent) check(ctx context.Context) error {
	c := a.p.Check
	if c == nil {
		return nil
	}
	to := c.Timeout.D()
	if to == 0 {
		to = defaultCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	switch {
	case len(c.Command) > 0:
		cred, u, err := a.credential()
		if err != nil {
			return err
		}
		cmd := exec.Command(c.Command[0], c.Command[1:]...)
		cmd.Dir = a.p.Dir
		cmd.Env = a.environ(u)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred} // as the service's user
		code, out, err := agentkit.RunOutput(ctx, cmd, 300)
		if err != nil {
			return fmt.Errorf("check command %q: %w", c.Command, err)
		}
		if code != 0 {
			return fmt.Errorf("check command %q exited with status %d: %s", c.Command, code, out)
		}
		return nil
	case c.TCP != "":
		// No keep-alive: the connection is closed at once, and its three
		// setsockopt calls would only lengthen each check's burst of
		// system calls (docs/bench/idle.md).
		d := net.Dialer{KeepAlive: -1}
		conn, err := d.DialContext(ctx, "tcp", c.TCP)
		if err != nil {
			return fmt.Errorf("tcp check: %w", err)
		}
		conn.Close()
		return nil
	case c.HTTP != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HTTP, nil)
		if err != nil {
			return fmt.Errorf("http check: %w", err)
		}
		resp, err := checkHTTPClient.Do(req)
		if err != nil {
			return fmt.Errorf("http check: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return fmt.Errorf("http check %s: status %s, expected 2xx or 3xx", c.HTTP, resp.Status)
		}
		return nil
	}
	return nil
}

// checkHTTPClient does not follow redirects (a 3xx is healthy) and keeps no
// idle connections to the checked service.
var checkHTTPClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport: &http.Transport{
		DisableKeepAlives:     true,
		Proxy:                 nil, // never route a local health check through a proxy
		ResponseHeaderTimeout: 30 * time.Second,
	},
}
