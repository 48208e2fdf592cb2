package node

import (
	"strings"
	"testing"

	"github.com/havenha/haven/engine/agent"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/membership"
)

// New names every problem of its configuration.
func TestNew_RefusesAnIncompleteConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "no cluster configuration") {
		t.Errorf("no cluster: %v", err)
	}
	cl, err := config.Parse("c.yaml", []byte("cluster: {name: c, key_file: k}\nnodes:\n  - {name: n1, addresses: [127.0.0.1]}\n"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Cluster: cl, Name: "zz"}); err == nil || !strings.Contains(err.Error(), `"zz" is not a node of the configuration`) {
		t.Errorf("unknown node: %v", err)
	}
	_, err = New(Config{Cluster: cl, Name: "n1"})
	for _, want := range []string{"File is empty", "Path is empty", "Types is nil", "no raft key", "no API socket and no TCP API"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config: error %v does not say %q", err, want)
		}
	}
	keys, err := membership.DeriveKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	// Complete: New builds (gossip included) without binding anything.
	n, err := New(Config{Cluster: cl, Name: "n1", File: []byte("x"), Path: "c.yaml", Keys: keys,
		Types: agent.Builtin().Lookup, APISocket: t.TempDir() + "/api.sock", APITCP: true})
	if err != nil {
		t.Fatalf("complete config: %v", err)
	}
	select {
	case <-n.Ready():
		t.Error("Ready before Run")
	default:
	}
	if n.State() == nil || n.Raft() != nil || n.Controller() != nil {
		t.Errorf("before Run: state %v, raft %v, controller %v; expected only the state", n.State(), n.Raft(), n.Controller())
	}
}
