package membership

import (
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/test/harness"
)

// Deadlines are generous: the machine is shared and loaded; detection time
// is measured by BenchmarkDetection, never asserted here.
const (
	converge = 30 * time.Second
)

func seed000(t *testing.T) *harness.Cluster {
	return harness.New(t, harness.Spec{Name: "fo_cluster", ExpectedVotes: 8, Nodes: []harness.NodeSpec{
		{Name: "sv1", Votes: 2}, {Name: "sv2", Votes: 2}, {Name: "cl1", Votes: 1}, {Name: "cl2", Votes: 1}}})
}

func state(q api.QuorumView, name string) string {
	m, _ := harness.MemberOf(q, name)
	return m.State
}

// TestSeed000_KillRestartQuorum is DESIGN.md §3's reference case with four
// real agents: cl1 killed -> 5 votes, quorate; cl1 back -> 6; sv2 killed ->
// 4, not quorate.
func TestSeed000_KillRestartQuorum(t *testing.T) {
	c := seed000(t)
	c.StartAll()
	for _, n := range c.Nodes {
		n.WaitQuorum("all four members, 6 of 8 votes", converge, func(q api.QuorumView) bool {
			return q.Quorate && q.TotalVotes == 6 && q.Quorum == 5 && q.ExpectedVotes == 8 && q.HighestExpected == 8
		})
	}
	c.Node("cl1").Kill()
	for _, name := range []string{"sv1", "sv2", "cl2"} {
		q := c.Node(name).WaitQuorum("cl1 dead, quorate with 5", converge, func(q api.QuorumView) bool {
			return q.Quorate && q.TotalVotes == 5 && state(q, "cl1") == "dead"
		})
		if m, _ := harness.MemberOf(q, "cl1"); m.Online || m.Links[0].Up {
			t.Errorf("%s: cl1 still online: %s", name, harness.Describe(q))
		}
	}
	c.Node("cl1").Start()
	for _, n := range c.Nodes {
		n.WaitQuorum("cl1 back, 6 votes", converge, func(q api.QuorumView) bool { return q.Quorate && q.TotalVotes == 6 })
	}
	c.Node("sv2").Kill()
	for _, name := range []string{"sv1", "cl1", "cl2"} {
		c.Node(name).WaitQuorum("sv2 dead, 4 of 8: not quorate", converge, func(q api.QuorumView) bool {
			return !q.Quorate && q.TotalVotes == 4 && q.Quorum == 5 && state(q, "sv2") == "dead" && len(q.Flags) == 0
		})
	}
}

// TestGracefulStop_ReportsLeftNotDead: SIGTERM makes peers report "left";
// SIGKILL makes them report "dead".
func TestGracefulStop_ReportsLeftNotDead(t *testing.T) {
	c := harness.New(t, harness.Spec{Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}, {Name: "c"}}})
	c.StartAll()
	for _, n := range c.Nodes {
		n.WaitQuorum("3 members", converge, func(q api.QuorumView) bool { return q.TotalVotes == 3 })
	}
	c.Node("b").Stop()
	c.Node("a").WaitQuorum("b left", converge, func(q api.QuorumView) bool { return state(q, "b") == "left" && q.TotalVotes == 2 })
	if !strings.Contains(c.Node("b").Log(), "left the cluster") {
		t.Errorf("b's log does not record the graceful leave:\n%s", c.Node("b").Log())
	}
	c.Node("c").Kill()
	q := c.Node("a").WaitQuorum("c dead", converge, func(q api.QuorumView) bool { return state(q, "c") == "dead" })
	if state(q, "b") != "left" {
		t.Errorf("b is %q after c died; expected it to stay left", state(q, "b"))
	}
}

// TestRedundantLinks_OneLinkDown: every node has two links; the cluster's
// file gives node b's second link an address where nothing listens (b itself
// binds elsewhere), so link 1 to b never comes up while link 0 does: b is
// online, its link 1 is reported down, and quorum is unaffected.
func TestRedundantLinks_OneLinkDown(t *testing.T) {
	c := harness.New(t, harness.Spec{Nodes: []harness.NodeSpec{{Name: "a", Links: 2}, {Name: "b", Links: 2}, {Name: "c", Links: 2}}})
	c.StartAll()
	for _, n := range c.Nodes {
		n.WaitQuorum("3 members, both links up", converge, func(q api.QuorumView) bool {
			if q.TotalVotes != 3 {
				return false
			}
			for _, m := range q.Members {
				if len(m.Links) != 2 || !m.Links[0].Up || !m.Links[1].Up {
					return false
				}
			}
			return true
		})
	}
	// b restarts with its second link on another address: for a and c,
	// b's configured link-1 address no longer answers.
	b := c.Node("b")
	b.Kill()
	alt := c.Dir + "/b-alt.yaml"
	moved := b.Addresses[1][:strings.LastIndex(b.Addresses[1], ".")] + ".200"
	c.WriteConfig(alt, "authkey", map[string][]string{"b": {b.Addresses[0], moved}})
	b.StartWith(alt)
	for _, name := range []string{"a", "c"} {
		q := c.Node(name).WaitQuorum("b online over link 0 only", converge, func(q api.QuorumView) bool {
			m, _ := harness.MemberOf(q, "b")
			return m.Online && m.State == "online" && m.Links[0].Up && !m.Links[1].Up && q.Quorate && q.TotalVotes == 3
		})
		t.Logf("%s sees %s", name, harness.Describe(q))
	}
	// a and c refuse b's gossip on link 1 from the unexpected address, and
	// say so in the log.
	if log := c.Node("a").Log(); !strings.Contains(log, "node refused") || !strings.Contains(log, moved) {
		t.Errorf("a's log does not name b's unexpected link-1 address %s", moved)
	}
}

// TestNoResources_CoordinatorCommitsOnce: a cluster without resources (as
// here) gets one empty placement, not one per apply: the coordinator used to
// compare its empty plan with the committed one after JSON (nil lists) and
// commit it again forever — about 650 commits a second.
func TestNoResources_CoordinatorCommitsOnce(t *testing.T) {
	c := harness.New(t, harness.Spec{Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}, {Name: "c"}}})
	c.StartAll()
	waitAll(c, 3)
	count := func() int {
		n := 0
		for _, name := range []string{"a", "b", "c"} {
			n += strings.Count(c.Node(name).Log(), "placement committed")
		}
		return n
	}
	deadline := time.Now().Add(converge)
	for count() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no placement committed in %v", converge)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// An absence: watch a fixed window (the bug committed hundreds a second).
	time.Sleep(3 * time.Second)
	if n := count(); n > 3 {
		t.Fatalf("%d placements committed by a cluster without resources in about 3 s; expected one (per coordinator)", n)
	}
}
