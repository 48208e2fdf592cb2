package coord

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

func TestHandoffTarget_MovesOffAResourceNodeToAnIdleVoterWitnessFirst(t *testing.T) {
	three := &model.Cluster{Nodes: []model.Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}}
	withWitness := testCluster() // n1, n2, witness w
	on := func(pairs ...string) state.Data {
		v := state.Data{Nodes: map[string]*state.NodeState{}}
		for i := 0; i < len(pairs); i += 2 {
			n := v.Nodes[pairs[i]]
			if n == nil {
				n = &state.NodeState{Resources: map[string]*state.Observed{}}
				v.Nodes[pairs[i]] = n
			}
			n.Resources["r"+pairs[i]+pairs[i+1]] = obs(pairs[i+1])
		}
		return v
	}
	all := func(string) bool { return true }
	placed := func(v state.Data, id, node string) state.Data {
		v.Placement.Assignments = append(v.Placement.Assignments, model.Assignment{Resource: id, Node: node})
		return v
	}
	cases := []struct {
		name   string
		c      *model.Cluster
		v      state.Data
		self   string
		voters []string
		alive  func(string) bool
		want   string
	}{
		{"idle coordinator stays", three, on("n2", state.Started), "n1", []string{"n1", "n2", "n3"}, all, ""},
		{"busy coordinator moves to the first idle voter by name", three, on("n1", state.Started), "n1", []string{"n1", "n2", "n3"}, all, "n2"},
		{"a voter running something is no target", three, on("n1", state.Started, "n2", state.Started), "n1", []string{"n1", "n2", "n3"}, all, "n3"},
		{"a non-voter is no target", three, on("n1", state.Started), "n1", []string{"n1", "n3"}, all, "n3"},
		{"a dead voter is no target", three, on("n1", state.Started), "n1", []string{"n1", "n2", "n3"}, func(n string) bool { return n != "n2" }, "n3"},
		{"nothing settles while starting", three, on("n1", state.Started, "n2", state.Starting), "n1", []string{"n1", "n2", "n3"}, all, ""},
		{"nothing settles while stopping", three, on("n1", state.Stopping), "n1", []string{"n1", "n2", "n3"}, all, ""},
		{"every voter busy: stay", three, on("n1", state.Started, "n2", state.Started, "n3", state.Failed), "n1", []string{"n1", "n2", "n3"}, all, ""},
		{"the witness is preferred", withWitness, on("n1", state.Started), "n1", []string{"n1", "n2", "w"}, all, "w"},
		{"not converged: a placed instance is not started yet", three, placed(on("n1", state.Started), "x", "n1"), "n1", []string{"n1", "n2", "n3"}, all, ""},
		{"converged: every placed instance started where placed", three, placed(on("n1", state.Started), "rn1started", "n1"), "n1", []string{"n1", "n2", "n3"}, all, "n2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why := HandoffTarget(c.v, c.c, c.self, c.voters, c.alive)
			if got != c.want {
				t.Fatalf("HandoffTarget = %q (%s); want %q", got, why, c.want)
			}
			if got != "" && why == "" {
				t.Fatal("a handoff without a reason")
			}
		})
	}
}

// An empty plan equals the committed empty placement it becomes after JSON
// (nil lists): otherwise a coordinator without resources commits forever.
func TestSamePlan_EmptyAndAbsentAreEqual(t *testing.T) {
	plan := model.Plan{Placement: map[string][]string{}, Assignments: []model.Assignment{}}
	if !samePlan(plan, state.Placement{}) {
		t.Error("an empty plan differs from an empty committed placement")
	}
	if !samePlan(model.Plan{Placement: map[string][]string{"a": {}}}, state.Placement{}) {
		t.Error("a stopped resource (empty node list) differs from an absent one")
	}
	one := []model.Assignment{{Resource: "a", Node: "n1"}}
	if samePlan(model.Plan{Assignments: one}, state.Placement{}) || samePlan(model.Plan{}, state.Placement{Assignments: one}) {
		t.Error("an assignment compares equal to none")
	}
	if !samePlan(model.Plan{Placement: map[string][]string{"a": {"n1"}}, Assignments: one},
		state.Placement{Placement: map[string][]string{"a": {"n1"}}, Assignments: one}) {
		t.Error("identical plans differ")
	}
}

type fakeHandoff struct {
	mu sync.Mutex
	to []string
}

func (f *fakeHandoff) Voters() []string { return []string{"n1", "n2", "n3"} }
func (f *fakeHandoff) TransferTo(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.to = append(f.to, name)
	return nil
}

// The coordinator hands its role only to a node that answers its lease
// renewals: gossip alone is not enough (a node whose lease wire is cut
// would renew no one as coordinator). n2 sorts first but has not acked
// for two rounds; n3 has.
func TestConsiderHandoff_OnlyToANodeThatAnswersRenewals(t *testing.T) {
	h := &fakeHandoff{}
	tab, err := lease.NewTable(lease.DefaultTableConfig(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	co := newTestCoordinator(t, &fakeLog{}, tab, func(cfg *Config) { cfg.Handoff = h })
	c := &model.Cluster{Nodes: []model.Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}},
		Resources: []model.Resource{{ID: "web", Type: "exec"}}}
	v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 5, Assignments: []model.Assignment{{Resource: "web", Node: "n1"}}},
		Nodes: map[string]*state.NodeState{"n1": {Resources: map[string]*state.Observed{"web": obs(state.Started)}}}}
	tab.BecameLeader(t0)
	now := t0.Add(5 * time.Second)
	tab.Acked("n2", now.Add(-300*time.Millisecond)) // more than lease/4 ago
	if at := co.considerHandoff(v, c, now); !at.IsZero() {
		t.Fatalf("recheck at %v with no node answering; want none", at)
	}
	tab.Acked("n3", now.Add(-100*time.Millisecond))
	co.considerHandoff(v, c, now)
	eventually(t, "transfer", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.to) == 1 })
	if h.to[0] != "n3" {
		t.Fatalf("handed over to %s; want n3 (n2 has not answered a renewal for two rounds)", h.to[0])
	}
}
