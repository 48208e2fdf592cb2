package membership

import (
	"slices"
	"testing"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/test/harness"
)

// TestTwoNode_WaitForAllThenQuorumOne: two_node implies wait_for_all: a
// node started alone is not quorate; once both were seen, the survivor of a
// death keeps quorum 1; a survivor restarted alone waits again.
func TestTwoNode_WaitForAllThenQuorumOne(t *testing.T) {
	c := harness.New(t, harness.Spec{TwoNode: true, ClusterExtra: "  no_quorum_policy: ignore", Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}}})
	a, b := c.Node("a"), c.Node("b")
	a.Start()
	q := a.WaitQuorum("a alone, waiting for all", converge, func(q api.QuorumView) bool { return q.TotalVotes == 1 })
	if q.Quorate || q.Quorum != 1 || !slices.Equal(q.Flags, []string{"WaitForAll", "TwoNode"}) {
		t.Fatalf("cold start alone: %s; want not quorate, quorum 1, flags WaitForAll TwoNode", harness.Describe(q))
	}
	b.Start()
	for _, n := range []*harness.Node{a, b} {
		n.WaitQuorum("both seen: quorate", converge, func(q api.QuorumView) bool { return q.Quorate && q.TotalVotes == 2 })
	}
	b.Kill()
	a.WaitQuorum("b dead, a keeps quorum 1", converge, func(q api.QuorumView) bool {
		return q.Quorate && q.TotalVotes == 1 && q.Quorum == 1 && state(q, "b") == "dead"
	})
	a.Restart()
	q = a.WaitQuorum("a restarted alone answers", converge, func(q api.QuorumView) bool { return q.TotalVotes == 1 })
	if q.Quorate {
		t.Fatalf("a restarted alone is quorate: %s; want waiting for all", harness.Describe(q))
	}
	b.Start()
	a.WaitQuorum("b back: quorate", converge, func(q api.QuorumView) bool { return q.Quorate && q.TotalVotes == 2 })
}

// TestWaitForAll_RestartIntoRunningCluster: with wait_for_all, a node
// restarted while the others run is quorate as soon as it meets them (their
// metadata says they finished waiting), even with one node still down.
func TestWaitForAll_RestartIntoRunningCluster(t *testing.T) {
	yes := true
	c := harness.New(t, harness.Spec{WaitForAll: &yes, Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}, {Name: "c"}}})
	c.StartAll()
	for _, n := range c.Nodes {
		n.WaitQuorum("all three", converge, func(q api.QuorumView) bool { return q.Quorate && q.TotalVotes == 3 })
	}
	c.Node("c").Kill()
	c.Node("a").WaitQuorum("c dead, still quorate", converge, func(q api.QuorumView) bool { return q.Quorate && q.TotalVotes == 2 })
	c.Node("b").Restart()
	c.Node("b").WaitQuorum("b restarted into a+b: quorate without c", converge, func(q api.QuorumView) bool {
		return q.Quorate && q.TotalVotes == 2
	})
}
