package lease

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/havenha/haven/engine/clock"
)

// ErrStale is returned by Holder.Grant and Renew for a renewal from an older
// term, or from a second leader claiming the current term.
var ErrStale = errors.New("stale lease renewal")

// Holder is the node side of a resource lease (engine/DESIGN.md,
// "Leases"). The node may run resources while now < from + lease, where
// from is a local monotonic instant that certainly precedes the
// coordinator's recorded send of the newest accepted renewal. The lease
// lapses at that instant exactly (the design says "more than lease";
// lapsing at the boundary is the safe side).
//
// Why not count from when the renewal arrived: a renewal can reach the
// node late — delayed in a socket buffer, or read after the process was
// paused (SIGSTOP, a long GC or VM stall) — and counting from its arrival
// would stretch the node's lease past the coordinator's bound. So every
// ack carries a token (Grant returns it), the coordinator echoes the
// newest token it received in its next renewal, and the lease counts from
// the instant the node issued that token: before the ack left, so before the
// coordinator received it and recorded the renewal as sent. A renewal's
// delivery delay then only ever shortens the lease.
//
// Safe for concurrent use.
type Holder struct {
	lease time.Duration
	clock clock.Clock

	mu        sync.Mutex
	term      uint64
	leader    string
	received  time.Time
	has       bool
	timer     clock.Timer
	changedCh chan struct{}
	onExpired func()
	onExtend  func(deadline time.Time)
	tokenSeq  uint64
	tokens    map[uint64]time.Time // token -> when it was issued
	// catchUp is the highest Renewal.Index received while the lease was
	// not valid (or from a new term): see CatchUp.
	catchUp uint64
}

// NewHolder returns a holder for leases of the given length. onExpired,
// when not nil, is called (in its own goroutine) each time the lease lapses.
// No I/O, no goroutines.
func NewHolder(lease time.Duration, clock clock.Clock, onExpired func()) (*Holder, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("lease %s is not positive; expected the profile's lease (e.g. 1s)", lease)
	}
	if clock == nil {
		return nil, errors.New("lease holder needs a clock; expected clock.System{} or a clock.Fake")
	}
	return &Holder{lease: lease, clock: clock, changedCh: make(chan struct{}, 1), onExpired: onExpired,
		tokens: map[uint64]time.Time{}}, nil
}

// Lease returns the lease length.
func (h *Holder) Lease() time.Duration { return h.lease }

// OnExtend sets f to be called, under the holder's lock (it must not block
// nor call the holder), with the new deadline each time the lease is
// extended. Set it before the first renewal.
func (h *Holder) OnExtend(f func(deadline time.Time)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onExtend = f
}

// Grant handles one renewal as this node receives it (the lease transport
// calls it) and returns the token to put in the ack. It checks the term and leader
// like Renew; when r.Echo is a token this holder issued, the lease is
// extended to count from the instant it was issued. A renewal without a
// known echo (the first from a new coordinator, or after this node
// restarted) extends nothing but its ack's token makes the next one count.
func (h *Holder) Grant(r Renewal) (token uint64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prevTerm, prevLeader := h.term, h.leader
	now := h.clock.Now()
	wasValid := h.validLocked(now)
	if err := h.acceptLocked(r.Term, r.Leader); err != nil {
		return 0, err
	}
	if (!wasValid || r.Term != prevTerm) && r.Index > h.catchUp {
		h.catchUp = r.Index
		h.notify()
	}
	if r.Term != prevTerm || r.Leader != prevLeader {
		h.notify()
	}
	if from, ok := h.tokens[r.Echo]; ok && r.Echo != 0 {
		h.extendLocked(from)
	}
	for t, at := range h.tokens {
		if now.Sub(at) >= h.lease { // would grant an already lapsed lease
			delete(h.tokens, t)
		}
	}
	h.tokenSeq++
	h.tokens[h.tokenSeq] = now
	return h.tokenSeq, nil
}

// Renew records a renewal from leader in term whose lease counts from from.
// from must precede, in real time, the coordinator's recorded send of this
// renewal (Grant guarantees it; counting from the arrival time does not).
// It accepts the current term from the same leader and any newer term; an
// older term, or another leader in the current term, gets ErrStale and
// changes nothing.
func (h *Holder) Renew(term uint64, leader string, from time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	prevTerm, prevLeader := h.term, h.leader
	if err := h.acceptLocked(term, leader); err != nil {
		return err
	}
	if term != prevTerm || leader != prevLeader {
		h.notify()
	}
	h.extendLocked(from)
	return nil
}

func (h *Holder) acceptLocked(term uint64, leader string) error {
	if h.has || h.term > 0 {
		if term < h.term {
			return fmt.Errorf("%w: term %d from %s is older than term %d from %s", ErrStale, term, leader, h.term, h.leader)
		}
		if term == h.term && leader != h.leader {
			return fmt.Errorf("%w: term %d already belongs to %s, not %s", ErrStale, term, h.leader, leader)
		}
	}
	h.term, h.leader = term, leader
	return nil
}

func (h *Holder) extendLocked(from time.Time) {
	if h.has && !from.After(h.received) {
		return // an older grant; the newer one stands
	}
	now := h.clock.Now()
	wasValid := h.validLocked(now)
	h.received, h.has = from, true
	if h.timer != nil {
		h.timer.Stop()
	}
	wait := from.Add(h.lease).Sub(now)
	h.timer = h.clock.AfterFunc(wait, h.expire)
	if !wasValid {
		// Regained (or first granted). A valid lease merely extended
		// changes nothing the consumer reads (Valid, CatchUp, the term):
		// waking it on every round would make every node's reconciler
		// recompute eight times a second for nothing.
		h.notify()
	}
	if h.onExtend != nil {
		h.onExtend(from.Add(h.lease))
	}
}

func (h *Holder) expire() {
	h.mu.Lock()
	lapsed := h.has && !h.validLocked(h.clock.Now())
	f := h.onExpired
	if lapsed {
		h.notify()
	}
	h.mu.Unlock()
	if lapsed && f != nil {
		f()
	}
}

func (h *Holder) notify() {
	select {
	case h.changedCh <- struct{}{}:
	default:
	}
}

func (h *Holder) validLocked(now time.Time) bool {
	return h.has && now.Before(h.received.Add(h.lease))
}

// CatchUp returns the state index this node must have applied before it
// acts on its desired state again: the coordinator's index stamped on the
// renewals received while the lease was not valid or came from a new term.
// A node cut off and reconnected holds a lease again at once, but its state
// (the placement) may predate what the coordinator decided meanwhile.
func (h *Holder) CatchUp() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.catchUp
}

// Valid reports whether the lease holds at now.
func (h *Holder) Valid(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.validLocked(now)
}

// Deadline returns the instant the lease lapses, and false when no renewal
// was ever accepted.
func (h *Holder) Deadline() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.received.Add(h.lease), h.has
}

// Holder returns the term and leader of the newest accepted renewal.
func (h *Holder) Holder() (term uint64, leader string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.term, h.leader
}

// ChangedCh receives a value when what a consumer of the lease reads
// changes: the lease becomes valid (first granted, or regained after a
// lapse), it lapses, the term or leader changes, or CatchUp rises
// (coalesced: one pending value at most). An extension of a valid lease
// sends nothing. One consumer.
func (h *Holder) ChangedCh() <-chan struct{} { return h.changedCh }

// Close stops the expiry timer. Safe twice.
func (h *Holder) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	return nil
}
