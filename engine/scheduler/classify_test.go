package scheduler

import (
	"math/rand"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

// withLeaseFacts adds random lease snapshots, fence history and stonith to
// a random input: the facts the coordinator gives the classify stage.
func withLeaseFacts(r *rand.Rand, in Input, now time.Time) Input {
	in.Leases, in.Stonith = true, r.Intn(2) == 0
	for _, n := range in.Cluster.Nodes {
		name, st := n.Name, in.Nodes[n.Name]
		switch r.Intn(4) {
		case 0:
			st.Lease.RecoverAt = now.Add(-time.Duration(r.Intn(1000)) * time.Millisecond)
		case 1:
			st.Lease.RecoverAt = now.Add(time.Duration(1+r.Intn(1000)) * time.Millisecond)
		case 2:
			st.Lease.Fenced = r.Intn(4) == 0
		}
		if r.Intn(5) == 0 {
			st.Lease.LapseAt = now.Add(time.Duration(r.Intn(200)-100) * time.Millisecond)
		}
		if r.Intn(6) == 0 {
			st.LastFence = &FenceAttempt{At: now.Add(-time.Second), OK: r.Intn(2) == 0, Error: "timeout"}
		}
		if r.Intn(8) == 0 {
			st.FenceRequested = "a monitor failed (on_fail fence)"
		}
		in.Nodes[name] = st
	}
	return in
}

// TestProperty_NothingStartsElsewhereWhileItsNodeMayRunIt is DESIGN.md §9's
// invariants 1 and 4 at the scheduler: an instance observed active on a
// node classified lost-unclean or unclean is never started (or moved) onto
// another node by the plan, and with stonith on a lost node's instances
// start elsewhere only once it is fenced.
func TestProperty_NothingStartsElsewhereWhileItsNodeMayRunIt(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 3000; i++ {
		in := withLeaseFacts(r, randomInput(r, 2+r.Intn(4), 6+r.Intn(6)), now)
		plan, _ := Compute(in, now)
		class := map[string]string{}
		for _, ns := range plan.Nodes {
			class[ns.Node] = ns.State
		}
		heldOn := map[string]string{} // instance -> node that may still run it
		for _, o := range in.Resources {
			if (o.State == StateRunning || o.State == StateFailed) &&
				(class[o.Node] == model.NodeLostUnclean || class[o.Node] == model.NodeUnclean) {
				heldOn[o.Resource] = o.Node
			}
			if in.Stonith && class[o.Node] == model.NodeLostLeaseLapsed {
				t.Fatalf("case %d: stonith on, yet %s is lost-lease-lapsed (recovered on the lease alone)", i, o.Node)
			}
		}
		for _, a := range plan.Actions {
			id := a.Resource
			if a.Instance != "" {
				id = a.Instance
			}
			from, held := heldOn[id]
			if !held || a.Node == from {
				continue
			}
			if a.Action == model.ActionStart || (a.Action == model.ActionMove && in.Stonith) {
				t.Fatalf("case %d: %s %s onto %s while %s may still run it (%s)\nplan %+v", i, a.Action, id, a.Node, from, class[from], plan.Actions)
			}
		}
		if in.Stonith {
			for n, c := range class {
				fenced := false
				for _, a := range plan.Actions {
					fenced = fenced || (a.Action == model.ActionFence && a.Node == n)
				}
				if (c == model.NodeLostUnclean && len(heldOnNode(heldOn, n)) > 0) != fenced && c != model.NodeUnclean {
					t.Fatalf("case %d: node %s is %s with %v held; fence action: %v", i, n, c, heldOnNode(heldOn, n), fenced)
				}
			}
		}
	}
}

func heldOnNode(held map[string]string, node string) []string {
	var out []string
	for id, n := range held {
		if n == node {
			out = append(out, id)
		}
	}
	return out
}

// TestClassify_WithoutFactsKeepsTheOldMeaning: an input without lease facts
// (a CIB, an offline what-if) classifies a node that is not online as
// offline, running nothing.
func TestClassify_WithoutFactsKeepsTheOldMeaning(t *testing.T) {
	c := &model.Cluster{Nodes: []model.Node{{Name: "a"}, {Name: "b"}}, Resources: []model.Resource{{ID: "r", Type: "exec"}}}
	in := Input{Cluster: c, Quorate: true, Nodes: map[string]NodeStatus{"b": {Online: true}},
		Resources: []Observed{{Resource: "r", Node: "a", State: StateRunning}}}
	plan, _ := Compute(in, time.Time{})
	if len(plan.Nodes) != 2 || plan.Nodes[0].State != model.NodeOffline || plan.Nodes[1].State != model.NodeOnline {
		t.Fatalf("nodes %+v; want a offline, b online", plan.Nodes)
	}
	if len(plan.Actions) != 1 || plan.Actions[0].Action != model.ActionStart || plan.Actions[0].Node != "b" {
		t.Fatalf("actions %+v; want start r on b", plan.Actions)
	}
}
