package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/harness"
)

// TestTwoNode_IgnoreSurvivorContinues: two_node without a witness under
// no_quorum_policy ignore (stonith off): when the peer is killed, membership
// declares it dead, the agent tells consensus (PeerDown), and the survivor
// continues alone and keeps committing; the peer, restarted, is added back
// and catches up.
func TestTwoNode_IgnoreSurvivorContinues(t *testing.T) {
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "multi-process cluster test")
	}
	c := harness.New(t, harness.Spec{Name: "two", PerNodeConfig: true, Profile: "fast", TwoNode: true,
		ClusterExtra: "  no_quorum_policy: ignore", Extra: baseResources,
		Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}}})
	dumpLogsOnFailure(t, c)
	c.StartAll()
	leader, _ := c.WaitConverged(1, converge)
	peer := map[string]string{"a": "b", "b": "a"}[leader]
	// Kill the follower: the leader must continue alone (forced one-voter
	// configuration) rather than lose its majority.
	c.Node(peer).Kill()
	survivor := c.Node(leader)
	var err error
	deadline := time.Now().Add(converge)
	for time.Now().Before(deadline) {
		var cur api.ConfigView
		if cur, err = survivor.Config(); err == nil && !cur.Stale {
			if _, err = apply(survivor, withResource(cur.YAML, "xalone"), cur.Version); err == nil {
				break
			}
		}
		if err == nil {
			err = fmt.Errorf("copy not confirmed current")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the survivor %s could not commit alone: %v", leader, err)
	}
	if !strings.Contains(survivor.Log(), "continuing alone") {
		t.Errorf("the survivor's log does not say it continues alone")
	}
	c.Node(peer).Start()
	cfg := committedEverywhere(t, c, 2)
	if !strings.Contains(cfg.YAML, "xalone") {
		t.Fatalf("committed configuration lacks the change made alone")
	}
	c.WaitConverged(cfg.Version, converge)
}

// TestTwoNode_WithoutWitnessFencingOrIgnoreRefused: a two_node file with no
// witness, no fencing and no_quorum_policy stop cannot keep a raft majority:
// the agent refuses to start and says what to do.
func TestTwoNode_WithoutWitnessFencingOrIgnoreRefused(t *testing.T) {
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "multi-process cluster test")
	}
	c := harness.New(t, harness.Spec{Name: "two", TwoNode: true, Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}}})
	_, stderr, err := c.CLI(c.Node("a").AgentArgs(c.ConfigPath)...)
	if err == nil || !strings.Contains(stderr, "add a witness node") || !strings.Contains(stderr, "no_quorum_policy: ignore") {
		t.Fatalf("agent with an impossible two_node file: %v %q, want a refusal with the choices", err, stderr)
	}
}
