package controller

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

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

func TestBuildInput_LostNodeUncleanUntilLeaseLapsesThenRecorded(t *testing.T) {
	c := testCluster()
	tab, _ := NewLeaseTable(DefaultLeaseTableConfig(time.Second))
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
	in := CoordInput{View: v, Cluster: c, Self: "n1", Alive: alive, Quorate: true, Leases: tab}
	dec := BuildInput(in, t0.Add(500*time.Millisecond))
	if !dec.Input.Nodes["n2"].Unclean || dec.Input.Nodes["n2"].Online || len(dec.Lapsed) != 0 {
		t.Fatalf("n2 lost with db started, lease may hold: %+v lapsed %v; want unclean", dec.Input.Nodes["n2"], dec.Lapsed)
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
	later := BuildInput(in, t0.Add(2*time.Second))
	if later.Input.Nodes["n2"].Unclean || !reflect.DeepEqual(later.Lapsed["n2"], []string{"db"}) {
		t.Errorf("after the bound: n2 %+v lapsed %v; want offline clean with db to record stopped", later.Input.Nodes["n2"], later.Lapsed)
	}
}

func TestBuildInput_HoldEndsWithFailureTimeout(t *testing.T) {
	c := testCluster()
	v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 9}, Nodes: map[string]*state.NodeState{
		"n1": {Resources: map[string]*state.Observed{"slow": {State: state.Stopped, FailCount: 1, LastFailure: t0, LastFailureIndex: 4, Held: true}}}}}
	in := CoordInput{View: v, Cluster: c, Self: "n1", Quorate: true}
	if d := BuildInput(in, t0.Add(30*time.Second)); d.Input.Admin.TargetRole["slow"] != "Stopped" || !d.RecheckAt.Equal(t0.Add(time.Minute+time.Millisecond)) {
		t.Errorf("within failure_timeout: role %q recheck %v", d.Input.Admin.TargetRole["slow"], d.RecheckAt)
	}
	if d := BuildInput(in, t0.Add(2*time.Minute)); d.Input.Admin.TargetRole["slow"] != "" {
		t.Errorf("after failure_timeout the hold ends; role %q", d.Input.Admin.TargetRole["slow"])
	}
}

// fakeLog records commands and answers with increasing indexes.
type fakeLog struct {
	cmds  []state.Command
	err   error
	value json.RawMessage // the result's Value
}

func (f *fakeLog) Apply(_ context.Context, c state.Command) (state.Result, error) {
	f.cmds = append(f.cmds, c)
	return state.Result{Index: uint64(len(f.cmds)), Value: f.value}, f.err
}
func (f *fakeLog) Barrier(context.Context) error { return nil }

type fakeMembers struct{}

func (fakeMembers) Alive(string) bool { return true }
func (fakeMembers) Quorate() bool     { return true }

func newTestNode(t *testing.T, log Log) *Node {
	t.Helper()
	n, err := NewNode(NodeConfig{Name: "n1", State: state.New(state.Options{}), Log: log, Members: fakeMembers{},
		Term: func() uint64 { return 1 }, Renewer: &fakeRenewer{}, Types: func(string) (model.AgentType, bool) { return nil, false },
		DataDir: t.TempDir(), Lease: time.Second, Clock: NewFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNode_ReportMapsFailures(t *testing.T) {
	fl := &fakeLog{}
	n := newTestNode(t, fl)
	cases := []struct {
		o     Observation
		state string
		fail  *state.Failure
	}{
		{Observation{ID: "n1@1-1", Node: "n1", Instance: "hb:0", State: StateStarted, Op: OpStart}, state.Started, nil},
		{Observation{ID: "n1@1-2", Node: "n1", Instance: "web", State: StateFailed, Op: OpStart, OnFail: OnFailRestart, Reason: "exit 1"}, state.Failed,
			&state.Failure{ID: "n1@1-2", Op: OpStart, Reason: "exit 1", Fatal: true, OnFail: OnFailRestart}},
		{Observation{ID: "n1@1-3", Node: "n1", Instance: "web", State: StateFailed, Op: OpMonitor, OnFail: OnFailStop, Reason: "gone"}, state.Failed,
			&state.Failure{ID: "n1@1-3", Op: OpMonitor, Reason: "gone", OnFail: OnFailStop}},
		{Observation{ID: "n1@1-4", Node: "n1", Instance: "web", State: StateFailed, Op: OpMonitor, OnFail: OnFailIgnore}, state.Started, nil},
	}
	for i, tc := range cases {
		idx, err := n.report(context.Background(), tc.o)
		if err != nil || idx != uint64(i+1) {
			t.Fatalf("report %d: index %d err %v", i, idx, err)
		}
		c := fl.cmds[i]
		var r state.Report
		if err := jsonUnmarshal(c.Body, &r); err != nil {
			t.Fatal(err)
		}
		if c.Type != state.CmdReport || r.Resource != tc.o.Instance || r.State != tc.state || !reflect.DeepEqual(r.Failure, tc.fail) {
			t.Errorf("report %d: %s %+v failure %+v; want %s %+v", i, c.Type, r, r.Failure, tc.state, tc.fail)
		}
	}
	// A failure the state did not count (stale): index 0, wait for nothing.
	fl.value = json.RawMessage(`{"failure_ignored":true}`)
	if idx, err := n.report(context.Background(), cases[2].o); err != nil || idx != 0 {
		t.Errorf("uncounted failure: index %d err %v; want 0 (no placement will be computed from it)", idx, err)
	}
	fl.value = nil
	fl.err = errors.New("no leader")
	if _, err := n.report(context.Background(), cases[0].o); err == nil {
		t.Error("a failed apply must be an error (the reconciler retries)")
	}
}

// The node answers renewals over the lease wire with its holder.
func TestNode_GrantsLeaseOverTheWire(t *testing.T) {
	n := newTestNode(t, &fakeLog{})
	var p wirePair
	p.start(t, "n1", testLeaseKey, nil).SetGrant(n.GrantLease)
	r := p.start(t, "n2", testLeaseKey, nil)
	ctx := renewCtx(t, 10*time.Second)
	tok, err := r.Renew(ctx, "n1", Renewal{Term: 5, Leader: "n2", Index: 7})
	if err != nil || tok == 0 {
		t.Fatalf("first renewal: token %d err %v", tok, err)
	}
	if _, err := r.Renew(ctx, "n1", Renewal{Term: 5, Leader: "n2", Echo: tok, Index: 9}); err != nil {
		t.Fatal(err)
	}
	if !n.LeaseHolder().Valid(t0) {
		t.Error("lease not valid after an echoed renewal")
	}
	if got := n.LeaseHolder().CatchUp(); got != 9 {
		t.Errorf("catch-up index %d; want 9 (renewals received while the lease was not valid)", got)
	}
	if st := n.Status(); !st.LeaseValid || st.Leading || st.Node != "n1" {
		t.Errorf("status %+v; want a valid lease, not leading", st)
	}
	if _, err := r.Renew(ctx, "n1", Renewal{Term: 4, Leader: "n3"}); !errors.Is(err, ErrStaleLease) {
		t.Errorf("older term: err %v; want ErrStaleLease", err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// A node that regains its lease (cut off, then reconnected) starts nothing
// from its stale desired state until it applied the index the coordinator
// stamped on the renewal.
func TestReconciler_RegainedLeaseFreezesUntilCaughtUp(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	tok, err := l.Grant(Renewal{Term: 2, Leader: "n9", Index: 50})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(Renewal{Term: 2, Leader: "n9", Echo: tok, Index: 51}); err != nil {
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

func TestNode_CleanupEventsReachTheReconcilerForGroupsAndClones(t *testing.T) {
	n := newTestNode(t, &fakeLog{})
	c := testCluster()
	d := BuildDesired(DesiredInput{Node: "n1", Cluster: c, Quorate: true, View: state.Data{Placement: state.Placement{
		Assignments: []model.Assignment{{Resource: "hb", Instance: "hb:0", Node: "n1"}}}}})
	v := state.Data{Events: []state.Event{
		{Seq: 1, Type: state.EventCleanup, Resource: "db"}, // before this run: ignored
		{Seq: 2, Type: state.EventCleanup, Resource: "g"},
		{Seq: 3, Type: state.EventCleanup, Resource: "hb-clone"},
		{Seq: 4, Type: state.EventCleanup, Resource: "db", Node: "n2"}, // another node's
		{Seq: 5, Type: "resource", Resource: "slow"},
	}}
	if seq := n.cleanups(v, c, d, 1); seq != 5 {
		t.Errorf("seen up to %d; want 5", seq)
	}
	n.rec.setMu.Lock()
	got := sortedKeys(n.rec.cleanups)
	n.rec.setMu.Unlock()
	if want := []string{"fs", "hb:0", "ip", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cleanups %v; want %v", got, want)
	}
}

func TestBuildInput_StonithWaitsForTheFenceNotTheLease(t *testing.T) {
	c := testCluster()
	tab, _ := NewLeaseTable(DefaultLeaseTableConfig(time.Second))
	tab.BecameLeader(t0)
	v := state.Data{Index: 9, Nodes: map[string]*state.NodeState{
		"n2": {Resources: map[string]*state.Observed{"db": obs(state.Started)}},
		"n1": {Resources: map[string]*state.Observed{"fs": obs(state.Blocked)}},
	}}
	in := CoordInput{View: v, Cluster: c, Self: "n1", Alive: func(n string) bool { return n != "n2" }, Quorate: true, Leases: tab, Stonith: true}
	dec := BuildInput(in, t0.Add(time.Hour)) // the lease lapsed long ago
	if !dec.Input.Nodes["n2"].Unclean || len(dec.Lapsed) != 0 {
		t.Errorf("stonith: n2 %+v lapsed %v; want unclean until fenced", dec.Input.Nodes["n2"], dec.Lapsed)
	}
	if dec.Fence["n2"] == "" || dec.Fence["n1"] == "" {
		t.Errorf("fence %v; want n2 (lost) and n1 (failed stop)", dec.Fence)
	}
	in.Stonith = false
	if dec := BuildInput(in, t0.Add(time.Hour)); len(dec.Fence) != 0 || len(dec.Lapsed["n2"]) != 1 {
		t.Errorf("without stonith: fence %v lapsed %v; want no fence, n2 recovered on the lease", dec.Fence, dec.Lapsed)
	}
}

// A node gossip still sees but whose lease certainly lapsed (no ack for a
// whole bound) counts as lost: its resources are recorded stopped and
// placed elsewhere. Acking again brings it back. Never self, never a
// witness (witnesses are not renewed).
func TestBuildInput_LiveNodeWithLapsedLeaseIsLost(t *testing.T) {
	c := testCluster()
	tab, _ := NewLeaseTable(DefaultLeaseTableConfig(time.Second)) // bound 1.15s
	tab.BecameLeader(t0)
	v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 5}, Nodes: map[string]*state.NodeState{
		"n2": {Resources: map[string]*state.Observed{"db": obs(state.Started)}},
	}}
	in := CoordInput{View: v, Cluster: c, Self: "n1", Alive: func(string) bool { return true }, Quorate: true, Leases: tab}
	tab.Acked("n2", t0.Add(100*time.Millisecond))
	if dec := BuildInput(in, t0.Add(time.Second)); !dec.Input.Nodes["n2"].Online || len(dec.LeaseLost) != 0 || len(dec.Lapsed) != 0 {
		t.Fatalf("n2 acked 0.9 s ago: %+v lease lost %v lapsed %v; want online", dec.Input.Nodes["n2"], dec.LeaseLost, dec.Lapsed)
	}
	at := t0.Add(100*time.Millisecond + tab.Config().Bound() + time.Millisecond)
	// Past the bound but no renewal tried since the ack (a coordinator that
	// was frozen itself, say): not lost. One just sent: not lost until it
	// has gone unanswered for a quarter lease.
	if dec := BuildInput(in, at); !dec.Input.Nodes["n2"].Online {
		t.Fatal("n2 lost on the lease with no renewal unanswered")
	}
	tab.Sent("n2", at.Add(-100*time.Millisecond))
	if dec := BuildInput(in, at); !dec.Input.Nodes["n2"].Online {
		t.Fatal("n2 lost on the lease with a renewal unanswered for 100 ms only")
	}
	tab.Sent("n2", at.Add(-50*time.Millisecond)) // a resend: the first unanswered one counts
	if lap, _ := tab.LapseAt("n2"); !lap.Equal(at.Add(150 * time.Millisecond)) {
		t.Fatalf("lapse at %v; want a quarter lease after the first unanswered renewal, %v", lap, at.Add(150*time.Millisecond))
	}
	at = at.Add(151 * time.Millisecond)
	dec := BuildInput(in, at)
	if dec.Input.Nodes["n2"].Online || dec.Input.Nodes["n2"].Unclean || !reflect.DeepEqual(dec.LeaseLost, []string{"n2"}) ||
		!reflect.DeepEqual(dec.Lapsed["n2"], []string{"db"}) {
		t.Fatalf("n2 silent for the bound: %+v lease lost %v lapsed %v; want offline, clean, db recorded stopped", dec.Input.Nodes["n2"], dec.LeaseLost, dec.Lapsed)
	}
	if !dec.Input.Nodes["n1"].Online || !dec.Input.Nodes["w"].Online {
		t.Errorf("self %+v witness %+v: never lost on the lease (neither is renewed)", dec.Input.Nodes["n1"], dec.Input.Nodes["w"])
	}
	tab.Acked("n2", at)
	if dec := BuildInput(in, at.Add(time.Millisecond)); !dec.Input.Nodes["n2"].Online || len(dec.LeaseLost) != 0 {
		t.Fatalf("n2 acked again: %+v lease lost %v; want online", dec.Input.Nodes["n2"], dec.LeaseLost)
	}
	tab.SteppedDown()
	if dec := BuildInput(in, at.Add(time.Hour)); !dec.Input.Nodes["n2"].Online {
		t.Fatal("a table that no longer leads decided a node lost")
	}
}
