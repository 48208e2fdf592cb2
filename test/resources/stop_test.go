package resources

import (
	"os"
	"testing"
)

// SIGTERM of the agent running a resource (a graceful `systemctl stop
// haven`). By design (docs/operations.md, "Stopping haven") the resource
// keeps running so a restarted agent adopts it. But the others see the
// node leave, its lease lapses in the coordinator's table, and they start
// the resource elsewhere while the stopped node's process still runs:
// two copies until the agent returns. That breaks DESIGN.md §9 invariant 1
// (quorate, stonith off); it is logged as a known gap here, and
// HAVEN_RESOURCES_STRICT=1 makes it fail. The agent's return ends it.
func TestResources_GracefulAgentStopKnownDoubleRun(t *testing.T) {
	r := newRig(t, "", threeNodes(), `resources:
  - {id: svc, type: exec, params: {command: SCRIPT(svc)}, monitor: {interval: 1s, timeout: 5s}}
constraints:
  - location: {resource: svc, node: n2, score: 50}
`)
	r.c.StartAll()
	r.waitOn("svc", "n2")
	kept := r.pidFromFile("svc", "n2")
	r.c.Node("n2").Stop()
	r.eventually("svc started on n1 or n3", func() bool {
		for _, iv := range r.live("svc") {
			if iv.node != "n2" {
				return true
			}
		}
		return false
	})
	if processAlive(kept) {
		msg := "known gap: after a graceful stop of n2's agent, svc runs on n2 (pid %d, left running by design) and on %v at once"
		if os.Getenv("HAVEN_RESOURCES_STRICT") != "" {
			t.Errorf(msg, kept, r.runningOn("svc"))
		} else {
			t.Logf(msg, kept, r.runningOn("svc"))
		}
	}
	// The agent returns: it adopts its process, and one copy is stopped.
	r.c.Node("n2").Start()
	r.eventually("svc on exactly one node after n2's agent returned", func() bool {
		s, err := r.c.Node("n2").Status()
		if err != nil {
			return false
		}
		rv, ok := resourceOf(s, "svc")
		return ok && rv.State == "started" && len(rv.Nodes) == 1 && len(r.runningOn("svc")) == 1
	})
}
