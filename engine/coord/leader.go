package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
)

// ErrStalePlan is returned by Coordinator.Commit when the state changed in a
// way that affects placement after the plan's base index: the loop
// recomputes at once.
var ErrStalePlan = errors.New("stale plan")

// Proposal is one scheduling result the leader loop may commit.
type Proposal struct {
	// Base is the state index the proposal was computed from.
	Base uint64
	// Changed says the proposal must be committed: the placement differs
	// from the committed one, or a failure was recorded after the committed
	// placement's base index (committing the same placement then advances
	// the base, and nodes waiting to restart a failed instance here see
	// that the coordinator decided with the failure in view; see
	// Desired.PlanIndex). Otherwise nothing is committed.
	Changed bool
	// Plan is the adapter's payload (a model.Plan, typically); the loop does
	// not look inside.
	Plan any
	// Why has one line per changed decision with its reason; each is logged.
	Why []string
	// RecheckAt, when not zero, is the next instant the result may change
	// without any event: a failure_timeout expiry, or the instant a lost
	// node's lease has certainly lapsed (lease.Table.RecoverAt).
	RecheckAt time.Time
}

// Coordinator is the leader loop's seam onto the replicated state and the
// scheduler. The adapter builds the scheduler input from the state view,
// membership, quorum and the lease.Table (a lost node whose lease may still
// be valid keeps its resources), and runs the pure scheduler.
type Coordinator interface {
	// Barrier returns once this node's state machine has applied every entry
	// committed before the call (raft Barrier).
	Barrier(ctx context.Context) error
	// Propose computes a placement from the applied state at now.
	Propose(ctx context.Context, now time.Time) (Proposal, error)
	// Commit records p's placement in the log, refusing it with ErrStalePlan
	// when the state moved on in a way that affects placement.
	Commit(ctx context.Context, p Proposal) error
}

// LeaderConfig configures the coordinator's loop.
type LeaderConfig struct {
	Coordinator Coordinator
	Clock       clock.Clock
	Logger      *slog.Logger
	// Interval bounds the time between two computations when nothing
	// happens. Default 10s.
	Interval time.Duration
	// Retry is the pause after a failed Barrier, Propose or Commit. Default 200ms.
	Retry time.Duration
	// Leases, when not nil, renews every node's lease while the loop runs
	// (started after the first Barrier succeeded: the leader has a quorum).
	// Run marks its table BecameLeader when it starts and SteppedDown when
	// it returns, so the adapter's Propose can ask the same table
	// SafeToRecover. A sender without OnChange gets the loop's Trigger: a
	// lease lapsing or coming back changes the placement.
	Leases *lease.Sender
}

// LeaderLoop schedules on every trigger while this node leads. Run it under
// a context cancelled the moment leadership (or weighted quorum) is lost.
type LeaderLoop struct {
	cfg       LeaderConfig
	log       *slog.Logger
	triggerCh chan struct{}
}

// NewLeaderLoop checks cfg; no I/O, no goroutines.
func NewLeaderLoop(cfg LeaderConfig) (*LeaderLoop, error) {
	var errs []error
	if cfg.Coordinator == nil {
		errs = append(errs, errors.New("leader loop: Coordinator is nil; expected the adapter over state and scheduler"))
	}
	if cfg.Clock == nil {
		errs = append(errs, errors.New("leader loop: Clock is nil; expected clock.System{} or a clock.Fake"))
	}
	if cfg.Interval < 0 || cfg.Retry < 0 {
		errs = append(errs, errors.New("leader loop: Interval and Retry must not be negative; expected 0 (default) or more"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Retry == 0 {
		cfg.Retry = 200 * time.Millisecond
	}
	return &LeaderLoop{cfg: cfg, log: cfg.Logger.With("loop", "leader"), triggerCh: make(chan struct{}, 1)}, nil
}

// Trigger asks for a new computation (an applied index, a membership,
// quorum or attribute change). Triggers coalesce; never blocks.
func (l *LeaderLoop) Trigger() {
	select {
	case l.triggerCh <- struct{}{}:
	default:
	}
}

// Run barriers, then computes and commits on every trigger, at RecheckAt
// and every Interval, until ctx ends. It returns nil when ctx ends, after
// the lease sender (if any) has returned.
func (l *LeaderLoop) Run(ctx context.Context) error {
	if s := l.cfg.Leases; s != nil {
		// The election instant: no lost node's resources are recoverable
		// before a full lease from now (what the previous coordinator sent
		// is unknown). Run must start when leadership is gained.
		s.Table().BecameLeader(l.cfg.Clock.Now())
		defer s.Table().SteppedDown()
	}
	for {
		err := l.cfg.Coordinator.Barrier(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("barrier failed; retrying before scheduling", "err", err)
		if !l.sleep(ctx, l.cfg.Retry) {
			return nil
		}
	}
	l.log.Info("leading: state applied up to the barrier; scheduling")
	var wg sync.WaitGroup
	defer wg.Wait()
	if s := l.cfg.Leases; s != nil {
		s.DefaultOnChange(l.Trigger)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Run(ctx)
		}()
	}
	for {
		recheck, ok := l.once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := l.cfg.Clock.Now()
		at := now.Add(l.cfg.Interval)
		if !ok {
			at = now.Add(l.cfg.Retry)
		} else if !recheck.IsZero() && recheck.After(now) && recheck.Before(at) {
			// A RecheckAt not in the future is ignored: the computation just
			// made already saw that instant (and recomputing would spin).
			at = recheck
		}
		t := clock.TimerAt(l.cfg.Clock, at)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-l.triggerCh:
			t.Stop()
		case <-t.C():
		}
	}
}

// once computes and commits until a proposal is unchanged or committed;
// ok is false after an error (the caller retries soon).
func (l *LeaderLoop) once(ctx context.Context) (recheck time.Time, ok bool) {
	for attempt := 1; ; attempt++ {
		p, err := l.cfg.Coordinator.Propose(ctx, l.cfg.Clock.Now())
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("scheduling failed", "err", err)
			}
			return time.Time{}, false
		}
		if !p.Changed {
			return p.RecheckAt, true
		}
		for _, why := range p.Why {
			l.log.Info("placement decision", "base", p.Base, "why", why)
		}
		err = l.cfg.Coordinator.Commit(ctx, p)
		switch {
		case err == nil:
			l.log.Info("placement committed", "base", p.Base, "decisions", len(p.Why))
			return p.RecheckAt, true
		case errors.Is(err, ErrStalePlan) && attempt < 10:
			l.log.Info("plan refused as stale; recomputing", "base", p.Base, "attempt", attempt)
			continue
		default:
			if ctx.Err() == nil {
				l.log.Warn("commit failed", "base", p.Base, "err", fmt.Errorf("attempt %d: %w", attempt, err))
			}
			return time.Time{}, false
		}
	}
}

func (l *LeaderLoop) sleep(ctx context.Context, d time.Duration) bool {
	t := l.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
