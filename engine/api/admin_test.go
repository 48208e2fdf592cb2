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

func (a *adminBackend) Maintenance(_ context.Context, req api.MaintenanceRequest) (api.MaintenanceResponse, error) {
	a.got = append(a.got, req)
	return api.MaintenanceResponse{Node: req.Node, On: req.On, Index: 9}, nil
}

// placementBackend adds PlacementBackend: it records requests, knows
// resource "web" and nodes n1, n2 and refuses the rest with 404, and the
// witness w with 422.
type placementBackend struct {
	adminBackend
}

func (p *placementBackend) check(res, node string) error {
	if res != "web" {
		return &api.Error{Status: 404, Message: "no resource " + res + "; expected one of web"}
	}
	switch node {
	case "", "n1", "n2":
		return nil
	case "w":
		return &api.Error{Status: 422, Message: "node w is a witness"}
	}
	return &api.Error{Status: 404, Message: "no node " + node + "; expected one of n1, n2, w"}
}

func (p *placementBackend) Move(_ context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	if err := p.check(req.Resource, req.Node); err != nil {
		return api.MoveResponse{}, err
	}
	p.got = append(p.got, req)
	return api.MoveResponse{Resource: req.Resource, Kind: "move", Node: req.Node, From: []string{"n1"},
		Placement: []api.PlacementChange{{ID: "web", From: []string{"n1"}, To: []string{req.Node}}}, Index: 10}, nil
}

func (p *placementBackend) Ban(_ context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	if err := p.check(req.Resource, req.Node); err != nil {
		return api.MoveResponse{}, err
	}
	p.got = append(p.got, req)
	return api.MoveResponse{Resource: req.Resource, Kind: "ban", Node: req.Node, Index: 11}, nil
}

func (p *placementBackend) Clear(_ context.Context, req api.ClearRequest) (api.ClearResponse, error) {
	if err := p.check(req.Resource, req.Node); err != nil {
		return api.ClearResponse{}, err
	}
	p.got = append(p.got, req)
	return api.ClearResponse{Resource: req.Resource, Cleared: []api.PreferenceView{{Resource: "web", Kind: "move", Node: "n2", Score: "INFINITY"}}, Index: 12}, nil
}

func (p *placementBackend) SetTargetRole(_ context.Context, req api.TargetRoleRequest) (api.TargetRoleResponse, error) {
	if err := p.check(req.Resource, ""); err != nil {
		return api.TargetRoleResponse{}, err
	}
	p.got = append(p.got, req)
	return api.TargetRoleResponse{Resource: req.Resource, Role: req.Role, Previous: "", Index: 13}, nil
}

func (p *placementBackend) Where(_ context.Context, id string) (api.WhereView, error) {
	if err := p.check(id, ""); err != nil {
		return api.WhereView{}, err
	}
	return api.WhereView{Resource: id, Kind: "primitive", Nodes: []string{"n1"}, Primitives: []api.PrimitiveWhere{{ID: id, Started: []string{"n1"}, Active: []string{"n1"}}}}, nil
}

func (p *placementBackend) Constraints(context.Context) (api.ConstraintsView, error) {
	return api.ConstraintsView{Preferences: []api.PreferenceView{{Resource: "web", Kind: "ban", Node: "n1", Score: "-INFINITY"}},
		TargetRoles: []api.TargetRoleView{{Resource: "db", Role: "Stopped"}}}, nil
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

func status(err error) int {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

func TestAPI_MoveBanClearTargetRoleWhere(t *testing.T) {
	b := &placementBackend{}
	sock, tcp, token := serve(t, b, nil)
	ctx := context.Background()
	for _, c := range []*client.Client{client.Unix(sock), client.TCP(tcp, token)} {
		b.got = nil
		m, err := c.Move(ctx, api.MoveRequest{Resource: "web", Node: "n2", Lifetime: "PT30M"})
		if err != nil || m.Kind != "move" || m.Node != "n2" || m.Index != 10 || len(m.Placement) != 1 || m.Placement[0].To[0] != "n2" {
			t.Fatalf("move: %+v %v", m, err)
		}
		if bn, err := c.Ban(ctx, api.MoveRequest{Resource: "web", Node: "n1", Lifetime: "1h"}); err != nil || bn.Kind != "ban" || bn.Index != 11 {
			t.Fatalf("ban: %+v %v", bn, err)
		}
		if cl, err := c.Clear(ctx, api.ClearRequest{Resource: "web"}); err != nil || len(cl.Cleared) != 1 || cl.Index != 12 {
			t.Fatalf("clear: %+v %v", cl, err)
		}
		if tr, err := c.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "web", Role: "Stopped"}); err != nil || tr.Role != "Stopped" || tr.Index != 13 {
			t.Fatalf("target role: %+v %v", tr, err)
		}
		if w, err := c.Where(ctx, "web"); err != nil || len(w.Nodes) != 1 || w.Nodes[0] != "n1" {
			t.Fatalf("where: %+v %v", w, err)
		}
		if cv, err := c.Constraints(ctx); err != nil || len(cv.Preferences) != 1 || cv.TargetRoles[0].Role != "Stopped" {
			t.Fatalf("constraints: %+v %v", cv, err)
		}
		if mt, err := c.Maintenance(ctx, api.MaintenanceRequest{Node: "n2", On: true}); err != nil || !mt.On || mt.Index != 9 {
			t.Fatalf("maintenance: %+v %v", mt, err)
		}
		if len(b.got) != 5 {
			t.Fatalf("backend saw %d requests; expected 5", len(b.got))
		}
		if got := b.got[0].(api.MoveRequest); got.Lifetime != "PT30M" || got.Resource != "web" {
			t.Fatalf("backend got %+v", got)
		}
	}

	// Refusals: the API's own checks (400) never reach the backend; the
	// backend's (404, 422) come back with their message.
	c := client.Unix(sock)
	b.got = nil
	for _, tc := range []struct {
		name   string
		do     func() error
		status int
		msg    string
	}{
		{"move without a resource", func() error { _, err := c.Move(ctx, api.MoveRequest{Node: "n1"}); return err }, 400, "resource is empty"},
		{"ban without a resource", func() error { _, err := c.Ban(ctx, api.MoveRequest{Resource: " "}); return err }, 400, "resource is empty"},
		{"move with a bad lifetime", func() error {
			_, err := c.Move(ctx, api.MoveRequest{Resource: "web", Node: "n2", Lifetime: "soon"})
			return err
		}, 400, `lifetime "soon"`},
		{"ban with a negative lifetime", func() error {
			_, err := c.Ban(ctx, api.MoveRequest{Resource: "web", Node: "n2", Lifetime: "-5m"})
			return err
		}, 400, "is negative"},
		{"move with a zero lifetime", func() error {
			_, err := c.Move(ctx, api.MoveRequest{Resource: "web", Node: "n2", Lifetime: "0s"})
			return err
		}, 400, "not positive"},
		{"target role Slave", func() error {
			_, err := c.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "web", Role: "Slave"})
			return err
		}, 400, `role "Slave"`},
		{"clear without a resource", func() error { _, err := c.Clear(ctx, api.ClearRequest{}); return err }, 400, "resource is empty"},
		{"where without a resource", func() error { _, err := c.Where(ctx, ""); return err }, 400, "resource is empty"},
		{"maintenance without a node", func() error { _, err := c.Maintenance(ctx, api.MaintenanceRequest{}); return err }, 400, "node is empty"},
		{"move of an unknown resource", func() error { _, err := c.Move(ctx, api.MoveRequest{Resource: "nope", Node: "n1"}); return err }, 404, "expected one of web"},
		{"move to an unknown node", func() error { _, err := c.Move(ctx, api.MoveRequest{Resource: "web", Node: "n9"}); return err }, 404, "expected one of n1, n2, w"},
		{"move to the witness", func() error { _, err := c.Move(ctx, api.MoveRequest{Resource: "web", Node: "w"}); return err }, 422, "witness"},
		{"where of an unknown resource", func() error { _, err := c.Where(ctx, "nope"); return err }, 404, "expected one of web"},
	} {
		err := tc.do()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != tc.status || !strings.Contains(ce.Message, tc.msg) {
			t.Errorf("%s: %v; expected %d with %q", tc.name, err, tc.status, tc.msg)
		}
	}
	if len(b.got) != 0 {
		t.Fatalf("refused requests reached the backend as changes: %+v", b.got)
	}

	// Strict bodies and methods.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/resources/move", `{"resource":"web","node":"n2","score":5}`, 400},
		{"POST", "/v1/resources/ban", `{"resource":"web"} {"resource":"web"}`, 400},
		{"GET", "/v1/resources/move", "", 405},
		{"POST", "/v1/resources/where?resource=web", `{}`, 405},
		{"GET", "/v1/resources/where?resource=web&node=n1", "", 400},
		{"GET", "/v1/resources/where?resource=web&resource=db", "", 400},
		{"GET", "/v1/resources/where?resource=web", "", 200},
		{"GET", "/v1/resources/constraints?x=1", "", 400},
		{"POST", "/v1/resources/target-role", `{"resource":"web","role":"Started","force":true}`, 400},
		{"GET", "/v1/nodes/maintenance", "", 405},
	} {
		req, _ := http.NewRequest(tc.method, "http://agent"+tc.path, strings.NewReader(tc.body))
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s %s: %d; expected %d", tc.method, tc.path, tc.body, resp.StatusCode, tc.status)
		}
	}
	if len(b.got) != 0 {
		t.Fatalf("malformed requests reached the backend: %+v", b.got)
	}
	// TCP without the token is refused.
	if _, err := client.TCP(tcp, "wrong-token-wrong-token").Move(ctx, api.MoveRequest{Resource: "web", Node: "n2"}); status(err) != 401 {
		t.Fatalf("move with a wrong token: %v; expected 401", err)
	}
}

func TestAPI_PlacementWithoutBackendSupportIs501(t *testing.T) {
	sock, _, _ := serve(t, &adminBackend{}, nil)
	c := client.Unix(sock)
	ctx := context.Background()
	if _, err := c.Move(ctx, api.MoveRequest{Resource: "web", Node: "n1"}); status(err) != 501 {
		t.Fatalf("move on a backend without PlacementBackend: %v; expected 501", err)
	}
	if _, err := c.Where(ctx, "web"); status(err) != 501 {
		t.Fatalf("where on a backend without PlacementBackend: %v; expected 501", err)
	}
	if _, err := c.Constraints(ctx); status(err) != 501 {
		t.Fatalf("constraints on a backend without PlacementBackend: %v; expected 501", err)
	}
}

func TestParseLifetime_GoPcsAndISO8601(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30m": 30 * time.Minute, "1h30m": 90 * time.Minute, "90": 90 * time.Second, "10min": 10 * time.Minute,
		"PT30M": 30 * time.Minute, "pt2h": 2 * time.Hour, "P1D": 24 * time.Hour, "P1W": 7 * 24 * time.Hour,
		"P1DT12H": 36 * time.Hour, "PT1H30M15S": time.Hour + 30*time.Minute + 15*time.Second, "PT0.5S": 500 * time.Millisecond,
	} {
		got, err := api.ParseLifetime(in)
		if err != nil || got != want {
			t.Errorf("ParseLifetime(%q) = %v, %v; expected %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"": "not a duration", "soon": "not a duration", "-5m": "negative", "-PT5M": "negative", "0": "not positive", "0s": "not positive",
		"P": "not an ISO 8601", "PT": "not an ISO 8601", "P1H": "not an ISO 8601", "PT1D": "not an ISO 8601", "P1Y": "years or months",
		"P1M": "years or months", "PTM": "not an ISO 8601", "P1DT": "not an ISO 8601", "PT0S": "not positive", "P200Y": "years or months",
		"P20000W": "over 100 years", "P1TT1H": "not an ISO 8601", "P1.2.3D": "not an ISO 8601",
	} {
		if _, err := api.ParseLifetime(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseLifetime(%q): %v; expected an error with %q", in, err, msg)
		}
	}
}
