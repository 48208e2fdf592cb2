package lease

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/havenha/haven/engine/model"
)

// TableConfig sizes the coordinator's view of leases.
type TableConfig struct {
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

// DefaultTableConfig returns the drift and margin of engine/model's safety
// timings (model.LeaseDrift, model.LeaseMargin: 5%, a tenth of the lease,
// at least 20ms).
func DefaultTableConfig(lease time.Duration) TableConfig {
	return TableConfig{Lease: lease, Drift: model.LeaseDrift, Margin: model.LeaseMargin(lease)}
}

// Validate names every problem.
func (c TableConfig) Validate() error {
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
// Table.Acked) its lease has certainly lapsed: lease × (1 + drift) +
// margin.
func (c TableConfig) Bound() time.Duration { return model.RecoverBound(c.Lease, c.Drift, c.Margin) }

// Table is the coordinator side of leases: it records when the newest
// renewal was sent to each node and says when a lost node's resources may
// be recovered elsewhere. Pure: every method takes the time; no I/O. Safe for
// concurrent use.
type Table struct {
	cfg TableConfig

	mu          sync.Mutex
	leader      bool
	leaderSince time.Time
	sent        map[string]time.Time
	unanswered  map[string]time.Time // first send after the newest ack
	acked       map[string]time.Time
	fenced      map[string]bool
}

// NewTable returns a table that is not leader yet (SafeToRecover is
// false for every node until BecameLeader).
func NewTable(cfg TableConfig) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lease table: %w", err)
	}
	t := &Table{cfg: cfg}
	t.resetLocked()
	return t, nil
}

// Config returns the table's configuration.
func (t *Table) Config() TableConfig { return t.cfg }

// BecameLeader starts a term at at. The table forgets what it knew: a new
// coordinator does not know what its predecessor sent, so every node's lease
// counts as sent at at.
func (t *Table) BecameLeader(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leader, t.leaderSince = true, at
	t.resetLocked()
}

func (t *Table) resetLocked() {
	t.sent = map[string]time.Time{}
	t.unanswered = map[string]time.Time{}
	t.acked = map[string]time.Time{}
	t.fenced = map[string]bool{}
}

// LeaderSince returns when this table's term began, and whether it leads.
func (t *Table) LeaderSince() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leaderSince, t.leader
}

// SteppedDown ends the term: nothing is safe to recover any more.
func (t *Table) SteppedDown() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leader = false
	t.resetLocked()
}

// Sent records that a renewal is about to be sent to node at at (call it
// before sending). A new lease voids an earlier fence confirmation of that
// node. The recovery bound counts from acks (Acked), not sends.
func (t *Table) Sent(node string, at time.Time) {
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
func (t *Table) Acked(node string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.acked[node]; !ok || at.After(prev) {
		t.acked[node] = at
	}
	delete(t.unanswered, node)
}

// LastAck returns when the newest ack from node was received in this term,
// and false when none was (or this table does not lead).
func (t *Table) LastAck(node string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.acked[node]
	return a, ok && t.leader
}

// Fenced records that node's fence is confirmed: its resources may be
// recovered at once.
func (t *Table) Fenced(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fenced[node] = true
}

// RecoverAt returns the instant from which node's lease has certainly
// lapsed (the zero time when it is fenced), and false when this table is not
// the leader's.
func (t *Table) RecoverAt(node string) (time.Time, bool) {
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
// while gossip still sees it (coord.BuildInput): see LapseAt. False when this
// table is not the leader's.
func (t *Table) Lapsed(node string, now time.Time) bool {
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
func (t *Table) LapseAt(node string) (time.Time, bool) {
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
func (t *Table) SafeToRecover(node string, now time.Time) bool {
	at, ok := t.RecoverAt(node)
	if !ok {
		return false
	}
	return at.IsZero() || now.After(at)
}
