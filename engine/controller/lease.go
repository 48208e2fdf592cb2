package controller

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrStaleLease is returned by LeaseHolder.Grant and Renew for a renewal from an older
// term, or from a second leader claiming the current term.
var ErrStaleLease = errors.New("stale lease renewal")

// LeaseHolder is the node side of a resource lease (engine/DESIGN.md,
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
type LeaseHolder struct {
	lease time.Duration
	clock Clock

	mu        sync.Mutex
	term      uint64
	leader    string
	received  time.Time
	has       bool
	timer     Timer
	changedCh chan struct{}
	onExpired func()
	onExtend  func(deadline time.Time)
	tokenSeq  uint64
	tokens    map[uint64]time.Time // token -> when it was issued
	// catchUp is the highest Renewal.Index received while the lease was
	// not valid (or from a new term): see CatchUp.
	catchUp uint64
}

// NewLeaseHolder returns a holder for leases of the given length. onExpired,
// when not nil, is called (in its own goroutine) each time the lease lapses.
// No I/O, no goroutines.
func NewLeaseHolder(lease time.Duration, clock Clock, onExpired func()) (*LeaseHolder, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("lease %s is not positive; expected the profile's lease (e.g. 1s)", lease)
	}
	if clock == nil {
		return nil, errors.New("lease holder needs a clock; expected SystemClock{} or a FakeClock")
	}
	return &LeaseHolder{lease: lease, clock: clock, changedCh: make(chan struct{}, 1), onExpired: onExpired,
		tokens: map[uint64]time.Time{}}, nil
}

// Lease returns the lease length.
func (h *LeaseHolder) Lease() time.Duration { return h.lease }

// OnExtend sets f to be called, under the holder's lock (it must not block
// nor call the holder), with the new deadline each time the lease is
// extended. Set it before the first renewal.
func (h *LeaseHolder) OnExtend(f func(deadline time.Time)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onExtend = f
}

// Grant handles one renewal as this node receives it (the API handler calls
// it) and returns the token to put in the ack. It checks the term and leader
// like Renew; when r.Echo is a token this holder issued, the lease is
// extended to count from the instant it was issued. A renewal without a
// known echo (the first from a new coordinator, or after this node
// restarted) extends nothing but its ack's token makes the next one count.
func (h *LeaseHolder) Grant(r Renewal) (token uint64, err error) {
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
// older term, or another leader in the current term, gets ErrStaleLease and
// changes nothing.
func (h *LeaseHolder) Renew(term uint64, leader string, from time.Time) error {
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

func (h *LeaseHolder) acceptLocked(term uint64, leader string) error {
	if h.has || h.term > 0 {
		if term < h.term {
			return fmt.Errorf("%w: term %d from %s is older than term %d from %s", ErrStaleLease, term, leader, h.term, h.leader)
		}
		if term == h.term && leader != h.leader {
			return fmt.Errorf("%w: term %d already belongs to %s, not %s", ErrStaleLease, term, h.leader, leader)
		}
	}
	h.term, h.leader = term, leader
	return nil
}

func (h *LeaseHolder) extendLocked(from time.Time) {
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
		// waking it on every round made every node's reconciler recompute
		// eight times a second for nothing (eighth session).
		h.notify()
	}
	if h.onExtend != nil {
		h.onExtend(from.Add(h.lease))
	}
}

func (h *LeaseHolder) expire() {
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

func (h *LeaseHolder) notify() {
	select {
	case h.changedCh <- struct{}{}:
	default:
	}
}

func (h *LeaseHolder) validLocked(now time.Time) bool {
	return h.has && now.Before(h.received.Add(h.lease))
}

// CatchUp returns the state index this node must have applied before it
// acts on its desired state again: the coordinator's index stamped on the
// renewals received while the lease was not valid or came from a new term.
// A node cut off and reconnected holds a lease again at once, but its state
// (the placement) may predate what the coordinator decided meanwhile.
func (h *LeaseHolder) CatchUp() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.catchUp
}

// Valid reports whether the lease holds at now.
func (h *LeaseHolder) Valid(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.validLocked(now)
}

// Deadline returns the instant the lease lapses, and false when no renewal
// was ever accepted.
func (h *LeaseHolder) Deadline() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.received.Add(h.lease), h.has
}

// Holder returns the term and leader of the newest accepted renewal.
func (h *LeaseHolder) Holder() (term uint64, leader string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.term, h.leader
}

// ChangedCh receives a value when what a consumer of the lease reads
// changes: the lease becomes valid (first granted, or regained after a
// lapse), it lapses, the term or leader changes, or CatchUp rises
// (coalesced: one pending value at most). An extension of a valid lease
// sends nothing. One consumer.
func (h *LeaseHolder) ChangedCh() <-chan struct{} { return h.changedCh }

// Close stops the expiry timer. Safe twice.
func (h *LeaseHolder) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	return nil
}

// LeaseTableConfig sizes the coordinator's view of leases.
type LeaseTableConfig struct {
	// Lease is the lease length nodes enforce (cluster timing `lease`).
	Lease time.Duration
	// Drift is the largest relative rate difference assumed between two
	// nodes' monotonic clocks (0.05 = 5%).
	Drift float64
	// Margin is added on top: the time the lost node may need to notice the
	// lapse and to finish stopping its resources. A resource still stopping
	// there when the coordinator starts it elsewhere runs twice, so an
	// adapter should size Margin to the resources' stop times (the default,
	// lease/10, covers only resources that stop in milliseconds).
	Margin time.Duration
	// Takeover is added to the wait for a node this coordinator has not
	// heard from in its term (the bound then counts from its election): how
	// much longer than raft's own timing a deposed coordinator may go on
	// renewing after it lost its quorum. The agent feeds raft's heartbeats
	// from lease acks (consensus.Config.ContactFresh), which keeps a
	// partitioned leader confident for up to that window more: Takeover is
	// that window. 0 without it.
	Takeover time.Duration
}

// DefaultLeaseTableConfig returns drift 5% and a margin of a tenth of the
// lease (at least 20ms).
func DefaultLeaseTableConfig(lease time.Duration) LeaseTableConfig {
	m := lease / 10
	if m < 20*time.Millisecond {
		m = 20 * time.Millisecond
	}
	return LeaseTableConfig{Lease: lease, Drift: 0.05, Margin: m}
}

// Validate names every problem.
func (c LeaseTableConfig) Validate() error {
	var errs []error
	if c.Lease <= 0 {
		errs = append(errs, fmt.Errorf("lease %s is not positive; expected the profile's lease", c.Lease))
	}
	if c.Drift < 0 || c.Drift >= 1 {
		errs = append(errs, fmt.Errorf("drift %v is outside [0,1); expected a small fraction such as 0.05", c.Drift))
	}
	if c.Margin < 0 {
		errs = append(errs, fmt.Errorf("margin %s is negative; expected 0 or more", c.Margin))
	}
	if c.Takeover < 0 {
		errs = append(errs, fmt.Errorf("takeover %s is negative; expected 0 or more", c.Takeover))
	}
	return errors.Join(errs...)
}

// Bound is how long after the newest ack received from a node (see
// LeaseTable.Acked) its lease has certainly lapsed: lease × (1 + drift) +
// margin.
func (c LeaseTableConfig) Bound() time.Duration {
	return time.Duration(float64(c.Lease)*(1+c.Drift)) + c.Margin
}

// LeaseTable is the coordinator side of leases: it records when the newest
// renewal was sent to each node and says when a lost node's resources may
// be recovered elsewhere. Pure: every method takes the time; no I/O. Safe for
// concurrent use.
type LeaseTable struct {
	cfg LeaseTableConfig

	mu          sync.Mutex
	leader      bool
	leaderSince time.Time
	sent        map[string]time.Time
	unanswered  map[string]time.Time // first send after the newest ack
	acked       map[string]time.Time
	fenced      map[string]bool
}

// NewLeaseTable returns a table that is not leader yet (SafeToRecover is
// false for every node until BecameLeader).
func NewLeaseTable(cfg LeaseTableConfig) (*LeaseTable, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lease table: %w", err)
	}
	t := &LeaseTable{cfg: cfg}
	t.resetLocked()
	return t, nil
}

// Config returns the table's configuration.
func (t *LeaseTable) Config() LeaseTableConfig { return t.cfg }

// BecameLeader starts a term at at. The table forgets what it knew: a new
// coordinator does not know what its predecessor sent, so every node's lease
// counts as sent at at.
func (t *LeaseTable) BecameLeader(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leader, t.leaderSince = true, at
	t.resetLocked()
}

func (t *LeaseTable) resetLocked() {
	t.sent = map[string]time.Time{}
	t.unanswered = map[string]time.Time{}
	t.acked = map[string]time.Time{}
	t.fenced = map[string]bool{}
}

// LeaderSince returns when this table's term began, and whether it leads.
func (t *LeaseTable) LeaderSince() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leaderSince, t.leader
}

// SteppedDown ends the term: nothing is safe to recover any more.
func (t *LeaseTable) SteppedDown() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leader = false
	t.resetLocked()
}

// Sent records that a renewal is about to be sent to node at at (call it
// before sending). A new lease voids an earlier fence confirmation of that
// node. The recovery bound counts from acks (Acked), not sends.
func (t *LeaseTable) Sent(node string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.sent[node]; !ok || at.After(prev) {
		t.sent[node] = at
	}
	if _, ok := t.unanswered[node]; !ok {
		t.unanswered[node] = at
	}
	delete(t.fenced, node)
}

// Acked records that an ack from node was received at at. Call it before
// the ack's token can be echoed. A renewal extends a node's lease to
// issued(echoed token) + lease, and a token is issued before its ack is
// received, so no renewal of this term can carry the node's lease past
// lastAck + lease on the node's clock: that, not the last send, is what the
// recovery bound counts from. (Counting from the last send made a cut node
// wait until membership declared it lost, since renewals go on until then,
// plus a whole bound: about 0.8 s more on the lan profile.)
func (t *LeaseTable) Acked(node string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.acked[node]; !ok || at.After(prev) {
		t.acked[node] = at
	}
	delete(t.unanswered, node)
}

// LastAck returns when the newest ack from node was received in this term,
// and false when none was (or this table does not lead).
func (t *LeaseTable) LastAck(node string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.acked[node]
	return a, ok && t.leader
}

// Fenced records that node's fence is confirmed: its resources may be
// recovered at once.
func (t *LeaseTable) Fenced(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fenced[node] = true
}

// RecoverAt returns the instant from which node's lease has certainly
// lapsed (the zero time when it is fenced), and false when this table is not
// the leader's.
func (t *LeaseTable) RecoverAt(node string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.leader {
		return time.Time{}, false
	}
	if t.fenced[node] {
		return time.Time{}, true
	}
	if a, ok := t.acked[node]; ok && a.After(t.leaderSince) {
		return a.Add(t.cfg.Bound()), true
	}
	return t.leaderSince.Add(t.cfg.Bound() + t.cfg.Takeover), true
}

// Lapsed reports whether node's lease has certainly lapsed at now on the
// table's evidence alone, so the coordinator treats the node as lost even
// while gossip still sees it (BuildInput): see LapseAt. False when this
// table is not the leader's.
func (t *LeaseTable) Lapsed(node string, now time.Time) bool {
	at, ok := t.LapseAt(node)
	return ok && now.After(at)
}

// LapseAt returns the instant from which Lapsed(node) holds if nothing
// changes: the node's lease has certainly lapsed (RecoverAt, counted from
// its newest ack or, never heard from in this term, from the election) and
// a renewal has gone unanswered for a quarter lease (two rounds). The
// second condition keeps a coordinator that could not send (frozen itself,
// or just elected) from declaring nodes lost that it has not tried to
// renew: their leases did lapse, but they will ack the next renewal. ok
// is false when this table does not lead, when the node is fenced (not
// lease evidence), or when no renewal is unanswered.
func (t *LeaseTable) LapseAt(node string) (time.Time, bool) {
	at, ok := t.RecoverAt(node)
	if !ok || at.IsZero() {
		return time.Time{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.unanswered[node]
	if !ok {
		return time.Time{}, false
	}
	if q := u.Add(t.cfg.Lease / 4); q.After(at) {
		at = q
	}
	return at, true
}

// SafeToRecover reports whether node's resources may be started elsewhere at
// now: its fence is confirmed, or now is after lastAck + lease × (1 +
// drift) + margin, where lastAck (see Acked) is never earlier than this
// leader's election.
func (t *LeaseTable) SafeToRecover(node string, now time.Time) bool {
	at, ok := t.RecoverAt(node)
	if !ok {
		return false
	}
	return at.IsZero() || now.After(at)
}
