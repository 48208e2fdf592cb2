package inproc

import (
	"context"
	"strings"
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

// TestCluster_LeaseLapse_StopsBeforeRecovery cuts off the node running a
// resource, over several iterations (the cut node is sometimes the
// coordinator): its lease lapses and it stops the resource before another
// node starts it, every time, by the processes' own stamps.
func TestCluster_LeaseLapse_StopsBeforeRecovery(t *testing.T) {
	c := newCluster(t, three+`
resources:
  - id: web
    type: exec
    params: {command: [/bin/sh, LOGDIR/web.sh], startup_grace: 100ms}
    monitor: {interval: 300ms, timeout: 5s}
    meta: {stickiness: 100}
`)
	c.script("web", 0)
	c.startAll()
	cur := c.waitSingle("web", "")
	leaders := 0
	for i := 0; i < 4; i++ {
		wasLeader := c.node(cur).ctl.Leading()
		if wasLeader {
			leaders++
		}
		t.Logf("iteration %d: cutting off %s (coordinator: %v)", i, cur, wasLeader)
		c.partition(cur)
		next := c.waitSingle("web", cur)
		ivs := c.intervals()
		var stopOld, startNew int64
		for _, iv := range ivs {
			if iv.res == "web" && iv.node == cur && iv.stop != 0 {
				stopOld = iv.stop
			}
			if iv.res == "web" && iv.node == next && iv.open() {
				startNew = iv.start
			}
		}
		if stopOld == 0 || startNew == 0 || stopOld >= startNew {
			c.dump()
			t.Fatalf("iteration %d: %s stopped web at %d, %s started it at %d; want the stop first", i, cur, stopOld, next, startNew)
		}
		t.Logf("iteration %d: %s stopped web %s before %s started it", i, cur, time.Duration(startNew-stopOld), next)
		c.checkNeverTwice("web")
		c.heal()
		old := cur
		c.eventually(old+" rejoined with a valid lease", func() bool {
			tn := c.node(old)
			return tn.ctl.LeaseHolder().Valid(time.Now()) && !tn.ctl.Leading() == !tn.cn.IsLeader() && len(c.runningOn("web")) == 1
		})
		cur = next
	}
	c.waitSingle("web", "")
	c.checkNeverTwice("web")
	t.Logf("the cut-off node was the coordinator in %d of 4 iterations", leaders)
}

// TestCluster_CoordinatorLeaseLapse_TakeoverBeforeRecovery cuts off the
// coordinator while it runs the resource (a clone on every node leaves the
// coordinator handoff no node that runs nothing, so the role stays where
// the test puts it): the new coordinator waits the lease bound plus the
// takeover from its election (the deposed one may still renew for that
// long, its heartbeats answered from lease acks) and starts it only after
// the cut node stopped it.
func TestCluster_CoordinatorLeaseLapse_TakeoverBeforeRecovery(t *testing.T) {
	c := newCluster(t, three+noQuorumResources)
	c.script("hb", 0)
	c.script("solo", 0)
	c.startAll()
	c.waitOn("hb", "n1", "n2", "n3")
	home := c.waitSingle("solo", "")
	if lead := c.leader(); lead != home {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		err := c.node(lead).cn.TransferLeadershipTo(ctx, home)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c.eventually(home+" coordinates", func() bool { return c.leader() == home })
	}
	at := time.Now()
	c.partition(home)
	next := c.waitSingle("solo", home)
	var stopOld, startNew int64
	for _, iv := range c.intervals() {
		if iv.res == "solo" && iv.node == home && iv.stop != 0 {
			stopOld = iv.stop
		}
		if iv.res == "solo" && iv.node == next && iv.open() {
			startNew = iv.start
		}
	}
	if stopOld == 0 || startNew == 0 || stopOld >= startNew {
		c.dump()
		t.Fatalf("%s stopped solo at %d, %s started it at %d; want the stop first", home, stopOld, next, startNew)
	}
	t.Logf("the cut coordinator %s stopped solo %s before %s started it, %s after the cut",
		home, time.Duration(startNew-stopOld), next, time.Unix(0, startNew).Sub(at))
	c.checkNeverTwice("solo")
	c.heal()
	c.waitOn("hb", "n1", "n2", "n3")
	c.checkNeverTwice("solo")
}

// waitSingle waits until res runs (and is recorded started) on exactly one
// node other than not, and returns it.
func (c *cluster) waitSingle(res, not string) string {
	c.t.Helper()
	var got string
	c.eventually(res+" running on one node other than "+not, func() bool {
		on, rec := c.runningOn(res), c.startedIn(res)
		if len(on) == 1 && on[0] != not && len(rec) >= 1 && contains(rec, on[0]) {
			got = on[0]
			return true
		}
		return false
	})
	return got
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCluster_NoQuorumStop_CutOffNodeStopsEverything: a clone runs on every
// node; a node (not the coordinator) cut off from the other two stops
// everything (policy stop) within lease + stop time, while the quorate side
// keeps its instances; after the heal it runs them again.
func TestCluster_NoQuorumStop_CutOffNodeStopsEverything(t *testing.T) {
	c := newCluster(t, three+noQuorumResources)
	c.script("hb", 0)
	c.script("solo", 0)
	c.startAll()
	c.waitOn("hb", "n1", "n2", "n3")
	c.waitSingle("solo", "")
	lead := c.leader()
	cut := "n3"
	if lead == cut {
		cut = "n2"
	}
	c.cutOffStopsAll(cut, c.lease+5*time.Second)
}

const noQuorumResources = `
resources:
  - id: hb
    type: exec
    params: {command: [/bin/sh, LOGDIR/hb.sh], startup_grace: 100ms}
    monitor: {interval: 300ms, timeout: 5s}
  - id: solo
    type: exec
    params: {command: [/bin/sh, LOGDIR/solo.sh], startup_grace: 100ms}
    monitor: {interval: 300ms, timeout: 5s}
    meta: {stickiness: 100}
clones:
  - {id: hb-clone, resource: hb}
`

// TestCluster_CoordinatorCutOff_QuorateSideKeepsRunning: the coordinator
// itself is cut off. It stops everything; the other two elect a coordinator
// that renews their leases before they lapse — which needs a lease longer
// than the raft failover plus the lease left after the last renewal (here
// 3s; docs/operations.md, "Sizing the lease") — so their instances never stop.
func TestCluster_CoordinatorCutOff_QuorateSideKeepsRunning(t *testing.T) {
	c := newCluster(t, strings.Replace(three, "stonith: false", "stonith: false\n  timing: {lease: 3s}", 1)+noQuorumResources)
	c.script("hb", 0)
	c.script("solo", 0)
	c.startAll()
	c.waitOn("hb", "n1", "n2", "n3")
	c.waitSingle("solo", "")
	c.cutOffStopsAll(c.leader(), c.lease+5*time.Second)
}

// cutOffStopsAll cuts node off, checks that it stops everything within
// bound while the others stop none of their hb instances, that solo runs
// on the quorate side, then heals and checks hb runs everywhere again.
func (c *cluster) cutOffStopsAll(node string, bound time.Duration) {
	t := c.t
	t.Helper()
	at := time.Now()
	c.partition(node)
	c.eventually(node+" stopped everything", func() bool {
		for _, iv := range c.intervals() {
			if iv.node == node && iv.open() {
				return false
			}
		}
		return true
	})
	took := time.Since(at)
	if took > bound {
		t.Errorf("%s took %s to stop everything; expected within %s (lease + stop time)", node, took, bound)
	}
	t.Logf("%s (cut off) stopped everything %s after the cut", node, took)
	c.waitSingle("solo", node)
	for _, iv := range c.intervals() {
		if iv.res == "hb" && iv.node != node && !iv.open() {
			t.Errorf("hb stopped on %s, on the quorate side: %+v", iv.node, iv)
		}
	}
	c.heal()
	c.waitOn("hb", "n1", "n2", "n3")
	c.checkNeverTwice("solo")
}

// TestCluster_OrderAcrossNodes: b starts only after a is up on another node,
// by the processes' own stamps (a takes a second to become ready).
func TestCluster_OrderAcrossNodes(t *testing.T) {
	c := newCluster(t, three+`
resources:
  - id: a
    type: exec
    params:
      command: [/bin/sh, LOGDIR/a.sh]
      check: {command: [/bin/sh, -c, 'test -f LOGDIR/a.ready.$HAVEN_NODE']}
    monitor: {interval: 300ms, timeout: 5s}
  - id: b
    type: exec
    params: {command: [/bin/sh, LOGDIR/b.sh], startup_grace: 100ms}
    monitor: {interval: 300ms, timeout: 5s}
constraints:
  - colocation: {resource: b, with: a, score: -INFINITY}
  - order: {first: a, then: b}
`)
	c.script("a", time.Second)
	c.script("b", 0)
	c.startAll()
	na := c.waitSingle("a", "")
	nb := c.waitSingle("b", na)
	var aUp, bStart int64
	for _, iv := range c.intervals() {
		if iv.res == "a" && aUp == 0 {
			aUp = iv.start
		}
		if iv.res == "b" && bStart == 0 {
			bStart = iv.start
		}
	}
	if bStart <= aUp {
		c.dump()
		t.Fatalf("b started on %s at %d, before a was up on %s at %d", nb, bStart, na, aUp)
	}
	t.Logf("a up on %s, b started on %s %s later", na, nb, time.Duration(bStart-aUp))
}

const seed001 = `
cluster:
  name: web_cluster
  key_file: test.key
  no_quorum_policy: ignore
  stonith: false
nodes:
  - {name: Lubuntu, addresses: [127.0.0.1]}
  - {name: Lubuntu1, addresses: [127.0.0.2]}
  - {name: witness, addresses: [127.0.0.3], role: witness}
resources:
  - id: failoverip
    type: exec
    params: {command: [/bin/sh, LOGDIR/failoverip.sh], startup_grace: 100ms}
    monitor: {interval: 300ms, timeout: 5s}
  - id: serviceWeb
    type: exec
    params: {command: [/bin/sh, LOGDIR/serviceWeb.sh], startup_grace: 100ms}
    monitor: {interval: 300ms, timeout: 5s}
constraints:
  - location: {id: preferred-Lubuntu, resource: failoverip, node: Lubuntu, score: 100}
  - colocation: {id: failoverip-serviceWeb, resource: failoverip, with: serviceWeb, score: INFINITY}
`

// TestCluster_Seed001_FailbackAndStandby: seed 001's shape (two nodes, the
// VIP prefers Lubuntu with 100, the web server colocated; exec stands in for
// both; a witness gives the pair a raft majority): a crash of Lubuntu moves
// both to Lubuntu1, its return brings them back (failback, no stickiness),
// standby moves everything off and unstandby back.
func TestCluster_Seed001_FailbackAndStandby(t *testing.T) {
	c := newCluster(t, seed001)
	c.script("failoverip", 0)
	c.script("serviceWeb", 0)
	c.startAll()
	both := func(node string) {
		c.t.Helper()
		c.waitOn("failoverip", node)
		c.waitOn("serviceWeb", node)
	}
	both("Lubuntu")
	c.crashNode("Lubuntu")
	both("Lubuntu1")
	c.startNode("Lubuntu")
	both("Lubuntu")
	c.apply(state.CmdNodeStandby, state.NodeFlag{Node: "Lubuntu", On: true})
	both("Lubuntu1")
	c.apply(state.CmdNodeStandby, state.NodeFlag{Node: "Lubuntu", On: false})
	both("Lubuntu")
	c.checkNeverTwice("failoverip", "serviceWeb")
}
