package coord

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
)

// fakeCoordinator scripts the leader loop's seam.
type fakeCoordinator struct {
	mu           sync.Mutex
	barrierFails int // Barrier fails this many times first
	barriers     int
	barrierOK    bool
	proposals    []time.Time // when Propose was called (fake clock)
	next         Proposal
	staleOnce    bool
	commits      []Proposal
	proposeEarly bool // Propose was called before a Barrier succeeded
}

func (f *fakeCoordinator) Barrier(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.barriers++
	if f.barriers <= f.barrierFails {
		return errors.New("no quorum for the barrier")
	}
	f.barrierOK = true
	return nil
}

func (f *fakeCoordinator) Propose(_ context.Context, now time.Time) (Proposal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.barrierOK {
		f.proposeEarly = true
	}
	f.proposals = append(f.proposals, now)
	return f.next, nil
}

func (f *fakeCoordinator) Commit(_ context.Context, p Proposal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.staleOnce {
		f.staleOnce = false
		return ErrStalePlan
	}
	f.commits = append(f.commits, p)
	f.next.Changed = false // committed: the next computation finds nothing new
	return nil
}

func (f *fakeCoordinator) counts() (proposals, commits int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.proposals), len(f.commits)
}

func TestLeaderLoop_BarrierThenScheduleOnEveryTrigger(t *testing.T) {
	clk := clock.NewFake(t0)
	co := &fakeCoordinator{barrierFails: 2, next: Proposal{Base: 5, Changed: true, Why: []string{"web -> n2: n1 standby"}}, staleOnce: true}
	tab, _ := lease.NewTable(lease.DefaultTableConfig(time.Second))
	ren := &fakeRenewer{clk: clk, hang: map[string]bool{}}
	// OnChange set: this test counts computations, and advancing the fake
	// clock by seconds lapses n2's lease (TestLeaderLoop_LeaseLapseTriggers).
	sender, err := lease.NewSender(lease.SenderConfig{Table: tab, Renewer: ren, Clock: clk, Term: 2, Leader: "n1",
		Nodes: func() []string { return []string{"n2"} }, OnChange: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLeaderLoop(LeaderConfig{Coordinator: co, Clock: clk, Leases: sender,
		Logger: slog.New(slog.NewTextHandler(logWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after leadership was lost")
		}
		if _, ok := tab.RecoverAt("n3"); ok {
			t.Error("the lease table still acts as leader after Run returned")
		}
	}()
	// The table counts from the election (Run's start), not from the barrier.
	eventually(t, "table leading", func() bool { at, ok := tab.RecoverAt("n3"); return ok && at.Equal(t0.Add(tab.Config().Bound())) })
	// Barrier fails twice (retried every 200ms): no scheduling, no renewals.
	eventually(t, "first barrier", func() bool { co.mu.Lock(); defer co.mu.Unlock(); return co.barriers == 1 })
	for i := 0; i < 2; i++ {
		eventually(t, "retry timer", func() bool { return clk.Pending() == 1 })
		clk.Advance(200 * time.Millisecond)
	}
	// Stale once, then committed.
	eventually(t, "commit", func() bool { _, c := co.counts(); return c == 1 })
	p, _ := co.counts()
	if p != 2 {
		t.Fatalf("%d computations; want 2 (the first plan was stale)", p)
	}
	if co.proposeEarly {
		t.Fatal("scheduled before the barrier succeeded")
	}
	eventually(t, "renewals after the barrier", func() bool { return len(ren.calls("n2")) >= 1 })
	if c := ren.calls("n2")[0]; !c.at.Equal(t0.Add(400 * time.Millisecond)) {
		t.Fatalf("first renewal at %v; want right after the barrier at t0+400ms", c.at)
	}
	// A trigger computes again; nothing changed, nothing committed.
	l.Trigger()
	eventually(t, "triggered computation", func() bool { p, _ := co.counts(); return p == 3 })
	// RecheckAt (a failure timeout expiring) wakes it without an event.
	co.mu.Lock()
	co.next.RecheckAt = clk.Now().Add(3 * time.Second)
	co.mu.Unlock()
	l.Trigger()
	eventually(t, "computation", func() bool { p, _ := co.counts(); return p == 4 })
	eventually(t, "recheck timer", func() bool { return clk.HasTimerAt(t0.Add(3400 * time.Millisecond)) })
	clk.Advance(3 * time.Second)
	eventually(t, "recheck computation", func() bool { p, _ := co.counts(); return p == 5 })
	co.mu.Lock()
	at := co.proposals[4]
	co.next.RecheckAt = time.Time{}
	co.mu.Unlock()
	if !at.Equal(t0.Add(3400 * time.Millisecond)) {
		t.Fatalf("recheck at %v; want t0+3.4s", at)
	}
	// A RecheckAt in the past does not make it spin.
	eventually(t, "interval timer after a past recheck", func() bool { return clk.HasTimerAt(at.Add(10 * time.Second)) })
	if p, _ := co.counts(); p != 5 {
		t.Fatalf("%d computations; want 5 (a past RecheckAt must not trigger more)", p)
	}
	// And the periodic interval.
	eventually(t, "interval timer", func() bool { return clk.HasTimerAt(at.Add(10 * time.Second)) })
	clk.Advance(10 * time.Second)
	eventually(t, "periodic computation", func() bool { p, _ := co.counts(); return p >= 6 })
}

func TestLeaderLoop_LeadershipLostDuringBarrierReturns(t *testing.T) {
	clk := clock.NewFake(t0)
	co := &fakeCoordinator{barrierFails: 1 << 30}
	l, err := NewLeaderLoop(LeaderConfig{Coordinator: co, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	eventually(t, "barrier attempt", func() bool { co.mu.Lock(); defer co.mu.Unlock(); return co.barriers >= 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after leadership was lost")
	}
	if p, _ := co.counts(); p != 0 {
		t.Fatalf("%d computations without a barrier", p)
	}
	if _, err := NewLeaderLoop(LeaderConfig{}); err == nil {
		t.Fatal("accepted an empty config")
	}
}

// errCoordinator fails Propose and Commit on demand.
type errCoordinator struct {
	fakeCoordinator
	proposeErr, commitErr error
}

func (e *errCoordinator) Propose(ctx context.Context, now time.Time) (Proposal, error) {
	e.mu.Lock()
	err := e.proposeErr
	e.proposeErr = nil
	e.mu.Unlock()
	p, _ := e.fakeCoordinator.Propose(ctx, now)
	return p, err
}

func (e *errCoordinator) Commit(ctx context.Context, p Proposal) error {
	e.mu.Lock()
	err := e.commitErr
	e.commitErr = nil
	e.mu.Unlock()
	if err != nil {
		return err
	}
	return e.fakeCoordinator.Commit(ctx, p)
}

func TestLeaderLoop_ErrorsAreRetriedSoon(t *testing.T) {
	clk := clock.NewFake(t0)
	co := &errCoordinator{proposeErr: errors.New("state not ready"), commitErr: errors.New("not leader")}
	co.next = Proposal{Base: 3, Changed: true}
	l, err := NewLeaderLoop(LeaderConfig{Coordinator: co, Clock: clk, Logger: slog.New(slog.NewTextHandler(logWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Propose fails: retried after Retry (200ms), not after Interval.
	eventually(t, "first computation", func() bool { p, _ := co.counts(); return p == 1 })
	eventually(t, "retry timer", func() bool { return clk.HasTimerAt(t0.Add(200 * time.Millisecond)) })
	clk.Advance(200 * time.Millisecond)
	// Commit fails: retried after Retry too.
	eventually(t, "second computation", func() bool { p, _ := co.counts(); return p == 2 })
	eventually(t, "retry timer", func() bool { return clk.HasTimerAt(t0.Add(400 * time.Millisecond)) })
	clk.Advance(200 * time.Millisecond)
	eventually(t, "committed", func() bool { _, c := co.counts(); return c == 1 })
}
