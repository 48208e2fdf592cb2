package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

var t0 = time.Date(2026, 3, 1, 17, 11, 22, 0, time.UTC)

func cmd(t testing.TB, typ string, at time.Time, body any) []byte {
	t.Helper()
	c, err := NewCommand(typ, at, "test", body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("Validate(%s): %v", typ, err)
	}
	return b
}

func TestSetConfig_StaleBaseRejected(t *testing.T) {
	s := New(Options{})
	r := s.Apply(1, cmd(t, CmdSetConfig, t0, SetConfig{Base: 0, YAML: []byte("a: 1\n")}))
	if r.Err() != nil || !strings.Contains(string(r.Value), `"version":1`) {
		t.Fatalf("first SetConfig = %+v", r)
	}
	before, _ := s.Snapshot()
	r = s.Apply(2, cmd(t, CmdSetConfig, t0, SetConfig{Base: 0, YAML: []byte("a: 2\n")}))
	if !errors.Is(r.Err(), ErrRejected) || !errors.Is(r.Err(), ErrStale) {
		t.Fatalf("stale SetConfig = %+v; want a stale rejection", r)
	}
	if !strings.Contains(r.Error, "committed version is 1") {
		t.Errorf("error %q should name the committed version", r.Error)
	}
	ver, yaml := s.ConfigVersion()
	if ver != 1 || string(yaml) != "a: 1\n" {
		t.Fatalf("config after stale apply = %d %q", ver, yaml)
	}
	after, _ := s.Snapshot()
	// Only the applied index moves.
	if bytes.Equal(before, after) || s.View().Config.Version != 1 || len(s.View().Events) != 1 {
		t.Fatalf("rejected command changed more than the index")
	}
	r = s.Apply(3, cmd(t, CmdSetConfig, t0, SetConfig{Base: 1, YAML: []byte("a: 3\n")}))
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	if v, _ := s.ConfigVersion(); v != 2 {
		t.Fatalf("version = %d; want 2", v)
	}
}

func TestPlacement_StalePlanRefused(t *testing.T) {
	s := New(Options{})
	s.Apply(1, cmd(t, CmdSetConfig, t0, SetConfig{YAML: []byte("x")}))
	s.Apply(2, cmd(t, CmdNodeStandby, t0, NodeFlag{Node: "cl1", On: true}))
	plan := SetPlacement{BasedOn: 1, Placement: map[string][]string{"ClusterIP": {"cl2"}}}
	if r := s.Apply(3, cmd(t, CmdSetPlacement, t0, plan)); !errors.Is(r.Err(), ErrStale) {
		t.Fatalf("plan based on 1 after an input change at 2: %+v; want stale", r)
	}
	plan.BasedOn = 3
	if r := s.Apply(4, cmd(t, CmdSetPlacement, t0, plan)); r.Err() != nil {
		t.Fatalf("fresh plan refused: %v", r.Err())
	}
	// An idempotent report does not make the plan stale.
	s.Apply(5, cmd(t, CmdNodeStandby, t0, NodeFlag{Node: "cl1", On: true}))
	if got := s.View().InputIndex; got != 2 {
		t.Fatalf("InputIndex = %d after a no-op; want 2", got)
	}
	if p := s.View().Placement; p.BasedOn != 3 || p.Index != 4 || p.Placement["ClusterIP"][0] != "cl2" {
		t.Fatalf("placement = %+v", p)
	}
}

func TestValidate_UnknownCommandRefused(t *testing.T) {
	for _, raw := range []string{
		`{"type":"resource.explode","v":1,"time":"2026-03-01T00:00:00Z","body":{}}`,
		`{"type":"node.standby","v":9,"time":"2026-03-01T00:00:00Z","body":{"node":"a","on":true}}`,
		`{"type":"node.standby","v":1,"time":"2026-03-01T00:00:00Z","body":{"node":"a","on":true,"extra":1}}`,
		`{"type":"node.standby","v":1,"body":{"node":"a"}}`,
		`not json`,
	} {
		if err := Validate([]byte(raw)); err == nil {
			t.Errorf("Validate(%s) = nil; want a refusal", raw)
		}
	}
}

func TestApply_UnknownCommandPanics(t *testing.T) {
	s := New(Options{})
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "resource.explode") {
			t.Fatalf("recover() = %v; want a panic naming the command", r)
		}
	}()
	s.Apply(1, []byte(`{"type":"resource.explode","v":1,"time":"2026-03-01T00:00:00Z","body":{}}`))
}

func TestRestore_UnknownFormat(t *testing.T) {
	s := New(Options{})
	s.Apply(1, cmd(t, CmdNodeStandby, t0, NodeFlag{Node: "a", On: true}))
	err := s.Restore([]byte(`{"format":99,"data":{}}`))
	if err == nil || !strings.Contains(err.Error(), "format 99") {
		t.Fatalf("Restore = %v; want a format error", err)
	}
	if !s.View().Nodes["a"].Standby {
		t.Fatal("failed Restore changed the state")
	}
}

func TestReport_FailuresCountOnce(t *testing.T) {
	s := New(Options{})
	f := Report{Node: "cl1", Resource: "web", State: Failed, Failure: &Failure{ID: "cl1-1", Op: "monitor", Reason: "rc=7"}}
	s.Apply(1, cmd(t, CmdReport, t0, f))
	s.Apply(2, cmd(t, CmdReport, t0.Add(time.Second), f)) // the same failure again
	o := s.View().Nodes["cl1"].Resources["web"]
	if o.FailCount != 1 || !o.LastFailure.Equal(t0) {
		t.Fatalf("observed = %+v; want fail count 1 at t0", o)
	}
	f.Failure = &Failure{ID: "cl1-2", Op: "start", Fatal: true}
	s.Apply(3, cmd(t, CmdReport, t0.Add(2*time.Second), f))
	if o := s.View().Nodes["cl1"].Resources["web"]; o.FailCount != InfiniteFailCount {
		t.Fatalf("fatal failure: fail count %d", o.FailCount)
	}
	s.Apply(4, cmd(t, CmdCleanup, t0, Cleanup{Resource: "web"}))
	if o := s.View().Nodes["cl1"].Resources["web"]; o.FailCount != 0 || o.State != Stopped {
		t.Fatalf("after cleanup: %+v", o)
	}
	s.Apply(5, cmd(t, CmdReport, t0, Report{Node: "cl1", Resource: "web", State: Started}))
	s.Apply(6, cmd(t, CmdFence, t0, Fence{Node: "cl1", Action: "off", OK: true}))
	if o := s.View().Nodes["cl1"].Resources["web"]; o.State != Stopped || o.Reason != "node fenced" {
		t.Fatalf("after fence: %+v", o)
	}
}

func TestPreferences_MoveReplacesAndExpires(t *testing.T) {
	s := New(Options{})
	s.Apply(1, cmd(t, CmdMove, t0, Prefer{Resource: "ip", Node: "cl1", Lifetime: model.Duration(time.Minute)}))
	s.Apply(2, cmd(t, CmdMove, t0, Prefer{Resource: "ip", Node: "cl2"}))
	s.Apply(3, cmd(t, CmdBan, t0, Prefer{Resource: "ip", Node: "sv1", Lifetime: model.Duration(time.Minute)}))
	p := s.View().Resources["ip"].Preferences
	if len(p) != 2 || p[0].Kind != PrefMove || p[0].Node != "cl2" || p[1].Kind != PrefBan {
		t.Fatalf("preferences = %+v", p)
	}
	if !p[1].ActiveAt(t0.Add(59*time.Second)) || p[1].ActiveAt(t0.Add(time.Minute)) {
		t.Fatal("ban expiry wrong")
	}
	// A later command prunes the expired ban.
	s.Apply(4, cmd(t, CmdBan, t0.Add(2*time.Minute), Prefer{Resource: "ip", Node: "sv2"}))
	p = s.View().Resources["ip"].Preferences
	if len(p) != 2 || p[1].Node != "sv2" {
		t.Fatalf("after expiry: %+v", p)
	}
	s.Apply(5, cmd(t, CmdClear, t0, Clear{Resource: "ip", Node: "cl2"}))
	if p := s.View().Resources["ip"].Preferences; len(p) != 1 || p[0].Node != "sv2" {
		t.Fatalf("after clear cl2: %+v", p)
	}
}

// randomLog builds a log of commands of every type from a seed.
func randomLog(t testing.TB, seed int64, n int) [][]byte {
	rng := rand.New(rand.NewSource(seed))
	nodes := []string{"sv1", "sv2", "cl1", "cl2"}
	res := []string{"ip", "web", "fs"}
	states := []string{Started, Stopped, Failed}
	var out [][]byte
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		node, r := nodes[rng.Intn(4)], res[rng.Intn(3)]
		var b []byte
		switch rng.Intn(10) {
		case 0:
			b = cmd(t, CmdSetConfig, at, SetConfig{Base: uint64(rng.Intn(3)), YAML: []byte(fmt.Sprintf("v: %d\n", i))})
		case 1:
			b = cmd(t, CmdNodeStandby, at, NodeFlag{Node: node, On: rng.Intn(2) == 0})
		case 2:
			b = cmd(t, CmdNodeAttrs, at, NodeAttrs{Node: node, Set: map[string]string{"pingd": fmt.Sprint(rng.Intn(3)), "z": "1", "a": "2"}, Delete: []string{"gone"}})
		case 3:
			b = cmd(t, CmdMove, at, Prefer{Resource: r, Node: node, Lifetime: model.Duration(time.Duration(rng.Intn(5)) * time.Second)})
		case 4:
			b = cmd(t, CmdBan, at, Prefer{Resource: r, Node: node})
		case 5:
			b = cmd(t, CmdSetPlacement, at, SetPlacement{BasedOn: uint64(i + 1 - rng.Intn(2)), Placement: map[string][]string{r: {node}}})
		case 6:
			var f *Failure
			if rng.Intn(2) == 0 {
				f = &Failure{ID: fmt.Sprint(rng.Intn(4)), Op: "monitor"}
			}
			b = cmd(t, CmdReport, at, Report{Node: node, Resource: r, State: states[rng.Intn(3)], Failure: f})
		case 7:
			b = cmd(t, CmdFence, at, Fence{Node: node, Action: "off", OK: rng.Intn(2) == 0})
		case 8:
			b = cmd(t, CmdCleanup, at, Cleanup{Resource: r})
		case 9:
			if rng.Intn(3) == 0 {
				b = cmd(t, CmdForget, at, Forget{Resource: r, Node: []string{"", node}[rng.Intn(2)]})
				break
			}
			fallthrough
		default:
			b = cmd(t, CmdTargetRole, at, TargetRole{Resource: r, Role: []string{"", "Started", "Stopped"}[rng.Intn(3)]})
		}
		out = append(out, b)
	}
	return out
}

func TestApply_Deterministic(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		log := randomLog(t, seed, 400)
		a, b := New(Options{}), New(Options{})
		for i, e := range log {
			ra, rb := a.Apply(uint64(i+1), e), b.Apply(uint64(i+1), e)
			if ra.Error != rb.Error || string(ra.Value) != string(rb.Value) {
				t.Fatalf("seed %d entry %d: results differ: %+v vs %+v", seed, i+1, ra, rb)
			}
			if i == 200 {
				// b goes through a snapshot/restore round trip halfway.
				snap, err := b.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				b = New(Options{})
				if err := b.Restore(snap); err != nil {
					t.Fatal(err)
				}
			}
		}
		sa, _ := a.Snapshot()
		sb, _ := b.Snapshot()
		if !bytes.Equal(sa, sb) {
			t.Fatalf("seed %d: snapshots differ", seed)
		}
		if len(a.View().Events) > MaxEvents {
			t.Fatalf("event log unbounded: %d", len(a.View().Events))
		}
	}
}

func TestWatch_FiresOnApply(t *testing.T) {
	s := New(Options{})
	idx, ch := s.Watch()
	if idx != 0 {
		t.Fatal(idx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.WaitIndex(ctx, 2) }()
	s.Apply(1, cmd(t, CmdNodeStandby, t0, NodeFlag{Node: "a", On: true}))
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("watch channel not closed after Apply")
	}
	s.Apply(2, cmd(t, CmdNodeStandby, t0, NodeFlag{Node: "a", On: false}))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestView_IsACopy(t *testing.T) {
	s := New(Options{})
	s.Apply(1, cmd(t, CmdNodeAttrs, t0, NodeAttrs{Node: "a", Set: map[string]string{"pingd": "1"}}))
	v := s.View()
	v.Nodes["a"].Attributes["pingd"] = "0"
	if s.View().Nodes["a"].Attributes["pingd"] != "1" {
		t.Fatal("View shares memory with the state")
	}
}

func TestCluster_ParsedOnDemandAndCached(t *testing.T) {
	calls := 0
	s := New(Options{Parse: func(b []byte) (*model.Cluster, error) {
		calls++
		return &model.Cluster{Cluster: model.Settings{Name: string(b)}}, nil
	}})
	if _, _, err := s.Cluster(); err == nil {
		t.Fatal("want an error before any config")
	}
	s.Apply(1, cmd(t, CmdSetConfig, t0, SetConfig{YAML: []byte("c1")}))
	for i := 0; i < 3; i++ {
		c, ver, err := s.Cluster()
		if err != nil || ver != 1 || c.Cluster.Name != "c1" {
			t.Fatal(c, ver, err)
		}
	}
	if calls != 1 {
		t.Fatalf("parsed %d times; want 1", calls)
	}
}

func TestForget_DropsResourceAndNode(t *testing.T) {
	s := New(Options{})
	s.Apply(1, cmd(t, CmdReport, t0, Report{Node: "a", Resource: "web", State: Started}))
	s.Apply(2, cmd(t, CmdReport, t0, Report{Node: "b", Resource: "web", State: Stopped}))
	s.Apply(3, cmd(t, CmdBan, t0, Prefer{Resource: "web", Node: "a"}))
	s.Apply(4, cmd(t, CmdForget, t0, Forget{Resource: "web", Node: "b"}))
	v := s.View()
	if _, ok := v.Nodes["b"].Resources["web"]; ok || v.Nodes["a"].Resources["web"] == nil || v.Resources["web"] == nil {
		t.Fatalf("forget on one node: %+v %+v", v.Nodes, v.Resources)
	}
	s.Apply(5, cmd(t, CmdForget, t0, Forget{Resource: "web"}))
	v = s.View()
	if v.Nodes["a"].Resources["web"] != nil || v.Resources["web"] != nil {
		t.Fatal("resource not forgotten")
	}
	s.Apply(6, cmd(t, CmdForget, t0, Forget{Node: "b"}))
	if _, ok := s.View().Nodes["b"]; ok {
		t.Fatal("node not forgotten")
	}
	if err := Validate(cmd(t, CmdEvent, t0, Note{Type: "x"})); err != nil {
		t.Fatal(err)
	}
	bad, _ := NewCommand(CmdForget, t0, "", Forget{})
	raw, _ := bad.Encode()
	if Validate(raw) == nil {
		t.Fatal("empty forget accepted")
	}
}

func TestReport_OnFailRulesOutliveTheReporter(t *testing.T) {
	s := New(Options{})
	stop := Report{Node: "n1", Resource: "web", State: Failed, Failure: &Failure{ID: "n1-1", Op: "monitor", OnFail: "stop"}}
	s.Apply(1, cmd(t, CmdReport, t0, stop))
	o := s.View().Nodes["n1"].Resources["web"]
	if !o.Held || o.FailCount != 1 || o.LastFailureIndex != 1 {
		t.Fatalf("on_fail stop: %+v; want held, fail count 1 at index 1", o)
	}
	sb := Report{Node: "n2", Resource: "db:1", State: Failed, Failure: &Failure{ID: "n2-1", Op: "monitor", OnFail: "standby"}}
	s.Apply(2, cmd(t, CmdReport, t0, sb))
	if v := s.View(); !v.Nodes["n2"].Standby || v.Nodes["n2"].Resources["db:1"].Held {
		t.Fatalf("on_fail standby: node %+v; want standby, instance not held", v.Nodes["n2"])
	}
	fe := Report{Node: "n3", Resource: "fs", State: Failed, Failure: &Failure{ID: "n3-1", Op: "monitor", OnFail: "fence"}}
	s.Apply(20, cmd(t, CmdReport, t0, fe))
	if ns := s.View().Nodes["n3"]; ns.FenceRequested == "" || ns.Standby {
		t.Fatalf("on_fail fence: %+v; want a fence request, not standby", ns)
	}
	s.Apply(21, cmd(t, CmdFence, t0, Fence{Node: "n3", Action: "off", OK: true}))
	if ns := s.View().Nodes["n3"]; ns.FenceRequested != "" {
		t.Fatalf("after a confirmed fence: %+v; want the request cleared", ns)
	}
	// Cleanup of the primitive covers its clone instances and the hold, and
	// is recorded as a cleanup event even when a node had nothing to clear.
	s.Apply(23, cmd(t, CmdCleanup, t0, Cleanup{Resource: "web"}))
	s.Apply(24, cmd(t, CmdCleanup, t0, Cleanup{Resource: "db"}))
	s.Apply(25, cmd(t, CmdCleanup, t0, Cleanup{Resource: "db"}))
	v := s.View()
	if o := v.Nodes["n1"].Resources["web"]; o.Held || o.FailCount != 0 || o.State != Stopped {
		t.Errorf("web after cleanup: %+v", o)
	}
	if o := v.Nodes["n2"].Resources["db:1"]; o.FailCount != 0 || o.State != Stopped {
		t.Errorf("db:1 after cleanup of db: %+v", o)
	}
	n := 0
	for _, e := range v.Events {
		if e.Type == EventCleanup {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d cleanup events; want 3 (one per applied cleanup)", n)
	}
	// A blocked instance is cleaned up to "stopping": possibly active until probed.
	s.Apply(26, cmd(t, CmdReport, t0, Report{Node: "n1", Resource: "fs", State: Blocked, Reason: "stop failed"}))
	s.Apply(27, cmd(t, CmdCleanup, t0, Cleanup{Resource: "fs", Node: "n1"}))
	if o := s.View().Nodes["n1"].Resources["fs"]; o.State != Stopping {
		t.Errorf("blocked fs after cleanup: %+v; want stopping until the node probes it", o)
	}
}

func TestActive_EveryStateThatMayStillRun(t *testing.T) {
	for s, want := range map[string]bool{Started: true, Starting: true, Stopping: true, Failed: true, Blocked: true, Stopped: false, "": false} {
		if got := Active(s); got != want {
			t.Errorf("Active(%q) = %v; want %v", s, got, want)
		}
	}
}
