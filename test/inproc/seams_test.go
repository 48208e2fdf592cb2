package inproc

// seams_test.go holds what the in-process clusters put in the node
// package's seams instead of gossip and the UDP lease wire: a membership
// the tests control and an in-memory lease transport. Raft runs on
// consensus.InmemNetwork.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/quorum"
	"github.com/havenha/haven/membership"
)

// world is the membership the tests control: partitions and downed nodes.
// Each node sees it through its memberView, which reports every change as
// membership's events.
type world struct {
	mu      sync.Mutex
	group   map[string]int
	down    map[string]bool
	votes   map[string]int
	twoNode bool
	// incarnation counts each node's starts: a peer that restarted is seen
	// joining again, as gossip sees a new instance.
	incarnation map[string]int
}

func (w *world) sees(self, n string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.down[self] && !w.down[n] && w.group[self] == w.group[n]
}

func (w *world) quorum(self string) quorum.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	total, have := 0, 0
	for n, v := range w.votes {
		total += v
		if !w.down[self] && !w.down[n] && w.group[self] == w.group[n] {
			have += v
		}
	}
	q := total/2 + 1
	if w.twoNode {
		q = 1
	}
	return quorum.Result{Quorate: have >= q, ExpectedVotes: total, HighestExpected: total, TotalVotes: have, Quorum: q, Flags: []string{}}
}

// memberView is one node's membership (node.Membership) over the world.
type memberView struct {
	w      *world
	self   string
	names  []string
	events chan membership.Event
	ready  chan struct{}

	mu      sync.Mutex
	seen    map[string]int // visible peer -> the incarnation seen
	quorate bool
	started bool
}

func newMemberView(w *world, self string, names []string) *memberView {
	ready := make(chan struct{})
	close(ready)
	return &memberView{w: w, self: self, names: names, events: make(chan membership.Event, 4096), ready: ready, seen: map[string]int{}}
}

func (v *memberView) Run(ctx context.Context) error    { <-ctx.Done(); return nil }
func (v *memberView) Ready() <-chan struct{}           { return v.ready }
func (v *memberView) Online(n string) bool             { return n == v.self || v.w.sees(v.self, n) }
func (v *memberView) Quorum() quorum.Result            { return v.w.quorum(v.self) }
func (v *memberView) EventCh() <-chan membership.Event { return v.events }
func (v *memberView) Status() membership.Status {
	s := membership.Status{Node: v.self, Quorum: v.Quorum()}
	for _, n := range v.names {
		on := v.Online(n)
		st := membership.StateDead
		if on {
			st = membership.StateOnline
		}
		s.Members = append(s.Members, membership.MemberStatus{Name: n, Votes: v.w.votes[n], Local: n == v.self, Online: on, State: st})
	}
	return s
}

// changed sends the events of what this view sees differently since the
// last call: a peer gone (dead), a peer seen again or restarted (join), a
// change of quorum.
func (v *memberView) changed() {
	v.mu.Lock()
	defer v.mu.Unlock()
	send := func(kind, node string, q quorum.Result) {
		select {
		case v.events <- membership.Event{Kind: kind, Node: node, Link: -1, At: time.Now(), Quorum: q}:
		default:
			panic("inproc: membership event buffer full")
		}
	}
	q := v.Quorum()
	for _, n := range v.names {
		if n == v.self {
			continue
		}
		v.w.mu.Lock()
		inc := v.w.incarnation[n]
		v.w.mu.Unlock()
		was, had := v.seen[n]
		switch now := v.w.sees(v.self, n); {
		case now && (!had || was != inc):
			v.seen[n] = inc
			send(membership.EventJoin, n, q)
		case !now && had:
			delete(v.seen, n)
			send(membership.EventDead, n, q)
		}
	}
	if !v.started || q.Quorate != v.quorate {
		v.started, v.quorate = true, q.Quorate
		send(membership.EventQuorum, "", q)
	}
}

// memWire is one node's lease transport (node.LeaseTransport): a renewal
// reaches the target's grant function when the world lets them see each
// other.
type memWire struct {
	c     *cluster
	from  string
	grant atomic.Pointer[func(lease.Renewal) (uint64, error)]
}

func (w *memWire) SetGrant(f func(lease.Renewal) (uint64, error)) { w.grant.Store(&f) }
func (w *memWire) Run(ctx context.Context) error                  { <-ctx.Done(); return nil }
func (w *memWire) Close() error                                   { return nil }

func (w *memWire) Renew(_ context.Context, to string, r lease.Renewal) (uint64, error) {
	if !w.c.world.sees(w.from, to) {
		return 0, fmt.Errorf("%s unreachable from %s", to, w.from)
	}
	w.c.mu.Lock()
	peer := w.c.wires[to]
	w.c.mu.Unlock()
	if peer == nil {
		return 0, fmt.Errorf("%s is not running", to)
	}
	g := peer.grant.Load()
	if g == nil {
		return 0, fmt.Errorf("the lease wire of %s answers nothing yet", to)
	}
	return (*g)(r)
}
