package inproc

import (
	"testing"
	"time"

	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

const three = `
cluster:
  name: inproc
  key_file: test.key
  no_quorum_policy: stop
  stonith: false
nodes:
  - {name: n1, addresses: [127.0.0.1]}
  - {name: n2, addresses: [127.0.0.2]}
  - {name: n3, addresses: [127.0.0.3]}
`

// TestCluster_PlaceRestartMigrateCleanup: the initial placement is the
// scheduler's; a killed process restarts on the same node; at
// migration_threshold the resource moves; cleanup lets it come back to its
// preferred node. Never on two nodes at once.
func TestCluster_PlaceRestartMigrateCleanup(t *testing.T) {
	c := newCluster(t, three+`
resources:
  - id: web
    type: exec
    params: {command: [/bin/sh, LOGDIR/web.sh], startup_grace: 100ms}
    monitor: {interval: 200ms, timeout: 5s}
    meta: {migration_threshold: 2}
  - id: db
    type: exec
    params: {command: [/bin/sh, LOGDIR/db.sh], startup_grace: 100ms}
    monitor: {interval: 500ms, timeout: 5s}
constraints:
  - location: {resource: web, node: n2, score: 100}
`)
	c.script("web", 0)
	c.script("db", 0)
	in := scheduler.Input{Cluster: c.model, Quorate: true, Nodes: map[string]scheduler.NodeStatus{}}
	for _, n := range c.model.Nodes {
		in.Nodes[n.Name] = scheduler.NodeStatus{Online: true}
	}
	plan, _ := scheduler.Compute(in, time.Now())
	if len(plan.Placement["web"]) != 1 || len(plan.Placement["db"]) != 1 {
		t.Fatalf("scheduler placement %v; expected web and db on one node each", plan.Placement)
	}
	c.startAll()
	c.waitOn("web", plan.Placement["web"]...)
	c.waitOn("db", plan.Placement["db"]...)
	home := plan.Placement["web"][0]
	t.Logf("initial placement as the scheduler says: %v", plan.Placement)

	c.killRunning("web", home)
	c.eventually("web restarted on "+home, func() bool { return c.starts("web", home) == 2 })
	c.waitOn("web", home)
	c.killRunning("web", home)
	var moved string
	c.eventually("web moved away from "+home+" at migration_threshold 2", func() bool {
		on, rec := c.runningOn("web"), c.startedIn("web")
		if len(on) == 1 && on[0] != home && len(rec) == 1 && rec[0] == on[0] {
			moved = on[0]
			return true
		}
		return false
	})
	t.Logf("web moved to %s after 2 failures on %s", moved, home)
	c.apply(state.CmdCleanup, state.Cleanup{Resource: "web"})
	c.waitOn("web", home)
	c.checkNeverTwice("web", "db")
}
