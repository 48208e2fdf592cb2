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
	decide := func() Decision {
		return Decide(Input{View: v, Cluster: c, Self: "n1", Alive: func(string) bool { return true }, Quorate: true,
			Leases: tab, Voters: h.Voters()}, now)
	}
	tab.Acked("n2", now.Add(-300*time.Millisecond)) // more than lease/4 ago
	if d := decide(); d.Handoff != "" {
		t.Fatalf("handoff to %s with no node answering; want none", d.Handoff)
	}
	tab.Acked("n3", now.Add(-100*time.Millisecond))
	d := decide()
	if d.Handoff != "n3" {
		t.Fatalf("handoff to %q; want n3 (n2 has not answered a renewal for two rounds)", d.Handoff)
	}
	co.considerHandoff(d.Handoff, d.HandoffWhy, now)
	eventually(t, "transfer", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.to) == 1 })
	if h.to[0] != "n3" {
		t.Fatalf("handed over to %s; want n3", h.to[0])
	}
}
