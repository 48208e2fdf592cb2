package inproc

import (
	"context"
	"testing"
	"time"
)

// TestCluster_GracefulStop_StopsBeforeLeaving: a graceful shutdown of the
// node running a resource (SIGTERM of its agent) stops the resource there
// while the node is still a member, and only then does the node leave; the
// resource then starts on another node and never runs on two at once.
func TestCluster_GracefulStop_StopsBeforeLeaving(t *testing.T) {
	c := newCluster(t, three+`
resources:
  - id: web
    type: exec
    params: {command: [/bin/sh, LOGDIR/web.sh], startup_grace: 100ms}
    monitor: {interval: 200ms, timeout: 5s}
constraints:
  - location: {resource: web, node: n2, score: 100}
`)
	c.script("web", 0)
	c.startAll()
	c.waitOn("web", "n2")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.node("n2").ctl.StopResources(ctx); err != nil {
		t.Fatalf("StopResources on n2: %v", err)
	}
	if on := c.runningOn("web"); len(on) != 0 {
		t.Fatalf("after StopResources on n2 web runs on %v; want nowhere until n2 has left", on)
	}

	// n2 leaves (the rest of the agent's shutdown): web starts elsewhere.
	c.world.mu.Lock()
	c.world.down["n2"] = true
	c.world.mu.Unlock()
	c.membershipChanged()
	c.stopNode("n2")
	c.eventually("web started on another node after n2 left", func() bool {
		on := c.runningOn("web")
		return len(on) == 1 && on[0] != "n2"
	})
	c.checkNeverTwice("web")
}
