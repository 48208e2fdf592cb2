package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

func TestReconciler_InitialConvergenceProbesThenStartsInOrder(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a", "b", "c"), Others: insts("z")})
	for _, id := range []string{"a", "b", "c"} {
		h.waitReported(id, StateStarted, OpStart, 1)
	}
	h.waitReported("z", StateStopped, OpProbe, 1)
	if got, want := h.sys.seq(), "start a, start b, start c"; got != want {
		t.Fatalf("calls %q; want %q", got, want)
	}
	// Every instance was probed before the first start.
	first := h.sys.callsOf("a", "start")[0]
	for _, id := range []string{"a", "b", "c", "z"} {
		mons := h.sys.callsOf(id, "monitor")
		if len(mons) == 0 {
			t.Fatalf("%s was never probed", id)
		}
	}
	if n := len(h.sys.callsOf("", "monitor")); n != 4 {
		t.Fatalf("%d monitor calls before any interval elapsed; want 4 probes", n)
	}
	_ = first
	for _, id := range []string{"a", "b", "c"} {
		if len(h.rep.find(id, StateStarting, OpStart)) != 1 {
			t.Errorf("%s: no single 'starting' report", id)
		}
		h.waitState(id, StateStarted)
	}
	// Level-triggered: the same desired state again does nothing.
	r.Set(Desired{Index: 2, Instances: insts("a", "b", "c"), Others: insts("z")})
	h.clk.Advance(10 * time.Second) // monitors run
	h.waitCalls("c", "monitor", 2)
	if got, want := h.sys.seq(), "start a, start b, start c"; got != want {
		t.Fatalf("calls %q after an unchanged Set; want %q", got, want)
	}
}

func TestReconciler_StopsInReverseOrder(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a", "b", "c")})
	h.waitReported("c", StateStarted, OpStart, 1)
	r.Set(Desired{Index: 2, Others: insts("a", "b", "c")})
	h.waitReported("a", StateStopped, OpStop, 1)
	if got, want := h.sys.seq(), "start a, start b, start c, stop c, stop b, stop a"; got != want {
		t.Fatalf("calls %q; want %q", got, want)
	}
	for _, id := range []string{"a", "b", "c"} {
		if h.sys.isRunning(id) {
			t.Errorf("%s still runs", id)
		}
	}
}

func TestReconciler_ThenWaitsForFirstObservedStartedElsewhere(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	startedOn := make(chan []string, 1)
	startedOn <- nil
	where := func(id string) []string {
		if id != "x" {
			return nil
		}
		v := <-startedOn
		startedOn <- v
		return v
	}
	b := Instance{ID: "b", Resource: res("b"), After: []string{"x"}}
	d := Desired{Index: 1, Instances: []Instance{b, insts("c")[0]}, StartedOn: where}
	r.Set(d)
	// c comes after b in the start order: once c started, b was passed over.
	h.waitReported("c", StateStarted, OpStart, 1)
	if n := len(h.sys.callsOf("b", "start")); n != 0 {
		t.Fatalf("b started %d times while its first x runs nowhere", n)
	}
	// x observed started on this node only (stale view) does not count.
	<-startedOn
	startedOn <- []string{"n1"}
	h.clk.Advance(time.Second) // resync
	h.clk.Advance(time.Second)
	if n := len(h.sys.callsOf("b", "start")); n != 0 {
		t.Fatalf("b started though x is only 'started' on this node, where it is not running")
	}
	// x started on n2: b starts at the next resync.
	<-startedOn
	startedOn <- []string{"n2"}
	eventually(t, "b to start after x started on n2", func() bool {
		h.clk.Advance(100 * time.Millisecond)
		return len(h.sys.callsOf("b", "start")) == 1
	})
	// A local first counts as soon as it is started here.
	h2 := newHarness(t)
	r2 := h2.run(nil)
	e := Instance{ID: "e", Resource: res("e"), After: []string{"f"}}
	r2.Set(Desired{Index: 1, Instances: []Instance{e, insts("f")[0]}})
	h2.waitReported("e", StateStarted, OpStart, 1)
	if got, want := h2.sys.seq(), "start f, start e"; got != want {
		t.Fatalf("calls %q; want %q (e waits for its local first f)", got, want)
	}
}

// failMonitor makes inst's monitor fail and runs the next monitor.
func (h *harness) failMonitor(inst string) {
	h.t.Helper()
	h.sys.set(func(s *fakeSystem) { s.failMon[inst] = errors.New("health check failed") })
	h.clk.Advance(10 * time.Second)
}

func TestReconciler_MonitorFailureRestartsHereOnceIndexCatchesUp(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.failMonitor("a")
	failed := h.waitReported("a", StateFailed, OpMonitor, 1)
	if failed.OnFail != OnFailRestart || !strings.Contains(failed.Reason, "health check failed") {
		t.Fatalf("failure report %+v; want on_fail restart with the monitor's reason", failed.Observation)
	}
	h.waitReported("a", StateStopped, OpStop, 1)
	h.sys.set(func(s *fakeSystem) { delete(s.failMon, "a") })
	// A placement computed before the failure was recorded does not restart it.
	r.Set(Desired{Index: failed.index - 1, Instances: insts("a", "sync")})
	h.waitReported("sync", StateStarted, OpStart, 1)
	if n := len(h.sys.callsOf("a", "start")); n != 1 {
		t.Fatalf("a started %d times before the cluster saw its failure; want 1", n)
	}
	// One computed from the failure's index (or later) does.
	r.Set(Desired{Index: failed.index, Instances: insts("a", "sync")})
	h.waitReported("a", StateStarted, OpStart, 2)
	if got, want := h.sys.seq(), "start a, stop a, start sync, start a"; got != want {
		t.Fatalf("calls %q; want %q", got, want)
	}
}

// A failure the state did not count (a stale report: the lapse stopped
// it) comes back with index 0: no placement will be computed from it, so
// the instance starts again from the placement it has, without waiting for
// a new one (it waited forever: the coordinator had nothing to recommit).
func TestReconciler_UncountedFailureWaitsForNoPlacement(t *testing.T) {
	h := newHarness(t)
	h.rep.mu.Lock()
	h.rep.ignoreFailures = true
	h.rep.mu.Unlock()
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.failMonitor("a")
	h.waitReported("a", StateFailed, OpMonitor, 1)
	h.sys.set(func(s *fakeSystem) { delete(s.failMon, "a") })
	// No new Desired: the one at index 1 still places it here.
	h.waitReported("a", StateStarted, OpStart, 2)
}

func TestReconciler_FailureAtThresholdMovesItAway(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.failMonitor("a")
	failed := h.waitReported("a", StateFailed, OpMonitor, 1)
	h.waitReported("a", StateStopped, OpStop, 1)
	// The leader banned this node for a (migration_threshold) and moved it.
	r.Set(Desired{Index: failed.index + 3, Instances: insts("sync"), Others: insts("a")})
	h.waitReported("sync", StateStarted, OpStart, 1)
	h.clk.Advance(30 * time.Second)
	h.waitCalls("sync", "monitor", 2)
	if n := len(h.sys.callsOf("a", "start")); n != 1 {
		t.Fatalf("a started %d times here after it moved away; want 1", n)
	}
	if h.sys.isRunning("a") {
		t.Fatal("a still runs here")
	}
}

func TestReconciler_OnFailStopKeepsItStoppedUntilTheClusterDecides(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	a.Resource.Monitor.OnFail = OnFailStop
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.failMonitor("a")
	failed := h.waitReported("a", StateFailed, OpMonitor, 1)
	if failed.OnFail != OnFailStop {
		t.Fatalf("on_fail %q reported; want stop", failed.OnFail)
	}
	h.waitReported("a", StateStopped, OpStop, 1)
	h.sys.set(func(s *fakeSystem) { delete(s.failMon, "a") })
	// Still placed here, even at a newer index: held stopped.
	r.Set(Desired{Index: failed.index + 1, Instances: []Instance{a, insts("sync")[0]}})
	h.waitReported("sync", StateStarted, OpStart, 1)
	if n := len(h.sys.callsOf("a", "start")); n != 1 {
		t.Fatalf("a restarted after on_fail stop; starts=%d", n)
	}
	// The cluster drops it, then places it again: a new decision, it starts.
	r.Set(Desired{Index: failed.index + 2, Instances: insts("sync"), Others: []Instance{a}})
	r.Set(Desired{Index: failed.index + 2, Instances: insts("sync"), Others: []Instance{a}})
	eventually(t, "hold released", func() bool {
		for _, s := range r.Status() {
			if s.ID == "a" {
				return !s.Held
			}
		}
		return false
	})
	r.Set(Desired{Index: failed.index + 3, Instances: []Instance{a, insts("sync")[0]}})
	h.waitReported("a", StateStarted, OpStart, 2)
}

func TestReconciler_OnFailIgnoreKeepsRunning(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	a.Resource.Monitor.OnFail = OnFailIgnore
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.failMonitor("a")
	failed := h.waitReported("a", StateFailed, OpMonitor, 1)
	if failed.OnFail != OnFailIgnore {
		t.Fatalf("on_fail %q; want ignore", failed.OnFail)
	}
	h.waitCalls("a", "monitor", 2)
	h.waitState("a", StateFailed)
	h.clk.Advance(10 * time.Second) // still monitored, failure reported once
	h.waitCalls("a", "monitor", 3)
	h.waitState("a", StateFailed)
	h.sys.set(func(s *fakeSystem) { delete(s.failMon, "a") })
	h.clk.Advance(10 * time.Second)
	h.waitReported("a", StateStarted, OpMonitor, 1)
	if n := len(h.rep.find("a", StateFailed, "")); n != 1 {
		t.Fatalf("%d failure reports; want 1 (ignored failures are reported once)", n)
	}
	if got := h.sys.seq(); got != "start a" {
		t.Fatalf("calls %q; want only 'start a'", got)
	}
}

func TestReconciler_OnFailBlockStopsTouchingIt(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	a.Resource.Monitor.OnFail = OnFailBlock
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.failMonitor("a")
	h.waitReported("a", StateFailed, OpMonitor, 1)
	h.waitReported("a", StateBlocked, "", 1)
	mons := len(h.sys.callsOf("a", "monitor"))
	// Dropped from this node: still not touched.
	r.Set(Desired{Index: 500, Instances: insts("sync"), Others: []Instance{a}})
	h.waitReported("sync", StateStarted, OpStart, 1)
	h.clk.Advance(10 * time.Second)
	h.waitCalls("sync", "monitor", 2)
	if n := len(h.sys.callsOf("a", "monitor")); n != mons {
		t.Fatalf("blocked a was monitored again (%d -> %d calls)", mons, n)
	}
	if got := h.sys.seq(); got != "start a, start sync" {
		t.Fatalf("calls %q; want 'start a, start sync' (blocked a never stopped)", got)
	}
	// Cleanup: probed again, found running, stopped since it is not placed here.
	h.sys.set(func(s *fakeSystem) { delete(s.failMon, "a") })
	r.Cleanup("a")
	h.waitReported("a", StateStopped, OpStop, 1)
}

func TestReconciler_FailedStartIsReportedAndCleanedUp(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	h.sys.set(func(s *fakeSystem) { s.failStart["a"] = errors.New("port in use") })
	r.Set(Desired{Index: 1, Instances: insts("a")})
	failed := h.waitReported("a", StateFailed, OpStart, 1)
	if !strings.Contains(failed.Reason, "port in use") {
		t.Fatalf("reason %q; want the agent's error", failed.Reason)
	}
	h.waitReported("a", StateStopped, OpStop, 1)
	h.waitState("a", StateStopped)
	if got := h.sys.seq(); got != "start a, stop a" {
		t.Fatalf("calls %q; want 'start a, stop a'", got)
	}
	// The same placement, not yet computed with the failure: no retry.
	r.Set(Desired{Index: 2, Instances: insts("a", "sync")})
	h.waitReported("sync", StateStarted, OpStart, 1)
	if n := len(h.sys.callsOf("a", "start")); n != 1 {
		t.Fatalf("a retried before the cluster saw its start failure (%d starts)", n)
	}
}

func TestReconciler_FailedStopBlocksUntilCleanup(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.sys.set(func(s *fakeSystem) { s.failStop["a"] = errors.New("device busy") })
	r.Set(Desired{Index: 2, Others: insts("a")})
	failed := h.waitReported("a", StateFailed, OpStop, 1)
	if failed.OnFail != OnFailBlock || !strings.Contains(failed.Reason, "device busy") {
		t.Fatalf("stop failure %+v; want on_fail block and the reason", failed.Observation)
	}
	h.waitReported("a", StateBlocked, "", 1)
	// Placed here again at any index: never started while blocked.
	r.Set(Desired{Index: 1000, Instances: insts("a", "sync")})
	h.waitReported("sync", StateStarted, OpStart, 1)
	if got := h.sys.seq(); got != "start a, stop a, start sync" {
		t.Fatalf("calls %q; want 'start a, stop a, start sync'", got)
	}
	// Cleanup: probed again, found running, adopted (placed here) without a restart.
	h.sys.set(func(s *fakeSystem) { delete(s.failStop, "a") })
	r.Cleanup("a")
	h.waitReported("a", StateStarted, OpProbe, 1)
	h.waitState("a", StateStarted)
	if n := len(h.sys.callsOf("a", "start")); n != 1 {
		t.Fatalf("a started again after cleanup though it runs (%d starts)", n)
	}
}

func TestReconciler_FreezeStartsNothingAndKeepsRunning(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	// Freeze: b is placed here and a is dropped; neither changes.
	r.Set(Desired{Index: 2, Instances: insts("b"), Others: insts("a"), Mode: ModeFreeze})
	eventually(t, "freeze mode", func() bool { m, _ := r.Mode(); return m == ModeFreeze })
	h.waitState("b", StateStopped) // probed
	h.clk.Advance(10 * time.Second)
	h.waitCalls("a", "monitor", 2) // still monitored
	if got := h.sys.seq(); got != "start a" {
		t.Fatalf("calls %q in freeze; want only 'start a'", got)
	}
	r.Set(Desired{Index: 3, Instances: insts("b"), Others: insts("a")})
	h.waitReported("b", StateStarted, OpStart, 1)
	if got := h.sys.seq(); got != "start a, stop a, start b" {
		t.Fatalf("calls %q after freeze ended; want 'start a, stop a, start b'", got)
	}
}

func TestReconciler_StopAllStopsDependentsFirstAndTheRestAtOnce(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	// a <- b <- c is a chain (a group); x is unrelated and its stop hangs.
	d := Desired{Index: 1, Instances: []Instance{
		{ID: "a", Resource: res("a")},
		{ID: "b", Resource: res("b"), After: []string{"a"}},
		{ID: "c", Resource: res("c"), After: []string{"b"}},
		{ID: "x", Resource: res("x")},
	}}
	r.Set(d)
	h.waitReported("x", StateStarted, OpStart, 1)
	h.sys.set(func(s *fakeSystem) { s.hang["x"] = "stop" })
	d.Index, d.Mode = 2, ModeStopAll
	r.Set(d)
	// The chain stops in reverse order while x's stop still hangs.
	h.waitReported("a", StateStopped, OpStop, 1)
	if got, want := h.sys.seq(), "start a, start b, start c, start x, stop c, stop b, stop a"; got != want {
		t.Fatalf("calls %q; want %q", got, want)
	}
	var op string
	h.sys.set(func(s *fakeSystem) { op = s.inProgress["x"] })
	if op != "stop" {
		t.Fatalf("x is in %q; want its stop in progress (stops of unrelated instances run at once)", op)
	}
	h.clk.Advance(DefaultOpTimeout)
	h.waitReported("x", StateBlocked, "", 1)
}

func TestReconciler_RestartProbesAndAdoptsWithoutRestarting(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	d := Desired{Index: 1, Instances: insts("a", "b"), Others: insts("c")}
	r.Set(d)
	h.waitReported("b", StateStarted, OpStart, 1)
	h.stop()
	// A new reconciler (haven restarted) finds a and b running.
	r2 := h.run(nil)
	d.Index = 2
	r2.Set(d)
	h.waitReported("a", StateStarted, OpProbe, 1)
	h.waitReported("b", StateStarted, OpProbe, 1)
	h.waitReported("c", StateStopped, OpProbe, 2)
	h.waitState("a", StateStarted)
	h.waitState("b", StateStarted)
	if got := h.sys.seq(); got != "start a, start b" {
		t.Fatalf("calls %q; want 'start a, start b' (adopted, not restarted)", got)
	}
	// And it monitors them.
	h.clk.Advance(10 * time.Second)
	h.waitCalls("b", "monitor", 3)
}

func TestReconciler_StartTimeoutCancelsTheAgent(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	a.Resource.Start = &model.Op{Timeout: model.Duration(5 * time.Second)}
	h.sys.set(func(s *fakeSystem) { s.hang["a"] = "start" })
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	eventually(t, "start in progress", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["a"] })
		return op == "start"
	})
	h.clk.Advance(4 * time.Second)
	h.clk.Advance(time.Second)
	failed := h.waitReported("a", StateFailed, OpStart, 1)
	if !strings.Contains(failed.Reason, "timed out after 5s") {
		t.Fatalf("reason %q; want a timeout after 5s", failed.Reason)
	}
	var ctxErr error
	h.sys.set(func(s *fakeSystem) { ctxErr = s.ctxErrs["a"] })
	if ctxErr == nil || !strings.Contains(ctxErr.Error(), "deadline exceeded") {
		t.Fatalf("agent saw ctx error %v; want deadline exceeded", ctxErr)
	}
	if at := h.sys.callsOf("a", "start")[0]; !at.at.Equal(t0) {
		t.Fatalf("start began at %v; want %v", at.at, t0)
	}
	h.waitReported("a", StateStopped, OpStop, 1) // cleaned up
}

func TestReconciler_StopTimeoutBlocks(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	a.Resource.Stop = &model.Op{Timeout: model.Duration(3 * time.Second)}
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.sys.set(func(s *fakeSystem) { s.hang["a"] = "stop" })
	r.Set(Desired{Index: 2, Others: []Instance{a}})
	h.waitCalls("a", "", 0)
	eventually(t, "stop in progress", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["a"] })
		return op == "stop"
	})
	h.clk.Advance(3 * time.Second)
	failed := h.waitReported("a", StateFailed, OpStop, 1)
	if !strings.Contains(failed.Reason, "timed out after 3s") {
		t.Fatalf("reason %q; want a stop timeout", failed.Reason)
	}
	h.waitReported("a", StateBlocked, "", 1)
}

func TestReconciler_MonitorTimeoutIsAFailure(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	a.Resource.Monitor.Timeout = model.Duration(2 * time.Second)
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.sys.set(func(s *fakeSystem) { s.hang["a"] = "monitor" })
	h.clk.Advance(10 * time.Second)
	eventually(t, "monitor in progress", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["a"] })
		return op == "monitor"
	})
	h.clk.Advance(2 * time.Second)
	failed := h.waitReported("a", StateFailed, OpMonitor, 1)
	if !strings.Contains(failed.Reason, "timed out after 2s") {
		t.Fatalf("reason %q; want a monitor timeout", failed.Reason)
	}
	h.sys.set(func(s *fakeSystem) { delete(s.hang, "a") })
	h.waitReported("a", StateStopped, OpStop, 1)
}

func TestReconciler_UnknownTypeIsReportedNotRetried(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	bad := Instance{ID: "q", Resource: model.Resource{ID: "q", Type: "nope"}}
	r.Set(Desired{Index: 1, Instances: []Instance{bad, insts("a")[0]}})
	f := h.waitReported("q", StateFailed, OpProbe, 1)
	if !strings.Contains(f.Reason, `type "nope" is not known`) {
		t.Fatalf("reason %q; want the unknown type named", f.Reason)
	}
	h.waitReported("a", StateStarted, OpStart, 1)
	if n := len(h.rep.find("q", StateFailed, "")); n != 1 {
		t.Fatalf("%d failure reports for q; want 1", n)
	}
}

func TestReconciler_ConfigValidateNamesEveryProblem(t *testing.T) {
	_, err := New(Config{NoQuorumPolicy: "maybe"})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"Node is empty", "Types is nil", "DataDir is empty", "Clock is nil", "Reporter is nil", `"maybe" is unknown`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestReconciler_DefinitionChangeRestartsWithTheNewAgent(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	// Only positions changed (a reloaded file): nothing happens.
	a.Resource.Pos = model.Pos{Line: 9, Col: 3}
	r.Set(Desired{Index: 2, Instances: []Instance{a, insts("sync")[0]}})
	h.waitReported("sync", StateStarted, OpStart, 1)
	// A parameter changed: stop with the old agent, start with the new one.
	a.Resource.Params = map[string]any{"port": 8080}
	r.Set(Desired{Index: 3, Instances: []Instance{a, insts("sync")[0]}})
	h.waitReported("a", StateStarted, OpStart, 2)
	if got, want := h.sys.seq(), "start a, start sync, stop a, start a"; got != want {
		t.Fatalf("calls %q; want %q", got, want)
	}
}

func TestReconciler_ObservationIDsAreUniqueAndReportsRetried(t *testing.T) {
	h := newHarness(t)
	h.rep.fail = true
	r := h.run(func(c *Config) { c.ReportRetry = time.Second })
	r.Set(Desired{Index: 1, Instances: insts("a", "b")})
	h.waitState("b", StateStarted)
	if n := len(h.rep.find("a", StateStarted, "")); n != 0 {
		t.Fatalf("%d reports recorded while the reporter fails", n)
	}
	h.rep.mu.Lock()
	h.rep.fail = false
	h.rep.mu.Unlock()
	eventually(t, "reports delivered after retry", func() bool {
		h.clk.Advance(100 * time.Millisecond)
		return len(h.rep.find("b", StateStarted, OpStart)) == 1
	})
	seen := map[string]bool{}
	h.rep.mu.Lock()
	defer h.rep.mu.Unlock()
	var order []string
	for _, o := range h.rep.obs {
		if o.ID == "" || seen[o.ID] {
			t.Errorf("observation %+v has an empty or repeated ID", o.Observation)
		}
		seen[o.ID] = true
		order = append(order, o.Instance+" "+string(o.State))
	}
	// Probes run concurrently; everything after them is in order.
	if got, want := strings.Join(order[2:], ", "), "a starting, a started, b starting, b started"; got != want || len(order) != 6 {
		t.Errorf("reports in order %q; want %q", got, want)
	}
}

func TestReconciler_RestartOfAFirstRestartsWhatDependsOnIt(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	// A group vip -> web -> app: each after the previous member.
	d := Desired{Index: 1, Instances: []Instance{
		{ID: "vip", Resource: res("vip")},
		{ID: "web", Resource: res("web"), After: []string{"vip"}},
		{ID: "app", Resource: res("app"), After: []string{"web"}},
	}}
	r.Set(d)
	h.waitReported("app", StateStarted, OpStart, 1)
	h.waitState("vip", StateStarted)
	h.failMonitor("vip")
	failed := h.waitReported("vip", StateFailed, OpMonitor, 1)
	h.waitReported("vip", StateStopped, OpStop, 1)
	h.sys.set(func(s *fakeSystem) { delete(s.failMon, "vip") })
	d.Index = failed.index
	r.Set(d)
	h.waitReported("app", StateStarted, OpStart, 2)
	want := "start vip, start web, start app, stop app, stop web, stop vip, start vip, start web, start app"
	if got := h.sys.seq(); got != want {
		t.Fatalf("calls %q; want %q", got, want)
	}
}

func TestReconciler_NothingStartsBeforeEveryProbeAnswered(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	h.sys.set(func(s *fakeSystem) { s.gate["z monitor"] = gate })
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a"), Others: insts("z")})
	h.waitState("a", StateStopped) // a probed; the step after it started nothing
	if got := h.sys.seq(); got != "" {
		t.Fatalf("calls %q while z's probe is outstanding; want none", got)
	}
	close(gate)
	h.waitReported("a", StateStarted, OpStart, 1)
}

func TestReconciler_RestartKeepsWhatTheClusterRecordsBlocked(t *testing.T) {
	h := newHarness(t)
	h.sys.set(func(s *fakeSystem) { s.running["a"] = true }) // its stop failed before the restart
	r := h.run(nil)
	r.Set(Desired{Index: 9, Instances: insts("b"), Others: insts("a"), Blocked: []string{"a"}})
	h.waitReported("b", StateStarted, OpStart, 1)
	h.waitState("a", StateBlocked)
	if got := h.sys.seq(); got != "start b" {
		t.Fatalf("calls %q; want only 'start b' (a is blocked, not touched)", got)
	}
	if n := len(h.sys.callsOf("a", "monitor")); n != 0 {
		t.Fatalf("blocked a was probed %d times", n)
	}
	r.Cleanup("a")
	h.waitReported("a", StateStopped, OpStop, 1)
}

// The applied index passing the failure is not enough: the committed
// placement must have been computed from it.
func TestReconciler_RestartWaitsForThePlacementsBaseIndex(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, PlanIndex: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.failMonitor("a")
	failed := h.waitReported("a", StateFailed, OpMonitor, 1)
	h.waitReported("a", StateStopped, OpStop, 1)
	h.sys.set(func(s *fakeSystem) { delete(s.failMon, "a") })
	// The failure is applied here (Index) but the placement predates it.
	r.Set(Desired{Index: failed.index + 5, PlanIndex: failed.index - 1, Instances: insts("a", "sync")})
	h.waitReported("sync", StateStarted, OpStart, 1)
	if n := len(h.sys.callsOf("a", "start")); n != 1 {
		t.Fatalf("a restarted on a placement computed before its failure (%d starts)", n)
	}
	r.Set(Desired{Index: failed.index + 6, PlanIndex: failed.index + 6, Instances: insts("a", "sync")})
	h.waitReported("a", StateStarted, OpStart, 2)
}

func TestReconciler_BrokenNewDefinitionStopsWithTheOldAgentAndFailsToStart(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	a.Resource.Params = map[string]any{"broken": true}
	r.Set(Desired{Index: 2, Instances: []Instance{a}})
	f := h.waitReported("a", StateFailed, OpStart, 1)
	if !strings.Contains(f.Reason, "broken params") {
		t.Fatalf("reason %q; want the agent's New error", f.Reason)
	}
	h.waitState("a", StateFailed)
	if got := h.sys.seq(); got != "start a, stop a" {
		t.Fatalf("calls %q; want 'start a, stop a' (nothing to clean up after a start that never ran)", got)
	}
}

func TestReconciler_Lifecycle(t *testing.T) {
	h := newHarness(t)
	// Close before Run: Run returns at once; Close is safe twice.
	r, err := New(h.config())
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	_ = r.Close()
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run after Close did not return")
	}
	// Close ends a running Run, even with an operation hanging (its ctx is cancelled).
	r2, _ := New(h.config())
	h.sys.set(func(s *fakeSystem) { s.hang["a"] = "start" })
	r2.Set(Desired{Index: 1, Instances: insts("a")})
	go func() { done <- r2.Run(context.Background()) }()
	eventually(t, "start in progress", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["a"] })
		return op == "start"
	})
	if err := r2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "Run called twice") {
		t.Fatalf("second Run: %v; want an error", err)
	}
	_ = r2.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if n := len(h.rep.find("a", StateFailed, "")); n != 0 {
		t.Fatalf("the start cancelled by shutdown was reported as a failure")
	}
}

func TestReconciler_MaintenanceTouchesNothingThenReprobes(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	if err := l.Renew(1, "c", t0); err != nil {
		t.Fatal(err)
	}
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	r.Set(Desired{Index: 2, Instances: insts("b"), Others: insts("a"), Mode: ModeMaintenance})
	h.waitMode(ModeMaintenance)
	h.clk.Advance(30 * time.Second) // the lease lapses too; monitors would be due
	h.waitMode(ModeMaintenance)
	mons := len(h.sys.callsOf("", "monitor"))
	if got := h.sys.seq(); got != "start a" || mons != 1 {
		t.Fatalf("calls %q and %d monitor calls in maintenance; want only 'start a' and its probe", got, mons)
	}
	if err := l.Renew(1, "c", h.clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.Set(Desired{Index: 3, Instances: insts("b"), Others: insts("a")})
	h.waitReported("b", StateStarted, OpStart, 1)
	if got := h.sys.seq(); got != "start a, stop a, start b" {
		t.Fatalf("calls %q after maintenance; want 'start a, stop a, start b'", got)
	}
	if n := len(h.sys.callsOf("a", "monitor")); n != 2 {
		t.Fatalf("a probed %d times; want 2 (again after maintenance)", n)
	}
}

func TestReconciler_UnmanagedInstanceIsLeftAlone(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a", "b")})
	h.waitReported("b", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	un := insts("a")[0]
	un.Unmanaged = true
	// Unmanaged and no longer placed here: not stopped, not monitored.
	r.Set(Desired{Index: 2, Instances: insts("b"), Others: []Instance{un}, Mode: ModeStopAll})
	h.waitReported("b", StateStopped, OpStop, 1)
	h.clk.Advance(10 * time.Second)
	r.Set(Desired{Index: 3, Instances: insts("b"), Others: []Instance{un}})
	h.waitReported("b", StateStarted, OpStart, 2)
	if got := h.sys.seq(); got != "start a, start b, stop b, start b" {
		t.Fatalf("calls %q; want a untouched", got)
	}
	if n := len(h.sys.callsOf("a", "monitor")); n != 1 {
		t.Fatalf("unmanaged a saw %d monitor calls; want only its first probe", n)
	}
	// Managed again: probed, found running where it is not placed, stopped.
	r.Set(Desired{Index: 4, Instances: insts("b"), Others: insts("a")})
	h.waitReported("a", StateStopped, OpStop, 1)
}

// A running instance waiting for its dependent's stop in stop-all has a
// monitor due; the loop must not spin on it.
func TestReconciler_StopAllDoesNotSpinOnDueMonitors(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	d := Desired{Index: 1, Instances: []Instance{
		{ID: "a", Resource: res("a")},
		{ID: "b", Resource: res("b"), After: []string{"a"}},
	}}
	r.Set(d)
	h.waitReported("b", StateStarted, OpStart, 1)
	h.waitState("b", StateStarted)
	h.sys.set(func(s *fakeSystem) { s.hang["b"] = "stop" })
	h.clk.Advance(20 * time.Second) // monitors due, not yet run
	d.Index, d.Mode = 2, ModeStopAll
	r.Set(d)
	eventually(t, "b's stop in progress", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["b"] })
		return op == "stop"
	})
	timers := h.clk.Armed
	before := timers()
	time.Sleep(100 * time.Millisecond) // observing that nothing happens
	if n := timers() - before; n > 3 {
		t.Fatalf("the loop armed %d timers in 100ms while waiting; it spins", n)
	}
}

func TestReconciler_CleanupWaitsForTheOperationInFlight(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	a := insts("a")[0]
	a.Resource.Monitor.OnFail = OnFailBlock
	r.Set(Desired{Index: 1, Instances: []Instance{a}})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	r.Cleanup("nobody") // unknown: nothing happens
	gate := make(chan struct{})
	h.sys.set(func(s *fakeSystem) { s.gate["a monitor"] = gate; s.failMon["a"] = errors.New("bad") })
	h.clk.Advance(10 * time.Second)
	eventually(t, "monitor in flight", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["a"] })
		return op == "monitor"
	})
	r.Cleanup("a") // arrives while the monitor runs: applied after it
	close(gate)
	h.waitReported("a", StateBlocked, "", 1)
	// The cleanup then re-probes (still failing: the probe's failure is
	// handled like any other, the instance is stopped).
	h.waitReported("a", StateFailed, OpProbe, 1)
	h.waitReported("a", StateStopped, OpStop, 1)
}
