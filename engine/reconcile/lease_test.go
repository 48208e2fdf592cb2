package reconcile

import (
	"testing"
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
)

// withLease gives the harness a 1s lease.
func (h *harness) withLease() *lease.Holder {
	h.t.Helper()
	l, err := lease.NewHolder(time.Second, h.clk, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = l.Close() })
	h.lease = l
	return l
}

func (h *harness) waitMode(m Mode) {
	h.t.Helper()
	eventually(h.t, "mode "+m.String(), func() bool { got, _ := h.r.Mode(); return got == m })
}

// Invariant 3: with no_quorum_policy stop, a node whose lease lapses has
// stopped everything within lease + stop timeout.
func TestLease_LapseStopsEverythingWithinLeasePlusStopTimeout(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	if err := l.Renew(1, "n9", t0); err != nil {
		t.Fatal(err)
	}
	r := h.run(nil)
	stopTimeout := 2 * time.Second
	in := insts("a", "b", "c")
	for i := range in {
		in[i].Resource.Stop = &model.Op{Timeout: model.Duration(stopTimeout)}
	}
	r.Set(Desired{Index: 1, Instances: in})
	h.waitReported("c", StateStarted, OpStart, 1)
	h.waitState("c", StateStarted)
	// The last renewal arrives at t0+400ms; the coordinator is then cut off.
	h.clk.Advance(400 * time.Millisecond)
	lastRenewal := h.clk.Now()
	if err := l.Renew(1, "n9", lastRenewal); err != nil {
		t.Fatal(err)
	}
	// b's stop hangs: a and c stop meanwhile; b is given up at its timeout.
	h.sys.set(func(s *fakeSystem) { s.hang["b"] = "stop" })
	h.clk.Advance(999 * time.Millisecond)
	if n := len(h.sys.callsOf("", "stop")); n != 0 {
		t.Fatalf("%d stops before the lease lapsed", n)
	}
	h.clk.Advance(time.Millisecond) // lastRenewal + lease
	h.waitMode(ModeStopAll)
	h.waitReported("c", StateStopped, OpStop, 1)
	h.waitReported("a", StateStopped, OpStop, 1)
	eventually(t, "b's stop in progress", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["b"] })
		return op == "stop"
	})
	h.clk.Advance(stopTimeout)
	h.waitReported("b", StateBlocked, "", 1)
	h.waitReported("a", StateStopped, OpStop, 1)
	lapse := lastRenewal.Add(time.Second)
	for _, c := range h.sys.callsOf("", "stop") {
		if c.at.Before(lapse) {
			t.Errorf("%s stopped at %v, before the lease lapsed at %v", c.inst, c.at, lapse)
		}
	}
	// The instances whose agents stop work stopped within lease + stop timeout
	// of the last renewal; b is blocked (its stop timed out; the leader
	// escalates to fencing when stonith is on).
	if c := h.sys.callsOf("c", "stop")[0]; c.at.After(lapse.Add(stopTimeout)) {
		t.Errorf("c stopped at %v; want by %v", c.at, lapse.Add(stopTimeout))
	}
	if h.sys.isRunning("a") || h.sys.isRunning("c") {
		t.Fatal("a or c still runs after the lease lapsed")
	}
	for _, id := range []string{"a", "c"} {
		if c := h.sys.callsOf(id, "stop"); len(c) != 1 || !c[0].at.Equal(lapse) {
			t.Errorf("%s stop calls %+v; want one at the lapse %v (unrelated instances stop at once)", id, c, lapse)
		}
	}
	// A renewal after the lapse: the node runs resources again.
	h.sys.set(func(s *fakeSystem) { delete(s.hang, "b") })
	if err := l.Renew(2, "n8", h.clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.Set(Desired{Index: 2, Instances: in})
	h.waitReported("c", StateStarted, OpStart, 2)
}

func TestLease_FreezePolicyKeepsRunningAndStartsNothing(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	if err := l.Renew(1, "n9", t0); err != nil {
		t.Fatal(err)
	}
	r := h.run(func(c *Config) { c.NoQuorumPolicy = model.NoQuorumFreeze })
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.waitState("a", StateStarted)
	h.clk.Advance(time.Second)
	h.waitMode(ModeFreeze)
	r.Set(Desired{Index: 2, Instances: insts("a", "b")})
	h.waitState("b", StateStopped)
	h.clk.Advance(10 * time.Second)
	h.waitCalls("a", "monitor", 2)
	if got := h.sys.seq(); got != "start a" {
		t.Fatalf("calls %q under freeze; want only 'start a'", got)
	}
	if err := l.Renew(1, "n9", h.clk.Now()); err != nil {
		t.Fatal(err)
	}
	h.waitReported("b", StateStarted, OpStart, 1)
}

func TestLease_NoRenewalYetStartsNothingThenStopsAdopted(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	h.sys.set(func(s *fakeSystem) { s.running["a"] = true }) // runs from before a restart
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a", "b")})
	h.waitReported("a", StateStarted, OpProbe, 1)
	h.waitState("b", StateStopped)
	h.waitMode(ModeFreeze)
	if got := h.sys.seq(); got != "" {
		t.Fatalf("calls %q before any lease; want none", got)
	}
	// No renewal within one lease of starting: policy stop applies.
	h.clk.Advance(time.Second)
	h.waitReported("a", StateStopped, OpStop, 1)
	// The coordinator reaches it: it runs both.
	if err := l.Renew(1, "n9", h.clk.Now()); err != nil {
		t.Fatal(err)
	}
	h.waitReported("b", StateStarted, OpStart, 1)
	h.waitReported("a", StateStarted, OpStart, 1)
}

func TestLease_IgnorePolicyDoesNotEnforceIt(t *testing.T) {
	h := newHarness(t)
	h.withLease() // never renewed
	r := h.run(func(c *Config) { c.NoQuorumPolicy = model.NoQuorumIgnore })
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.clk.Advance(5 * time.Second)
	h.waitCalls("a", "monitor", 1)
	if m, _ := r.Mode(); m != ModeRun {
		t.Fatalf("mode %s with policy ignore; want run", m)
	}
	// The committed configuration can switch the policy to stop.
	r.Set(Desired{Index: 2, Instances: insts("a"), NoQuorumPolicy: model.NoQuorumStop})
	h.waitReported("a", StateStopped, OpStop, 1)
}

// A lapse must not wait for a slow probe or a hanging monitor.
func TestLease_LapseDoesNotWaitForProbesOrMonitors(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	if err := l.Renew(1, "n9", t0); err != nil {
		t.Fatal(err)
	}
	r := h.run(nil)
	r.Set(Desired{Index: 1, Instances: insts("a", "b")})
	h.waitReported("b", StateStarted, OpStart, 1)
	h.waitState("b", StateStarted)
	// z appears and its probe hangs; a's next monitor hangs too.
	gate := make(chan struct{})
	defer close(gate)
	h.sys.set(func(s *fakeSystem) { s.gate["z monitor"] = gate; s.gate["a monitor"] = gate })
	for i := 0; i < 19; i++ { // renewed every 500ms up to t0+9.5s
		if err := l.Renew(1, "n9", h.clk.Now()); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(500 * time.Millisecond)
	}
	if err := l.Renew(1, "n9", h.clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.Set(Desired{Index: 2, Instances: insts("a", "b"), Others: insts("z")})
	h.clk.Advance(500 * time.Millisecond) // t0+10s: a and b are monitored
	eventually(t, "a's monitor and z's probe hanging", func() bool {
		var a, z string
		h.sys.set(func(s *fakeSystem) { a, z = s.inProgress["a"], s.inProgress["z"] })
		return a == "monitor" && z == "monitor"
	})
	h.waitCalls("b", "monitor", 2)
	eventually(t, "b's monitor result handled", func() bool {
		return h.clk.HasTimerAt(t0.Add(20 * time.Second))
	})
	h.clk.Advance(time.Second) // the lease lapses at t0+10.5s
	h.waitMode(ModeStopAll)
	h.waitReported("b", StateStopped, OpStop, 1)
	h.waitReported("a", StateStopped, OpStop, 1)
	lapse := t0.Add(10500 * time.Millisecond)
	for _, id := range []string{"a", "b"} {
		if c := h.sys.callsOf(id, "stop"); len(c) != 1 || !c[0].at.Equal(h.clk.Now()) || c[0].at.Before(lapse) {
			t.Errorf("%s stop calls %+v; want one, right after the lapse", id, c)
		}
	}
	if n := len(h.rep.find("a", StateFailed, "")); n != 0 {
		t.Errorf("the abandoned monitor of a was reported as a failure")
	}
}

// The isolated node's resource stops before the coordinator may start it
// elsewhere, whatever the phase of the cut relative to the renewals.
func TestLease_LinkCutNodeStopsBeforeTheCoordinatorMayRecover(t *testing.T) {
	for _, cutAt := range []time.Duration{1000 * time.Millisecond, 1010 * time.Millisecond, 1120 * time.Millisecond, 1240 * time.Millisecond, 1250 * time.Millisecond} {
		t.Run(cutAt.String(), func(t *testing.T) {
			h := newHarness(t)
			l := h.withLease()
			tab, _ := lease.NewTable(lease.DefaultTableConfig(time.Second))
			tab.BecameLeader(t0)
			r := h.run(nil)
			r.Set(Desired{Index: 1, Instances: insts("a")})
			interval := time.Second / 4
			var tok uint64
			nextRenewal := t0
			cut := false
			var stoppedAt, safeAt time.Time
			for step := 0; step < 500 && safeAt.IsZero(); step++ {
				now := h.clk.Now()
				if !cut && !now.Before(t0.Add(cutAt)) {
					cut = true // membership declares the node lost: no more renewals
				}
				if !cut && !now.Before(nextRenewal) {
					tab.Sent("n1", now) // recorded before sending
					var err error
					if tok, err = l.Grant(lease.Renewal{Term: 1, Leader: "c", Echo: tok}); err != nil {
						t.Fatal(err)
					}
					tab.Acked("n1", now) // the ack is back (recorded before its token is echoed)
					nextRenewal = now.Add(interval)
				}
				if dl, ok := l.Deadline(); ok && !now.Before(dl) && stoppedAt.IsZero() {
					h.waitReported("a", StateStopped, OpStop, 1)
					stoppedAt = h.sys.callsOf("a", "stop")[0].at
				}
				if tab.SafeToRecover("n1", now) {
					safeAt = now
					break
				}
				if step == 50 { // running by now
					if !h.sys.isRunning("a") {
						h.waitReported("a", StateStarted, OpStart, 1)
					}
				}
				h.clk.Advance(10 * time.Millisecond)
			}
			if safeAt.IsZero() || stoppedAt.IsZero() {
				t.Fatalf("safe at %v, stopped at %v: the simulation did not reach both", safeAt, stoppedAt)
			}
			if gap := safeAt.Sub(stoppedAt); gap < tab.Config().Margin {
				t.Fatalf("a stopped at +%s but the coordinator could recover it at +%s; want at least the margin %s between", stoppedAt.Sub(t0), safeAt.Sub(t0), tab.Config().Margin)
			}
			t.Logf("cut at +%s: node stopped at +%s, coordinator may recover at +%s", cutAt, stoppedAt.Sub(t0), safeAt.Sub(t0))
		})
	}
}

func TestLease_StopOverdueAfterALapseCallsTheWatchdog(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	if err := l.Renew(1, "c", t0); err != nil {
		t.Fatal(err)
	}
	overdue := make(chan []string, 4)
	r := h.run(func(c *Config) {
		c.StopDeadline = 2 * time.Second
		c.OnStopOverdue = func(in []string) { overdue <- in }
	})
	in := insts("a", "b")
	in[0].Resource.Stop = &model.Op{Timeout: model.Duration(5 * time.Second)}
	r.Set(Desired{Index: 1, Instances: in})
	h.waitReported("b", StateStarted, OpStart, 1)
	h.sys.set(func(s *fakeSystem) { s.hang["a"] = "stop" })
	h.clk.Advance(time.Second) // lapse
	h.waitReported("b", StateStopped, OpStop, 1)
	eventually(t, "a's stop in progress", func() bool {
		var op string
		h.sys.set(func(s *fakeSystem) { op = s.inProgress["a"] })
		return op == "stop"
	})
	eventually(t, "overdue timer", func() bool { return h.clk.HasTimerAt(t0.Add(3 * time.Second)) })
	h.clk.Advance(2 * time.Second)
	select {
	case got := <-overdue:
		if len(got) != 1 || got[0] != "a" {
			t.Fatalf("overdue instances %v; want [a]", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnStopOverdue was not called 2s after the lapse with a still stopping")
	}
	h.clk.Advance(3 * time.Second) // a's stop times out: blocked, still not called twice
	h.waitReported("a", StateBlocked, "", 1)
	select {
	case got := <-overdue:
		t.Fatalf("OnStopOverdue called twice for one lapse (%v)", got)
	default:
	}
}

func TestLease_StopInTimeDoesNotCallTheWatchdog(t *testing.T) {
	h := newHarness(t)
	l := h.withLease()
	if err := l.Renew(1, "c", t0); err != nil {
		t.Fatal(err)
	}
	called := make(chan []string, 1)
	r := h.run(func(c *Config) { c.OnStopOverdue = func(in []string) { called <- in } })
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.clk.Advance(time.Second)
	h.waitReported("a", StateStopped, OpStop, 1)
	eventually(t, "overdue check timer", func() bool { return h.clk.HasTimerAt(t0.Add(2 * time.Second)) })
	h.clk.Advance(time.Second)
	eventually(t, "overdue check done", func() bool { return !h.clk.HasTimerAt(t0.Add(2 * time.Second)) })
	timers := h.clk.Armed
	before := timers()
	time.Sleep(50 * time.Millisecond) // observing that nothing happens
	if n := timers() - before; n > 3 {
		t.Fatalf("the loop armed %d timers in 50ms after the overdue check; it spins", n)
	}
	select {
	case got := <-called:
		t.Fatalf("OnStopOverdue(%v) though everything stopped in time", got)
	default:
	}
}
