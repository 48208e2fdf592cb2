package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
	"github.com/havenha/haven/internal/testenv"
)

type fakeBackend struct{ q api.QuorumView }

func (f fakeBackend) Quorum() api.QuorumView { return f.q }

func (f fakeBackend) Status(context.Context) (api.StatusView, error) {
	return api.StatusView{Cluster: "c", Node: "sv1", Leader: "sv1", ConfigVersion: 3, Quorum: f.q,
		Nodes: []api.NodeView{{Name: "sv1", State: "online", Voter: true}}, Resources: []api.ResourceView{}}, nil
}

func (f fakeBackend) Config(context.Context) (api.ConfigView, error) {
	return api.ConfigView{Version: 3, YAML: "cluster: {name: c}\n"}, nil
}

// ApplyConfig accepts base 3 only; "bad" is refused as a bad file.
func (f fakeBackend) ApplyConfig(_ context.Context, req api.ConfigRequest) (api.ConfigResponse, error) {
	switch {
	case req.YAML == "bad":
		return api.ConfigResponse{}, &api.Error{Status: 400, Message: "test.yaml:1:1: bad"}
	case *req.BaseVersion != 3:
		return api.ConfigResponse{}, api.Conflict(*req.BaseVersion, 3)
	case req.DryRun:
		return api.ConfigResponse{Version: 3, BaseVersion: 3, DryRun: true}, nil
	}
	return api.ConfigResponse{Version: 4, BaseVersion: 3, Applied: true}, nil
}

func startServer(t *testing.T) (*api.Server, string, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "a.sock")
	token := strings.Repeat("ab", 32)
	s, err := api.New(api.Config{Backend: fakeBackend{api.QuorumView{Quorate: true, ExpectedVotes: 8, HighestExpected: 8, TotalVotes: 6, Quorum: 5,
		Flags: []string{"Quorate"}, Members: []api.MemberView{{Name: "sv1", Votes: 2, Online: true, Links: []api.LinkView{{Link: 0, Address: "127.0.0.1:7946", Up: true}}}}}},
		SocketPath: sock, TCPAddr: "127.0.0.1:0", Token: token})
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		_ = s.Close() // second close is a no-op
	})
	return s, sock, token
}

func TestAPI_QuorumOverSocketAndTCP(t *testing.T) {
	s, sock, token := startServer(t)
	ctx := context.Background()
	q, err := client.Unix(sock).Quorum(ctx)
	if err != nil || !q.Quorate || q.Quorum != 5 || len(q.Members) != 1 || q.Members[0].Links[0].Address != "127.0.0.1:7946" {
		t.Fatalf("unix: %+v %v", q, err)
	}
	q, err = client.TCP(s.TCPAddr().String(), token).Quorum(ctx)
	if err != nil || q.TotalVotes != 6 {
		t.Fatalf("tcp: %+v %v", q, err)
	}
	var ce *client.Error
	if _, err := client.TCP(s.TCPAddr().String(), "wrong").Quorum(ctx); !errors.As(err, &ce) || ce.Status != 401 {
		t.Fatalf("wrong token: %v, want 401", err)
	}
	if _, err := client.TCP(s.TCPAddr().String(), "").Quorum(ctx); !errors.As(err, &ce) || ce.Status != 401 || !strings.Contains(ce.Message, "missing Authorization") {
		t.Fatalf("no token: %v, want 401 naming the missing header", err)
	}
}

func TestAPI_JSONShape(t *testing.T) {
	_, sock, _ := startServer(t)
	q, err := client.Unix(sock).Quorum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(q)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"quorate", "expected_votes", "highest_expected", "total_votes", "quorum", "flags", "members"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, b)
		}
	}
	mem := m["members"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "votes", "online", "links"} {
		if _, ok := mem[k]; !ok {
			t.Errorf("member key %q missing from %s", k, b)
		}
	}
}

func TestAPI_BadRequests(t *testing.T) {
	s, _, token := startServer(t)
	base := "http://" + s.TCPAddr().String()
	cases := []struct {
		method, path string
		auth         bool
		status       int
	}{
		{"GET", "/v1/quorum", false, 401},
		{"POST", "/v1/quorum", true, 405},
		{"DELETE", "/v1/quorum", false, 401},
		{"GET", "/v1/nothing", true, 404},
		{"GET", "/v1/quorum?x=1", true, 400},
		{"GET", "/v1/status", false, 401},
		{"POST", "/v1/status", true, 405},
		{"POST", "/v1/config", false, 401},
		{"PUT", "/v1/config", true, 405},
		{"POST", "/v1/config", true, 400}, // no body
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		if c.auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb api.ErrorBody
		err = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != c.status || err != nil || eb.Error == "" {
			t.Errorf("%s %s: status %d body %+v (%v), want %d with a JSON error", c.method, c.path, resp.StatusCode, eb, err, c.status)
		}
	}
}

func TestAPI_SecondAgentOnSameSocketRefused(t *testing.T) {
	_, sock, _ := startServer(t)
	s2, err := api.New(api.Config{Backend: fakeBackend{}, SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "another process answers") {
		t.Fatalf("second server on a live socket: %v", err)
	}
}

// TestAPI_ImportsNoMembershipOrRaft: engine/api is an engine core package.
func TestAPI_ImportsNoMembershipOrRaft(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/havenha/haven/engine/api/...").CombinedOutput()
	if err != nil {
		testenv.Missing(t, "go list failed: %v %s", err, out)
	}
	for _, bad := range []string{"hashicorp/memberlist", "hashicorp/raft", "havenha/haven/membership", "havenha/haven/consensus"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("engine/api depends on %s", bad)
		}
	}
}

func TestAPI_StatusAndConfig(t *testing.T) {
	_, sock, _ := startServer(t)
	ctx := context.Background()
	cli := client.Unix(sock)
	st, err := cli.Status(ctx)
	if err != nil || st.Leader != "sv1" || st.ConfigVersion != 3 || !st.Quorum.Quorate {
		t.Fatalf("status: %+v %v", st, err)
	}
	b, _ := json.Marshal(st)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"cluster", "leader", "config_version", "quorum", "nodes", "resources"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status key %q missing from %s", k, b)
		}
	}
	cv, err := cli.Config(ctx)
	if err != nil || cv.Version != 3 || cv.YAML == "" {
		t.Fatalf("config: %+v %v", cv, err)
	}
	base := uint64(3)
	res, err := cli.ApplyConfig(ctx, api.ConfigRequest{YAML: "x", BaseVersion: &base})
	if err != nil || !res.Applied || res.Version != 4 {
		t.Fatalf("apply: %+v %v", res, err)
	}
	stale := uint64(2)
	var ce *client.Error
	_, err = cli.ApplyConfig(ctx, api.ConfigRequest{YAML: "x", BaseVersion: &stale})
	if !errors.As(err, &ce) || ce.Status != 409 || ce.BaseVersion == nil || *ce.BaseVersion != 2 || ce.CurrentVersion == nil || *ce.CurrentVersion != 3 ||
		!strings.Contains(ce.Message, "since version 2 (now version 3)") {
		t.Fatalf("stale apply: %v, want 409 naming both versions", err)
	}
	if _, err = cli.ApplyConfig(ctx, api.ConfigRequest{YAML: "bad", BaseVersion: &base}); !errors.As(err, &ce) || ce.Status != 400 {
		t.Fatalf("bad file: %v, want 400", err)
	}
}

func TestAPI_ConfigBadBodies(t *testing.T) {
	s, _, token := startServer(t)
	url := "http://" + s.TCPAddr().String() + "/v1/config"
	for _, c := range []struct{ body, want string }{
		{`{"yaml": "x"}`, "base_version is missing"},
		{`{"yaml": "", "base_version": 3}`, "yaml is empty"},
		{`{"yaml": "x", "base_version": 3, "force": true}`, "unknown field"},
		{`{"yaml": "x", "base_version": 3} {}`, "more than one JSON value"},
		{`not json`, "not a configuration request"},
		{`{"yaml": 5, "base_version": 3}`, "not a configuration request"},
	} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(eb.Error, c.want) {
			t.Errorf("body %s: %d %q, want 400 containing %q", c.body, resp.StatusCode, eb.Error, c.want)
		}
	}
}
