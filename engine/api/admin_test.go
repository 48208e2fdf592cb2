package api_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
)

// adminBackend adds AdminBackend to fakeBackend: it records requests and
// refuses resource "nope" with 404.
type adminBackend struct {
	fakeBackend
	got []any
}

func (a *adminBackend) Cleanup(_ context.Context, req api.CleanupRequest) (api.CleanupResponse, error) {
	if req.Resource == "nope" {
		return api.CleanupResponse{}, &api.Error{Status: 404, Message: "no resource nope; expected one of web"}
	}
	a.got = append(a.got, req)
	return api.CleanupResponse{Resource: req.Resource, Node: req.Node, Primitives: []string{req.Resource}, Index: 7}, nil
}

func (a *adminBackend) Standby(_ context.Context, req api.StandbyRequest) (api.StandbyResponse, error) {
	a.got = append(a.got, req)
	return api.StandbyResponse{Node: req.Node, On: req.On, Index: 8}, nil
}

func serve(t *testing.T, b api.Backend, handlers map[string]http.Handler) (sock, tcp, token string) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "a.sock")
	token = strings.Repeat("cd", 32)
	s, err := api.New(api.Config{Backend: b, SocketPath: sock, TCPAddr: "127.0.0.1:0", Token: token, Handlers: handlers})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("api not ready")
	}
	t.Cleanup(func() { cancel(); <-done })
	return sock, s.TCPAddr().String(), token
}

func TestAPI_CleanupAndStandby(t *testing.T) {
	b := &adminBackend{}
	sock, _, _ := serve(t, b, nil)
	ctx := context.Background()
	c := client.Unix(sock)
	r, err := c.Cleanup(ctx, api.CleanupRequest{Resource: "web", Node: "n1"})
	if err != nil || r.Index != 7 || r.Primitives[0] != "web" {
		t.Fatalf("cleanup: %+v %v", r, err)
	}
	var ce *client.Error
	if _, err := c.Cleanup(ctx, api.CleanupRequest{Resource: "nope"}); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("cleanup of an unknown id: %v; expected 404", err)
	}
	if _, err := c.Cleanup(ctx, api.CleanupRequest{}); !errors.As(err, &ce) || ce.Status != 400 {
		t.Fatalf("cleanup without a resource: %v; expected 400", err)
	}
	s, err := c.Standby(ctx, api.StandbyRequest{Node: "n2", On: true})
	if err != nil || !s.On || s.Index != 8 {
		t.Fatalf("standby: %+v %v", s, err)
	}
	if len(b.got) != 2 {
		t.Fatalf("backend saw %d requests; expected 2 (refusals never reach it)", len(b.got))
	}
	// Unknown fields and GET are refused.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Post("http://agent/v1/resources/cleanup", "application/json", bytes.NewBufferString(`{"resource":"web","extra":1}`))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("unknown field: %v %v; expected 400", resp, err)
	}
	resp.Body.Close()
	resp, err = hc.Get("http://agent/v1/nodes/standby")
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("GET standby: %v %v; expected 405", resp, err)
	}
	resp.Body.Close()
}

func TestAPI_AdminWithoutBackendSupportIs501(t *testing.T) {
	sock, _, _ := serve(t, fakeBackend{}, nil)
	var ce *client.Error
	if _, err := client.Unix(sock).Cleanup(context.Background(), api.CleanupRequest{Resource: "web"}); !errors.As(err, &ce) || ce.Status != 501 {
		t.Fatalf("cleanup on a backend without AdminBackend: %v; expected 501", err)
	}
}

// Extra handlers (the lease endpoint) are served behind the token on TCP.
func TestAPI_ExtraHandlersBehindTheToken(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("lease ok")) })
	_, tcp, token := serve(t, fakeBackend{}, map[string]http.Handler{"/v1/lease": h})
	req, _ := http.NewRequest(http.MethodPost, "http://"+tcp+"/v1/lease", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("lease without a token: %v %v; expected 401", resp, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodPost, "http://"+tcp+"/v1/lease", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("lease with the token: %v %v; expected 200", resp, err)
	}
	resp.Body.Close()
}
