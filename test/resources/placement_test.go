package resources

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
)

// The shape of examples/local3.yaml: a group preferring n1, a clone on
// every node. The agents place them as `haven simulate` says, and `haven
// status` shows where they run.
func TestResources_InitialPlacementAsSimulated(t *testing.T) {
	r := newRig(t, "  no_quorum_policy: stop", threeNodes(), `resources:
  - {id: vip, type: exec, params: {command: SCRIPT(vip)}, monitor: {interval: 1s, timeout: 5s}}
  - {id: web, type: exec, params: {command: SCRIPT(web)}, monitor: {interval: 1s, timeout: 5s}, meta: {stickiness: 100, migration_threshold: 3}}
  - {id: heartbeat, type: exec, params: {command: SCRIPT(heartbeat)}, monitor: {interval: 2s, timeout: 5s}}
groups:
  - {id: web-group, resources: [vip, web]}
clones:
  - {id: heartbeat-clone, resource: heartbeat}
constraints:
  - location: {resource: web-group, node: n1, score: 50}
`)
	sim := r.simulate()
	t.Logf("simulate: %v", sim)
	for _, id := range []string{"vip", "web"} {
		if !slices.Equal(sim[id], []string{"n1"}) {
			t.Fatalf("simulate places %s on %v; expected [n1] (the location preference)", id, sim[id])
		}
	}
	r.c.StartAll()
	for _, id := range []string{"vip", "web", "heartbeat"} {
		want := append([]string{}, sim[id]...)
		if len(want) == 0 {
			t.Fatalf("simulate places %s nowhere: %v", id, sim)
		}
		r.waitOn(id, want...)
	}
	// The human status names the group's members on n1. n2 answers from
	// its own copy of the state, which may lag n1's a moment: poll.
	want := []string{"vip\t(exec):\t Started n1", "web\t(exec):\t Started n1", "heartbeat\t(exec):\t Started [ n1 n2 n3 ]"}
	var out string
	r.eventually("haven status on n2 shows the placement", func() bool {
		out = r.cli("status", "--socket", r.c.Node("n2").Socket)
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	})
	t.Logf("haven status:\n%s", out)
	// Every node's controller reports itself; exactly one coordinates.
	leading := 0
	for _, n := range r.c.Nodes {
		s := n.WaitStatus("controller status", 30*time.Second, func(s api.StatusView) bool { return s.Controller != nil })
		if s.Controller.Leading {
			leading++
		}
	}
	if leading != 1 {
		t.Errorf("%d nodes coordinate; expected 1", leading)
	}
}
