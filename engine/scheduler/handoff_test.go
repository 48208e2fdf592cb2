package scheduler

import (
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

func TestHandoff_MovesOffAResourceNodeToAnIdleVoterWitnessFirst(t *testing.T) {
	three := &model.Cluster{Nodes: []model.Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}}
	withWitness := &model.Cluster{Nodes: []model.Node{{Name: "n1"}, {Name: "n2"}, {Name: "w", Role: model.RoleWitness}}}
	// on lists NODE STATE pairs: one resource "rNODESTATE" per pair, observed
	// there (running, failed, or pending: starting or stopping).
	on := func(c *model.Cluster, pairs ...string) Input {
		cc := *c
		cc.Resources = nil
		in := Input{Cluster: &cc, Quorate: true, Leases: true, Nodes: map[string]NodeStatus{}}
		for _, n := range c.Nodes {
			in.Nodes[n.Name] = NodeStatus{Online: true, Lease: LeaseSnapshot{Answering: true}}
		}
		for i := 0; i < len(pairs); i += 2 {
			id := "r" + pairs[i] + pairs[i+1]
			cc.Resources = append(cc.Resources, model.Resource{ID: id, Type: "exec",
				Meta: model.Meta{Stickiness: ptr(model.Infinity)}})
			o := Observed{Resource: id, Node: pairs[i], State: StateRunning}
			switch pairs[i+1] {
			case "failed":
				o.State = StateFailed
			case "pending":
				o.Pending = true
			}
			in.Resources = append(in.Resources, o)
		}
		return in
	}
	silent := func(in Input, node string) Input {
		st := in.Nodes[node]
		st.Lease.Answering = false
		in.Nodes[node] = st
		return in
	}
	dead := func(in Input, node string) Input {
		in.Nodes[node] = NodeStatus{}
		return in
	}
	cases := []struct {
		name   string
		in     Input
		self   string
		voters []string
		want   string
	}{
		{"idle coordinator stays", on(three, "n2", "running"), "n1", []string{"n1", "n2", "n3"}, ""},
		{"busy coordinator moves to the first idle voter by name", on(three, "n1", "running"), "n1", []string{"n1", "n2", "n3"}, "n2"},
		{"a voter running something is no target", on(three, "n1", "running", "n2", "running"), "n1", []string{"n1", "n2", "n3"}, "n3"},
		{"a non-voter is no target", on(three, "n1", "running"), "n1", []string{"n1", "n3"}, "n3"},
		{"a dead voter is no target", dead(on(three, "n1", "running"), "n2"), "n1", []string{"n1", "n2", "n3"}, "n3"},
		{"a voter that does not answer renewals is no target", silent(on(three, "n1", "running"), "n2"), "n1", []string{"n1", "n2", "n3"}, "n3"},
		{"nothing settles while an operation is in flight", on(three, "n1", "running", "n2", "pending"), "n1", []string{"n1", "n2", "n3"}, ""},
		{"every voter busy: stay", on(three, "n1", "running", "n2", "running", "n3", "failed"), "n1", []string{"n1", "n2", "n3"}, ""},
		{"the witness is preferred", on(withWitness, "n1", "running"), "n1", []string{"n1", "n2", "w"}, "w"},
		{"not converged: the plan has actions", on(three, "n1", "failed"), "n1", []string{"n1", "n2", "n3"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in.Coordinator = &Coordinator{Self: c.self, Voters: c.voters}
			plan, _ := Compute(c.in, time.Time{})
			got, why := "", ""
			for _, a := range plan.Actions {
				if a.Action == model.ActionHandoff {
					if a.From != c.self {
						t.Fatalf("handoff from %q; want from the coordinator %q", a.From, c.self)
					}
					got, why = a.Node, a.Reason
				}
			}
			if got != c.want {
				t.Fatalf("handoff to %q (%s); want %q (actions %+v)", got, why, c.want, plan.Actions)
			}
			if got != "" && why == "" {
				t.Fatal("a handoff without a reason")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
