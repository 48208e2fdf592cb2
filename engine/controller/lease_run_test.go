package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

// withLease gives the harness a 1s lease.
func (h *harness) withLease() *LeaseHolder {
	h.t.Helper()
	l, err := NewLeaseHolder(time.Second, h.clk, nil)
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
	r := h.run(func(c *ReconcilerConfig) { c.NoQuorumPolicy = model.NoQuorumFreeze })
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
	r := h.run(func(c *ReconcilerConfig) { c.NoQuorumPolicy = model.NoQuorumIgnore })
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

// fakeRenewer records renewals; nodes in hang wait for their ctx to end.
// A node with a holder answers through LeaseHolder.Grant; others ack with
// a counter.
type fakeRenewer struct {
	tab     *LeaseTable
	clk     *FakeClock
	mu      sync.Mutex
	sent    []renewalCall
	hang    map[string]bool
	holders map[string]*LeaseHolder
	cut     map[string]bool // the link is cut: the call fails after reaching nobody
	seq     uint64
}

type renewalCall struct {
	node       string
	at         time.Time
	recordedAt time.Time // the table's last send for the node when the call was made
	r          Renewal
}

func (f *fakeRenewer) Renew(ctx context.Context, node string, r Renewal) (uint64, error) {
	rec, _ := f.tab.RecoverAt(node)
	f.mu.Lock()
	f.sent = append(f.sent, renewalCall{node: node, at: f.clk.Now(), recordedAt: rec.Add(-f.tab.Config().Bound()), r: r})
	hang, h, cut := f.hang[node], f.holders[node], f.cut[node]
	f.seq++
	seq := f.seq
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if cut {
		return 0, errors.New("no route to host")
	}
	if h != nil {
		return h.Grant(r)
	}
	return seq, nil
}

func (f *fakeRenewer) calls(node string) []renewalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []renewalCall
	for _, c := range f.sent {
		if c.node == node {
			out = append(out, c)
		}
	}
	return out
}

func TestLeaseSender_RenewsEveryEighthLeaseBoundFromAcks(t *testing.T) {
	clk := NewFakeClock(t0)
	tab, err := NewLeaseTable(DefaultLeaseTableConfig(1200 * time.Millisecond)) // rounds every 150ms
	if err != nil {
		t.Fatal(err)
	}
	tab.BecameLeader(t0)
	ren := &fakeRenewer{tab: tab, clk: clk, hang: map[string]bool{"n3": true}}
	var nodesMu sync.Mutex
	nodes := []string{"n2", "n3"}
	s, err := NewLeaseSender(LeaseSenderConfig{Table: tab, Renewer: ren, Clock: clk, Term: 7, Leader: "n1",
		Nodes: func() []string { nodesMu.Lock(); defer nodesMu.Unlock(); return append([]string(nil), nodes...) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// A new coordinator renews at once, and echoes that first ack at once
	// (the first renewal had nothing to echo); then one renewal a round,
	// echoing the previous round's ack.
	eventually(t, "first round", func() bool { return len(ren.calls("n2")) == 2 && len(ren.calls("n3")) == 1 })
	for i := 1; i <= 4; i++ {
		clk.Advance(150 * time.Millisecond)
		eventually(t, "next round", func() bool { return len(ren.calls("n2")) == i+2 })
	}
	for i, c := range ren.calls("n2") {
		want := t0
		if i >= 2 {
			want = t0.Add(time.Duration(i-1) * 150 * time.Millisecond)
		}
		// The bound counts from the newest ack received before the send:
		// none for the very first (the election), then the previous one
		// (every ack here comes back at its send).
		wantBase := t0
		if i >= 3 {
			wantBase = want.Add(-150 * time.Millisecond)
		}
		if !c.at.Equal(want) || !c.recordedAt.Equal(wantBase) {
			t.Errorf("renewal %d to n2 at %v (want %v) with the bound counting from %v; want %v", i, c.at, want, c.recordedAt, wantBase)
		}
		if c.r.Term != 7 || c.r.Leader != "n1" {
			t.Errorf("renewal carries %+v; want term 7 leader n1", c.r)
		}
		if i > 0 && c.r.Echo == 0 {
			t.Errorf("renewal %d to n2 echoes no ack; want the previous ack's token", i)
		}
	}
	// n3 never acks; its sends are bounded by the interval and retried.
	// None of them could extend its lease (they echo no token), so its
	// bound counts from the election alone.
	if n := len(ren.calls("n3")); n < 2 {
		t.Errorf("n3 got %d renewals; want one per round once the previous gave up", n)
	}
	if at, _ := tab.RecoverAt("n3"); !at.Equal(t0.Add(tab.Config().Bound())) {
		t.Errorf("n3 (never acked) is safe to recover at %v; want the election + bound, %v", at, t0.Add(tab.Config().Bound()))
	}
	// n2 is lost (membership drops it): its lease lapses bound after the
	// last ack received (every ack here comes back at once, at its send).
	nodesMu.Lock()
	nodes = []string{"n3"}
	nodesMu.Unlock()
	last := ren.calls("n2")[len(ren.calls("n2"))-1].at
	clk.Advance(150 * time.Millisecond)
	if tab.SafeToRecover("n2", last.Add(tab.Config().Bound())) || !tab.SafeToRecover("n2", last.Add(tab.Config().Bound()+time.Nanosecond)) {
		t.Error("n2 must become safe to recover exactly after its last ack + bound")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
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
			tab, _ := NewLeaseTable(DefaultLeaseTableConfig(time.Second))
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
					if tok, err = l.Grant(Renewal{Term: 1, Leader: "c", Echo: tok}); err != nil {
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
	r := h.run(func(c *ReconcilerConfig) {
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
	r := h.run(func(c *ReconcilerConfig) { c.OnStopOverdue = func(in []string) { called <- in } })
	r.Set(Desired{Index: 1, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	h.clk.Advance(time.Second)
	h.waitReported("a", StateStopped, OpStop, 1)
	eventually(t, "overdue check timer", func() bool { return h.clk.HasTimerAt(t0.Add(2 * time.Second)) })
	h.clk.Advance(time.Second)
	eventually(t, "overdue check done", func() bool { return !h.clk.HasTimerAt(t0.Add(2 * time.Second)) })
	timers := func() int { h.clk.mu.Lock(); defer h.clk.mu.Unlock(); return h.clk.seq }
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

// A node whose acks stop is reported once when its bound passes (it then
// counts as lost, LeaseTable.Lapsed), and once more when it acks again;
// while acks flow, nothing is reported.
func TestLeaseSender_LapseAndReturnTrigger(t *testing.T) {
	clk := NewFakeClock(t0)
	tab, ren := leadingTable(t, clk) // bound 1.15s
	var mu sync.Mutex
	changes := 0
	count := func() int { mu.Lock(); defer mu.Unlock(); return changes }
	s, err := NewLeaseSender(LeaseSenderConfig{Table: tab, Renewer: ren, Clock: clk, Term: 3, Leader: "n1",
		Nodes:    func() []string { return []string{"n2"} },
		OnChange: func() { mu.Lock(); changes++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	step := func(rounds int) {
		for i := 0; i < rounds; i++ {
			n := len(ren.calls("n2"))
			clk.Advance(250 * time.Millisecond)
			eventually(t, "round", func() bool { return len(ren.calls("n2")) > n })
		}
	}
	eventually(t, "first round", func() bool { return len(ren.calls("n2")) == 2 })
	step(12) // 3 s of acks
	if c := count(); c != 0 || tab.Lapsed("n2", clk.Now()) {
		t.Fatalf("%d changes, lapsed %v while n2 acked every round; want none", c, tab.Lapsed("n2", clk.Now()))
	}
	// While every renewal is answered within its round, the rounds' ticker
	// is the only timer: no lapse timer is set and moved on every ack.
	if n := clk.Pending(); n != 1 {
		t.Errorf("%d timers pending while n2 acks every round; want 1 (the rounds' ticker)", n)
	}
	// Cut: the last ack was at the last round; 1.15 s later the lease has
	// certainly lapsed and the coordinator is told, once.
	ren.mu.Lock()
	ren.cut["n2"] = true
	ren.mu.Unlock()
	lastAck := clk.Now()
	step(4) // lastAck + 1 s: not yet
	if c := count(); c != 0 {
		t.Fatalf("%d changes 1 s after the last ack; want none before the bound (1.15 s)", c)
	}
	clk.Advance(tab.Config().Bound() - time.Second + time.Millisecond)
	eventually(t, "lapse reported", func() bool { return count() == 1 })
	if !tab.Lapsed("n2", clk.Now()) || tab.Lapsed("n2", lastAck.Add(tab.Config().Bound())) {
		t.Fatal("the table does not say n2's lease lapsed just after the bound")
	}
	step(4)
	if c := count(); c != 1 {
		t.Fatalf("%d changes while n2 stays cut; want the lapse reported once", c)
	}
	// Back: its first ack is reported.
	ren.mu.Lock()
	ren.cut["n2"] = false
	ren.mu.Unlock()
	step(1)
	eventually(t, "return reported", func() bool { return count() == 2 })
	if tab.Lapsed("n2", clk.Now()) {
		t.Fatal("n2 still lapsed after it acked")
	}
}

// A node dropped from Nodes() (gossip lost it) right after a renewal it did
// not answer still has its lapse reported: the watch covers every node
// renewed in the term, listed or not.
func TestLeaseSender_LapseReportedForANodeNoLongerListed(t *testing.T) {
	clk := NewFakeClock(t0)
	tab, ren := leadingTable(t, clk) // bound 1.15s
	var mu sync.Mutex
	changes := 0
	listed := true
	count := func() int { mu.Lock(); defer mu.Unlock(); return changes }
	s, err := NewLeaseSender(LeaseSenderConfig{Table: tab, Renewer: ren, Clock: clk, Term: 3, Leader: "n1",
		Nodes: func() []string {
			mu.Lock()
			defer mu.Unlock()
			if listed {
				return []string{"n2", "n3"}
			}
			return []string{"n3"}
		},
		OnChange: func() { mu.Lock(); changes++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	round := func() {
		n := len(ren.calls("n3"))
		clk.Advance(125 * time.Millisecond)
		eventually(t, "round", func() bool { return len(ren.calls("n3")) > n })
	}
	eventually(t, "first round", func() bool { return len(ren.calls("n2")) == 2 && len(ren.calls("n3")) == 2 })
	for range 4 {
		round()
	}
	// n2 is cut: one more renewal goes unanswered, then gossip drops it.
	ren.mu.Lock()
	ren.cut["n2"] = true
	ren.mu.Unlock()
	lastAck := clk.Now()
	round()
	mu.Lock()
	listed = false
	mu.Unlock()
	for clk.Now().Before(lastAck.Add(tab.Config().Bound() + 250*time.Millisecond)) {
		round()
	}
	eventually(t, "lapse reported", func() bool { return count() == 1 })
	if !tab.Lapsed("n2", clk.Now()) {
		t.Fatal("the table does not say n2's lease lapsed")
	}
}

// startSender runs s until the test ends.
func startSender(t *testing.T, s *LeaseSender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// leadingTable is a leader's table for a 1 s lease, elected at t0, and a
// renewer that answers for every node not cut.
func leadingTable(t *testing.T, clk *FakeClock) (*LeaseTable, *fakeRenewer) {
	t.Helper()
	tab, err := NewLeaseTable(DefaultLeaseTableConfig(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tab.BecameLeader(t0)
	return tab, &fakeRenewer{tab: tab, clk: clk, hang: map[string]bool{}, cut: map[string]bool{}}
}
