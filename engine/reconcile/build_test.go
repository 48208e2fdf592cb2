package reconcile

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
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

func ids(in []Instance) []string {
	var out []string
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}

func TestBuildDesired_StartOrderAfterAndWaitForTheOtherNodesStop(t *testing.T) {
	c := testCluster()
	v := state.Data{Index: 40, Placement: state.Placement{BasedOn: 38, Assignments: []model.Assignment{
		{Resource: "web", Node: "n1"}, {Resource: "fs", Node: "n1"}, {Resource: "ip", Node: "n1"},
		{Resource: "db", Node: "n2"}, {Resource: "hb", Instance: "hb:0", Node: "n1"}, {Resource: "hb", Instance: "hb:1", Node: "n2"},
		{Resource: "slow", Node: "n1"},
	}}, Nodes: map[string]*state.NodeState{
		"n1": {Resources: map[string]*state.Observed{"ip": obs(state.Blocked)}},
		"n2": {Resources: map[string]*state.Observed{"db": obs(state.Started), "slow": obs(state.Stopping)}},
	}}
	d := BuildDesired(DesiredInput{Node: "n1", View: v, Cluster: c, Quorate: true})
	if d.Index != 40 || d.PlanIndex != 38 || d.Mode != ModeRun {
		t.Fatalf("index %d plan %d mode %v; want 40 38 run", d.Index, d.PlanIndex, d.Mode)
	}
	// slow is placed here but still stopping on n2: not started here yet.
	if got, want := ids(d.Instances), []string{"ip", "fs", "web", "hb:0"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("instances %v; want %v (group order, and slow waits for n2)", got, want)
	}
	after := map[string][]string{}
	for _, in := range d.Instances {
		after[in.ID] = in.After
	}
	if want := []string{"db"}; !reflect.DeepEqual(after["ip"], want) {
		t.Errorf("ip after %v; want %v (the group is `then` of db)", after["ip"], want)
	}
	if want := []string{"ip"}; !reflect.DeepEqual(after["fs"], want) {
		t.Errorf("fs after %v; want %v (group predecessor)", after["fs"], want)
	}
	if len(after["hb:0"]) != 0 {
		t.Errorf("hb:0 after %v; want nothing", after["hb:0"])
	}
	if !reflect.DeepEqual(d.Blocked, []string{"ip"}) {
		t.Errorf("blocked %v; want [ip]", d.Blocked)
	}
	if got := d.StartedOn("db"); !reflect.DeepEqual(got, []string{"n2"}) {
		t.Errorf("db started on %v; want [n2]", got)
	}
	others := ids(d.Others)
	if !reflect.DeepEqual(others, []string{"db", "slow"}) {
		t.Errorf("others %v; want [db slow]", others)
	}
	// n2: db waits for the clone instance on n2 (hb-clone is first of db).
	d2 := BuildDesired(DesiredInput{Node: "n2", View: v, Cluster: c, Quorate: true})
	for _, in := range d2.Instances {
		if in.ID == "db" && !reflect.DeepEqual(in.After, []string{"hb:1"}) {
			t.Errorf("db after %v; want the clone's instance on n2 [hb:1]", in.After)
		}
	}
	// A witness runs nothing.
	if dw := BuildDesired(DesiredInput{Node: "w", View: v, Cluster: c, Quorate: true}); len(dw.Instances)+len(dw.Others) != 0 {
		t.Errorf("witness desired %+v; want nothing", dw)
	}
}

func TestBuildDesired_Modes(t *testing.T) {
	c := testCluster()
	v := state.Data{Index: 3, Nodes: map[string]*state.NodeState{"n1": {Maintenance: true}}}
	if d := BuildDesired(DesiredInput{Node: "n1", View: v, Cluster: c, Quorate: true}); d.Mode != ModeMaintenance {
		t.Errorf("maintenance node mode %v", d.Mode)
	}
	v.Nodes = nil
	in := DesiredInput{Node: "n1", View: v, Cluster: c, Quorate: false, NoQuorumFor: time.Second, NoQuorumDelay: 2 * time.Second}
	if d := BuildDesired(in); d.Mode != ModeRun {
		t.Errorf("before no_quorum_delay: mode %v; want run", d.Mode)
	}
	in.NoQuorumFor = 2 * time.Second
	for pol, want := range map[string]Mode{"": ModeStopAll, model.NoQuorumStop: ModeStopAll, model.NoQuorumFreeze: ModeFreeze, model.NoQuorumIgnore: ModeRun} {
		c.Cluster.NoQuorumPolicy = pol
		in.Cluster = c
		if d := BuildDesired(in); d.Mode != want {
			t.Errorf("policy %q without quorum: mode %v; want %v", pol, d.Mode, want)
		}
	}
}

// A node that regains its lease (cut off, then reconnected) starts nothing
// from its stale desired state until it applied the index the coordinator
// stamped on the renewal.
func TestReconciler_RegainedLeaseFreezesUntilCaughtUp(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	tok, err := l.Grant(lease.Renewal{Term: 2, Leader: "n9", Index: 50})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(lease.Renewal{Term: 2, Leader: "n9", Echo: tok, Index: 51}); err != nil {
		t.Fatal(err)
	}
	r := h.run(nil)
	r.Set(Desired{Index: 40, Instances: insts("a")}) // stale: before index 51
	h.waitMode(ModeFreeze)
	if _, why := r.Mode(); !strings.Contains(why, "behind the coordinator's index 51") {
		t.Errorf("freeze reason %q; want it to name the catch-up index", why)
	}
	if n := len(h.sys.callsOf("a", "start")); n != 0 {
		t.Fatalf("a started %d times from a stale desired state", n)
	}
	r.Set(Desired{Index: 51, Instances: insts("a")})
	h.waitMode(ModeRun)
	h.waitReported("a", StateStarted, OpStart, 1)
}

// A cleanup of a group or a clone clears each member's instances here;
// events before seq and other nodes' cleanups are skipped, and an id that
// matches no instance is passed on as it is.
func TestCleanupsSince_ExpandsGroupsAndClones(t *testing.T) {
	c := testCluster()
	d := BuildDesired(DesiredInput{Node: "n1", Cluster: c, Quorate: true, View: state.Data{Placement: state.Placement{
		Assignments: []model.Assignment{{Resource: "hb", Instance: "hb:0", Node: "n1"}}}}})
	v := state.Data{Events: []state.Event{
		{Seq: 1, Type: state.EventCleanup, Resource: "db"}, // before this run: ignored
		{Seq: 2, Type: state.EventCleanup, Resource: "g"},
		{Seq: 3, Type: state.EventCleanup, Resource: "hb-clone"},
		{Seq: 4, Type: state.EventCleanup, Resource: "db", Node: "n2"}, // another node's
		{Seq: 5, Type: "resource", Resource: "slow"},
		{Seq: 6, Type: state.EventCleanup, Resource: "gone"}, // no such instance here
	}}
	got, seq := CleanupsSince(v, c, d, "n1", 1)
	if seq != 6 {
		t.Errorf("seen up to %d; want 6", seq)
	}
	set := map[string]bool{}
	for _, cl := range got {
		set[cl.Instance] = true
		if cl.Known == (cl.Instance == "gone") {
			t.Errorf("%+v: Known must say whether a Desired instance matched", cl)
		}
	}
	if want := []string{"fs", "gone", "hb:0", "ip", "web"}; !reflect.DeepEqual(sortedKeys(set), want) {
		t.Errorf("cleanups %v; want %v", sortedKeys(set), want)
	}
	if got, seq := CleanupsSince(v, c, d, "n1", 6); len(got) != 0 || seq != 6 {
		t.Errorf("nothing new after 6: %v up to %d", got, seq)
	}
}

// A `first` started on a node it is moving away from does not count as
// started: its `then` waits for it where the placement now puts it.
func TestBuildDesired_FirstCountsStartedOnlyWhereItIsPlaced(t *testing.T) {
	c := testCluster()
	v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 8, Assignments: []model.Assignment{
		{Resource: "db", Node: "n2"}, {Resource: "ip", Node: "n2"}}},
		Nodes: map[string]*state.NodeState{
			"n1": {Resources: map[string]*state.Observed{"db": obs(state.Started)}},
		}}
	d := BuildDesired(DesiredInput{Node: "n2", View: v, Cluster: c, Quorate: true})
	if got := d.StartedOn("db"); len(got) != 0 {
		t.Fatalf("StartedOn(db) = %v while db is placed on n2 and still started on n1; want none", got)
	}
	v.Nodes["n2"] = &state.NodeState{Resources: map[string]*state.Observed{"db": obs(state.Started)}}
	v.Nodes["n1"].Resources["db"] = obs(state.Stopped)
	d = BuildDesired(DesiredInput{Node: "n2", View: v, Cluster: c, Quorate: true})
	if got := d.StartedOn("db"); len(got) != 1 || got[0] != "n2" {
		t.Fatalf("StartedOn(db) = %v; want [n2]", got)
	}
}
