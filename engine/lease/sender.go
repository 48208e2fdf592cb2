package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/model"
)

// Renewal is one lease renewal from the coordinator.
type Renewal struct {
	Term   uint64 // the raft term of the coordinator
	Leader string // the coordinator's node name
	// Echo is the token of the newest ack received from the node (0: none
	// yet); the node's lease counts from when it issued that token.
	Echo uint64
	// Index is the coordinator's applied state index when it sent the
	// renewal. A node whose lease was not valid (lapsed, never granted, or
	// another term) starts nothing until its own state has applied that
	// index: its view from before a cut may be stale (Holder.CatchUp).
	Index uint64
}

// Renewer sends one lease renewal to one node (outside the raft log) and
// returns the token of the node's ack, or an error when ctx ends first. The
// node side answers with Holder.Grant(r). This package declares it and
// opens no socket: leasewire.Wire implements it over authenticated UDP
// datagrams, test/inproc in memory.
type Renewer interface {
	Renew(ctx context.Context, node string, r Renewal) (ack uint64, err error)
}

// SenderConfig configures the coordinator's renewal loop.
type SenderConfig struct {
	Table   *Table
	Renewer Renewer
	Clock   clock.Clock
	Logger  *slog.Logger
	// Term and Leader identify this coordinator's term.
	Term   uint64
	Leader string
	// Index, when not nil, returns the coordinator's applied state index,
	// stamped on each renewal (Renewal.Index).
	Index func() uint64
	// Nodes returns the nodes to renew now: the members the coordinator
	// considers alive. (Listing a node that is gone costs a few datagrams:
	// the table's bound counts from acks, not sends.)
	Nodes func() []string
	// OnChange, when not nil, is called (in its own goroutine or the
	// sender's, never under a lock) when a listed node's lease certainly
	// lapses in the table (Table.Lapsed) and when such a node acks
	// again: the coordinator treats the node as lost meanwhile, so it must
	// recompute at both instants (coord.LeaderLoop.Trigger). A timer per node
	// is moved on every ack; it fires only when the acks stop.
	OnChange func()
	// Interval between rounds; default model.LeaseRound, lease/8. A round is one renewal
	// echoing the token of the previous round's ack, so it extends the
	// node's lease to about the previous round's time + lease: the lease
	// left never falls below lease - 2 intervals (three quarters) while
	// rounds arrive, and five lost rounds in a row still leave a quarter.
	// The acks arrive evenly, every interval, which is what lets them stand
	// in for raft's heartbeats (consensus.Config.ContactFresh, whose window
	// is longer than an interval): while the wire is healthy no real
	// heartbeat goes out. (Two exchanges back to back every lease/4 would
	// send as many datagrams, bunched, and leave gaps between rounds that
	// real heartbeats fill.)
	Interval time.Duration
}

// Sender renews every node's lease every Interval while the coordinator
// holds leadership (run it under the leader context).
type Sender struct {
	cfg SenderConfig
}

// NewSender checks cfg; no I/O.
func NewSender(cfg SenderConfig) (*Sender, error) {
	var errs []error
	if cfg.Table == nil {
		errs = append(errs, errors.New("lease sender: Table is nil; expected the coordinator's Table"))
	}
	if cfg.Renewer == nil {
		errs = append(errs, errors.New("lease sender: Renewer is nil; expected the lease transport (a leasewire.Wire)"))
	}
	if cfg.Clock == nil {
		errs = append(errs, errors.New("lease sender: Clock is nil; expected clock.System{} or a clock.Fake"))
	}
	if cfg.Nodes == nil {
		errs = append(errs, errors.New("lease sender: Nodes is nil; expected the live members' names"))
	}
	if cfg.Leader == "" {
		errs = append(errs, errors.New("lease sender: Leader is empty; expected this node's name"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 && cfg.Table != nil {
		cfg.Interval = model.LeaseRound(cfg.Table.Config().Lease)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{cfg: cfg}, nil
}

// errNextRound ends a renewal that got no answer before the next round,
// which sends a fresh one (with the newest token to echo) instead.
var errNextRound = errors.New("no answer before the next round")

// renewJob is one round's renewal for one node's worker.
type renewJob struct {
	ctx context.Context // cancelled with errNextRound at the next round
	r   Renewal
}

// Run sends a round at once (a new coordinator renews every node it can
// reach immediately), then every Interval, until ctx ends. Each renewal
// waits for its answer until the next round, which replaces one still
// unanswered with a fresh renewal: a lost datagram is retried a round
// later (the wire does not resend). Run returns after every send it
// started has returned.
//
// The rounds come from Clock.NewTicker and a renewal is bounded by the
// next round, not by a timer of its own, so a round is one wake-up in all:
// an idle coordinator's CPU is its wake-ups (docs/bench/idle.md). For the
// same reason each node's renewals are sent by a worker goroutine of its
// own that lives as long as Run, and a node's lapse timer is armed only
// once a renewal from an earlier round is unanswered (lapseWatch.round): a
// round of a healthy cluster starts no goroutine and sets no timer.
func (s *Sender) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	failing := map[string]bool{}
	acks := map[string]uint64{}
	base := Renewal{Term: s.cfg.Term, Leader: s.cfg.Leader}
	watch := &lapseWatch{table: s.cfg.Table, clock: s.cfg.Clock, onChange: s.cfg.OnChange,
		timers: map[string]clock.Timer{}, lapsed: map[string]bool{}, known: map[string]bool{}}
	defer watch.stop()
	acked := func(node string) {
		// Before the token can be echoed: the bound counts from here.
		s.cfg.Table.Acked(node, s.cfg.Clock.Now())
		watch.acked(node)
	}
	renew := func(node string, j renewJob) {
		r, rctx := j.r, j.ctx
		ack, err := s.cfg.Renewer.Renew(rctx, node, r)
		if err == nil {
			acked(node)
		}
		if err == nil && r.Echo == 0 && rctx.Err() == nil {
			// First contact in this term: the renewal had nothing to
			// echo, so it extended nothing. Echo its ack at once, or
			// the node's lease would be extended only at the next
			// round: after a coordinator's loss that interval comes
			// out of the survivors' slack before the new coordinator
			// holds their leases. Safe: the token was issued before
			// its ack was recorded (Acked above).
			r2 := r
			r2.Echo = ack
			if s.cfg.Index != nil {
				r2.Index = s.cfg.Index()
			}
			s.cfg.Table.Sent(node, s.cfg.Clock.Now())
			if ack2, err2 := s.cfg.Renewer.Renew(rctx, node, r2); err2 == nil {
				acked(node)
				ack = ack2
			}
		}
		mu.Lock()
		if err == nil {
			acks[node] = ack
		}
		was := failing[node]
		failing[node] = err != nil
		mu.Unlock()
		if err != nil && !errors.Is(err, errNextRound) && errors.Is(context.Cause(rctx), errNextRound) {
			// A Renewer that reports ctx.Err() rather than its cause.
			err = fmt.Errorf("%w: %w", err, errNextRound)
		}
		switch {
		case err != nil && !was && ctx.Err() == nil:
			s.cfg.Logger.Warn("lease renewal failed", "node", node, "term", r.Term, "err", err)
		case err == nil && was:
			s.cfg.Logger.Info("lease renewal reaches node again", "node", node, "term", r.Term)
		}
	}
	workers := map[string]chan renewJob{}
	defer func() {
		for _, c := range workers {
			close(c)
		}
	}()
	ticker := s.cfg.Clock.NewTicker(s.cfg.Interval)
	defer ticker.Stop()
	endRound := func(error) {}
	defer func() { endRound(context.Canceled) }()
	for {
		// The previous round's renewals still unanswered give way to
		// this round's.
		endRound(errNextRound)
		rctx, cancel := context.WithCancelCause(ctx)
		endRound = cancel
		// Before this round's sends: what is unanswered now is from an
		// earlier round.
		watch.round()
		for _, node := range s.cfg.Nodes() {
			mu.Lock()
			r := base
			r.Echo = acks[node]
			if s.cfg.Index != nil {
				r.Index = s.cfg.Index()
			}
			mu.Unlock()
			// Record before sending: the renewal may arrive even if the
			// ack is lost.
			s.cfg.Table.Sent(node, s.cfg.Clock.Now())
			watch.sent(node)
			c, ok := workers[node]
			if !ok {
				c = make(chan renewJob, 1)
				workers[node] = c
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range c {
						renew(node, j)
					}
				}()
			}
			j := renewJob{ctx: rctx, r: r}
			select {
			case c <- j:
			default:
				// The worker has not taken the last round's job yet (it
				// is still returning from the renewal before): this one
				// replaces it. Only this loop sends on c, so the second
				// send cannot block.
				select {
				case <-c:
				default:
				}
				c <- j
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// Interval is the time between two rounds.
func (s *Sender) Interval() time.Duration { return s.cfg.Interval }

// Table returns the table the sender records its renewals and acks in.
func (s *Sender) Table() *Table { return s.cfg.Table }

// DefaultOnChange makes f the sender's OnChange unless its configuration
// gave one (the leader loop passes its Trigger). Call it before Run.
func (s *Sender) DefaultOnChange(f func()) {
	if s.cfg.OnChange == nil {
		s.cfg.OnChange = f
	}
}

// String describes the sender for logs.
func (s *Sender) String() string {
	return fmt.Sprintf("lease sender term %d leader %s every %s", s.cfg.Term, s.cfg.Leader, s.cfg.Interval)
}

// lapseWatch calls onChange when a node's lease certainly lapses in the
// table and when a lapsed node acks again. A node gets an AfterFunc timer,
// set for the instant the table's bound passes, only once a renewal from an
// earlier round is unanswered (round, at the start of each round); its ack
// removes the timer. That instant (Table.LapseAt) is at least a
// quarter lease, two rounds, after the first unanswered send, so arming
// it a round after that send is in time, and a healthy cluster's rounds
// set no timer (arming one per send and moving it per ack would be two
// timer operations per node per round).
type lapseWatch struct {
	table    *Table
	clock    clock.Clock
	onChange func()

	mu      sync.Mutex
	stopped bool
	timers  map[string]clock.Timer
	lapsed  map[string]bool
	known   map[string]bool // every node sent a renewal in this term
}

// sent records that node was sent a renewal (call it after the round's
// Sent): the next rounds watch it, listed or not.
func (w *lapseWatch) sent(node string) {
	w.mu.Lock()
	w.known[node] = true
	w.mu.Unlock()
}

// round arms the timer of every node sent a renewal in this term that has
// one unanswered and no timer yet. Call it at the start of a round, before
// its sends: what is unanswered then was sent in an earlier round (nodes
// no longer listed included: their timer still reports the lapse).
func (w *lapseWatch) round() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for node := range w.known {
		if _, ok := w.timers[node]; !ok {
			w.armLocked(node)
		}
	}
}

// acked removes node's timer (its ack answered everything sent before)
// and reports a node that had lapsed.
func (w *lapseWatch) acked(node string) {
	w.mu.Lock()
	was := w.lapsed[node]
	delete(w.lapsed, node)
	if t, ok := w.timers[node]; ok {
		t.Stop()
		delete(w.timers, node)
	}
	w.mu.Unlock()
	if was && w.onChange != nil {
		w.onChange()
	}
}

func (w *lapseWatch) armLocked(node string) {
	if w.stopped || w.onChange == nil {
		return
	}
	if t, ok := w.timers[node]; ok {
		t.Stop()
		delete(w.timers, node)
	}
	at, ok := w.table.LapseAt(node)
	if !ok {
		return // nothing unanswered: a later round arms it if need be
	}
	// One tick past the instant: Lapsed is strict.
	w.timers[node] = w.clock.AfterFunc(at.Sub(w.clock.Now())+time.Millisecond, func() { w.fire(node) })
}

func (w *lapseWatch) fire(node string) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	changed := false
	if w.table.Lapsed(node, w.clock.Now()) {
		changed = !w.lapsed[node]
		w.lapsed[node] = true
	} else {
		w.armLocked(node) // an ack or a later send moved the instant
	}
	w.mu.Unlock()
	if changed {
		w.onChange()
	}
}

func (w *lapseWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	for _, t := range w.timers {
		t.Stop()
	}
}
