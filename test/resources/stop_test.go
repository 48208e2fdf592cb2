package resources

import (
	"testing"
)

// SIGTERM of the agent running a resource (a graceful `systemctl stop
// haven`): the agent stops the resource while it is still a member, then
// leaves; the resource starts elsewhere only after its stop stamp, never
// on two nodes at once; the agent's return moves nothing back twice.
func TestResources_GracefulAgentStopStopsFirst(t *testing.T) {
	r := newRig(t, "", threeNodes(), svcPreferN2)
	r.c.StartAll()
	r.waitOn("svc", "n2")
	kept := r.pidFromFile("svc", "n2")
	r.c.Node("n2").Stop()
	if processAlive(kept) {
		t.Errorf("svc's process %d on n2 still runs after its agent stopped gracefully", kept)
	}
	var stopped int64
	for _, iv := range r.intervals() {
		if iv.pid == kept {
			stopped = iv.stop
		}
	}
	if stopped == 0 {
		t.Fatalf("svc's process %d on n2 has no stop stamp: it was not stopped by its agent", kept)
	}
	r.eventually("svc started on n1 or n3", func() bool {
		on := r.runningOn("svc")
		return len(on) == 1 && on[0] != "n2"
	})
	for _, iv := range r.live("svc") {
		if iv.start < stopped {
			t.Errorf("svc started on %s at %d, before it stopped on n2 at %d", iv.node, iv.start, stopped)
		}
	}
	r.checkNeverTwice("svc")
	// The agent returns: svc fails back to n2 (stickiness 0), once.
	r.c.Node("n2").Start()
	r.waitOn("svc", "n2")
	r.checkNeverTwice("svc")
}
