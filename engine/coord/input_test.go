package coord

import (
	"reflect"
	"testing"
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

func testCluster() *model.Cluster {
	exec := func(id string) model.Resource { return model.Resource{ID: id, Type: "exec"} }
	return &model.Cluster{
		Nodes:     []model.Node{{Name: "n1"}, {Name: "n2"}, {Name: "w", Role: model.RoleWitness}},
		Resources: []model.Resource{exec("ip"), exec("fs"), exec("web"), exec("db"), exec("hb"), {ID: "slow", Type: "exec", Meta: model.Meta{FailureTimeout: model.Duration(time.Minute)}}},
		Groups:    []model.Group{{ID: "g", Resources: []string{"ip", "fs", "web"}}},
		Clones:    []model.Clone{{ID: "hb-clone", Resource: "hb"}},
		Constraints: []model.Constraint{
			{Order: &model.Order{First: "db", Then: "g"}},
			{Order: &model.Order{First: "hb-clone", Then: "db"}},
			{Order: &model.Order{First: "db", Then: "slow", Kind: model.OrderOptional}},
		},
	}
}

func obs(s string) *state.Observed { return &state.Observed{State: s} }

func TestBuildInput_LostNodeUncleanUntilLeaseLapsesThenRecorded(t *testing.T) {
	c := testCluster()
	tab, _ := lease.NewTable(lease.DefaultTableConfig(time.Second))
	tab.BecameLeader(t0)
	v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 5}, Nodes: map[string]*state.NodeState{
		"n2": {Resources: map[string]*state.Observed{"db": obs(state.Started), "web": obs(state.Stopped)}},
		"n1": {Resources: map[string]*state.Observed{
			"ip":  obs(state.Blocked),
			"fs":  {State: state.Stopped, FailCount: 2, LastFailure: t0, LastFailureIndex: 8, Held: true},
			"web": {State: state.Failed, FailCount: 1, LastFailure: t0.Add(-time.Hour), LastFailureIndex: 3},
		}},
	}}
	alive := func(n string) bool { return n != "n2" }
	in := Input{View: v, Cluster: c, Self: "n1", Alive: alive, Quorate: true, Leases: tab}
	dec := Decide(in, t0.Add(500*time.Millisecond))
	if nodeClass(dec, "n2") != model.NodeLostUnclean || len(dec.Lapsed) != 0 || !reflect.DeepEqual(dec.Unclean, []string{"n2"}) {
		t.Fatalf("n2 lost with db started, lease may hold: %s lapsed %v; want lost-unclean", nodeClass(dec, "n2"), dec.Lapsed)
	}
	if at, _ := tab.RecoverAt("n2"); !dec.RecheckAt.Equal(at.Add(time.Millisecond)) {
		t.Errorf("recheck %v; want just after the lease bound %v", dec.RecheckAt, at)
	}
	if !dec.FailureAfterPlan {
		t.Error("fs failed at index 8 after the plan based on 5: a placement must be committed")
	}
	if dec.Input.Admin.TargetRole["fs"] != "Stopped" {
		t.Errorf("held fs target role %q; want Stopped", dec.Input.Admin.TargetRole["fs"])
	}
	if !reflect.DeepEqual(dec.Input.Admin.Unmanaged, []string{"ip"}) {
		t.Errorf("unmanaged %v; want the blocked ip", dec.Input.Admin.Unmanaged)
	}
	got := map[string]scheduler.Observed{}
	for _, o := range dec.Input.Resources {
		got[o.Node+"/"+o.Resource] = o
	}
	if got["n1/ip"].State != scheduler.StateRunning || got["n1/web"].State != scheduler.StateFailed || got["n2/db"].State != scheduler.StateRunning {
		t.Errorf("observed %+v", got)
	}
	if _, ok := got["n2/web"]; ok {
		t.Error("a stopped instance without failures is left out")
	}
	later := Decide(in, t0.Add(2*time.Second))
	if nodeClass(later, "n2") != model.NodeLostLeaseLapsed || !reflect.DeepEqual(later.Lapsed["n2"], []string{"db"}) {
		t.Errorf("after the bound: n2 %s lapsed %v; want lost-lease-lapsed with db to record stopped", nodeClass(later, "n2"), later.Lapsed)
	}
}

func TestBuildInput_HoldEndsWithFailureTimeout(t *testing.T) {
	c := testCluster()
	v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 9}, Nodes: map[string]*state.NodeState{
		"n1": {Resources: map[string]*state.Observed{"slow": {State: state.Stopped, FailCount: 1, LastFailure: t0, LastFailureIndex: 4, Held: true}}}}}
	in := Input{View: v, Cluster: c, Self: "n1", Quorate: true}
	if d := BuildInput(in, t0.Add(30*time.Second)); d.Input.Admin.TargetRole["slow"] != "Stopped" || !d.RecheckAt.Equal(t0.Add(time.Minute+time.Millisecond)) {
		t.Errorf("within failure_timeout: role %q recheck %v", d.Input.Admin.TargetRole["slow"], d.RecheckAt)
	}
	if d := BuildInput(in, t0.Add(2*time.Minute)); d.Input.Admin.TargetRole["slow"] != "" {
		t.Errorf("after failure_timeout the hold ends; role %q", d.Input.Admin.TargetRole["slow"])
	}
}

func TestBuildInput_StonithWaitsForTheFenceNotTheLease(t *testing.T) {
	c := testCluster()
	tab, _ := lease.NewTable(lease.DefaultTableConfig(time.Second))
	tab.BecameLeader(t0)
	v := state.Data{Index: 9, Nodes: map[string]*state.NodeState{
		"n2": {Resources: map[string]*state.Observed{"db": obs(state.Started)}},
		"n1": {Resources: map[string]*state.Observed{"fs": obs(state.Blocked)}},
	}}
	in := Input{View: v, Cluster: c, Self: "n1", Alive: func(n string) bool { return n != "n2" }, Quorate: true, Leases: tab, Stonith: true}
	dec := Decide(in, t0.Add(time.Hour)) // the lease lapsed long ago
	if nodeClass(dec, "n2") != model.NodeLostUnclean || len(dec.Lapsed) != 0 {
		t.Errorf("stonith: n2 %s lapsed %v; want lost-unclean until fenced", nodeClass(dec, "n2"), dec.Lapsed)
	}
	if dec.Fence["n2"] == "" || dec.Fence["n1"] == "" {
		t.Errorf("fence %v; want n2 (lost) and n1 (failed stop)", dec.Fence)
	}
	in.Stonith = false
	if dec := Decide(in, t0.Add(time.Hour)); len(dec.Fence) != 0 || len(dec.Lapsed["n2"]) != 1 {
		t.Errorf("without stonith: fence %v lapsed %v; want no fence, n2 recovered on the lease", dec.Fence, dec.Lapsed)
	}
}

// A node gossip still sees but whose lease certainly lapsed (no ack for a
// whole bound) counts as lost: its resources are recorded stopped and
// placed elsewhere. Acking again brings it back. Never self, never a
// witness (witnesses are not renewed).
func TestBuildInput_LiveNodeWithLapsedLeaseIsLost(t *testing.T) {
	c := testCluster()
	tab, _ := lease.NewTable(lease.DefaultTableConfig(time.Second)) // bound 1.15s
	tab.BecameLeader(t0)
	v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 5}, Nodes: map[string]*state.NodeState{
		"n2": {Resources: map[string]*state.Observed{"db": obs(state.Started)}},
	}}
	in := Input{View: v, Cluster: c, Self: "n1", Alive: func(string) bool { return true }, Quorate: true, Leases: tab}
	tab.Acked("n2", t0.Add(100*time.Millisecond))
	if dec := Decide(in, t0.Add(time.Second)); nodeClass(dec, "n2") != model.NodeOnline || len(dec.LeaseLost) != 0 || len(dec.Lapsed) != 0 {
		t.Fatalf("n2 acked 0.9 s ago: %s lease lost %v lapsed %v; want online", nodeClass(dec, "n2"), dec.LeaseLost, dec.Lapsed)
	}
	at := t0.Add(100*time.Millisecond + tab.Config().Bound() + time.Millisecond)
	// Past the bound but no renewal tried since the ack (a coordinator that
	// was frozen itself, say): not lost. One just sent: not lost until it
	// has gone unanswered for a quarter lease.
	if dec := Decide(in, at); nodeClass(dec, "n2") != model.NodeOnline {
		t.Fatal("n2 lost on the lease with no renewal unanswered")
	}
	tab.Sent("n2", at.Add(-100*time.Millisecond))
	if dec := Decide(in, at); nodeClass(dec, "n2") != model.NodeOnline {
		t.Fatal("n2 lost on the lease with a renewal unanswered for 100 ms only")
	}
	tab.Sent("n2", at.Add(-50*time.Millisecond)) // a resend: the first unanswered one counts
	if lap, _ := tab.LapseAt("n2"); !lap.Equal(at.Add(150 * time.Millisecond)) {
		t.Fatalf("lapse at %v; want a quarter lease after the first unanswered renewal, %v", lap, at.Add(150*time.Millisecond))
	}
	at = at.Add(151 * time.Millisecond)
	dec := Decide(in, at)
	if nodeClass(dec, "n2") != model.NodeLostLeaseLapsed || !reflect.DeepEqual(dec.LeaseLost, []string{"n2"}) ||
		!reflect.DeepEqual(dec.Lapsed["n2"], []string{"db"}) {
		t.Fatalf("n2 silent for the bound: %s lease lost %v lapsed %v; want lost-lease-lapsed, db recorded stopped", nodeClass(dec, "n2"), dec.LeaseLost, dec.Lapsed)
	}
	if nodeClass(dec, "n1") != model.NodeOnline || nodeClass(dec, "w") != model.NodeOnline {
		t.Errorf("self %s witness %s: never lost on the lease (neither is renewed)", nodeClass(dec, "n1"), nodeClass(dec, "w"))
	}
	tab.Acked("n2", at)
	if dec := Decide(in, at.Add(time.Millisecond)); nodeClass(dec, "n2") != model.NodeOnline || len(dec.LeaseLost) != 0 {
		t.Fatalf("n2 acked again: %s lease lost %v; want online", nodeClass(dec, "n2"), dec.LeaseLost)
	}
	tab.SteppedDown()
	if dec := Decide(in, at.Add(time.Hour)); nodeClass(dec, "n2") != model.NodeOnline {
		t.Fatal("a table that no longer leads decided a node lost")
	}
}

// nodeClass is the plan's class of node.
func nodeClass(d Decision, node string) string {
	for _, ns := range d.Plan.Nodes {
		if ns.Node == node {
			return ns.State
		}
	}
	return "(unclassified)"
}
