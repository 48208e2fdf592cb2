package admin

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/api"
)

// The service behind the real HTTP handlers, as the agent serves it: the
// status codes, the error bodies and the JSON fields the CLI reads.
func TestService_BehindTheAPIServer(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	const token = "test-token-0123456789"
	srv, err := api.New(api.Config{Backend: h.svc, SocketPath: "unused.sock", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, rec.Body.String(), err)
		}
		return rec.Code, m
	}
	code, m := do("POST", "/v1/resources/move", `{"resource": "web", "node": "n2"}`)
	if code != 200 || m["kind"] != "move" || m["node"] != "n2" || m["placement_changes"] == nil || m["index"] == nil {
		t.Errorf("move: %d %v", code, m)
	}
	code, m = do("POST", "/v1/resources/move", `{"resource": "web", "node": "w"}`)
	if code != 422 || !strings.HasPrefix(m["error"].(string), "node w is a witness") {
		t.Errorf("move to the witness: %d %v", code, m)
	}
	code, m = do("POST", "/v1/nodes/standby", `{"node": "nope", "on": true}`)
	if code != 404 || !strings.Contains(m["error"].(string), `no node "nope"`) {
		t.Errorf("standby nope: %d %v", code, m)
	}
	code, m = do("GET", "/v1/resources/where?resource=web", "")
	if code != 200 || m["kind"] != "primitive" || m["preferences"] == nil {
		t.Errorf("where: %d %v", code, m)
	}
	body, _ := json.Marshal(api.ConfigRequest{YAML: testYAML, BaseVersion: version(0)})
	code, m = do("POST", "/v1/config", string(body))
	if code != 409 || m["base_version"] != float64(0) || m["current_version"] != float64(1) {
		t.Errorf("stale config apply: %d %v", code, m)
	}
	code, m = do("GET", "/v1/status", "")
	if code != 200 || m["config_version"] != float64(1) || m["leader"] != "n1" {
		t.Errorf("status: %d %v", code, m)
	}
}
