package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/test/netns"
)

// pollFor polls cond every 100 ms until it holds or timeout passes.
func pollFor(timeout time.Duration, cond func() bool) error {
	return netns.Poll(timeout, 100*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return errors.New("not yet")
	})
}

// The node holding the VIP loses only its lease wire: a firewall in its
// namespace drops UDP on its api_port (renewals and acks), while gossip,
// raft and the API still pass, so gossip goes on seeing it alive. Its
// lease lapses, it stops the web server and removes the VIP; the
// coordinator, having had no ack for a whole bound, treats it as lost
// (engine/coord BuildInput) and the service moves to another node —
// before, it stayed stopped on the node gossip called alive. Never two
// holders, and the blocked node's server stops before the new one starts.
// Unblocked, the node acks again and the service stays on one node.
func TestFailover_LeaseWireBlockedServiceMoves(t *testing.T) {
	r := newRig(t, false)
	w := r.Bed.WatchHolders(r.VIP.Addr(), 2*time.Millisecond)
	r.StartAll()
	nodes := r.Bed.Nodes()
	old, err := r.WaitServing(converge)
	if err != nil {
		t.Fatalf("initial service: %v", err)
	}
	// The coordinator renews its own lease in-process: blocking its wire
	// would lapse the others', not its own. Wait until the holder is not it
	// (the coordinator hands its role to a node that runs nothing).
	var st struct{ leader string }
	if err := pollFor(converge, func() bool {
		s, err := r.Status(old)
		st.leader = s.Leader
		return err == nil && s.Leader != "" && s.Leader != old
	}); err != nil {
		t.Fatalf("the VIP's holder %s is still the coordinator (%s)", old, st.leader)
	}
	for _, n := range nodes {
		if err := r.WaitMembers(n, len(nodes), converge); err != nil {
			t.Fatal(err)
		}
	}
	before := len(r.Intervals())
	fault := time.Now()
	if err := r.Bed.DropUDP(old, r.C.Node(old).API); err != nil {
		t.Fatal(err)
	}
	// The page is served by old until its lease lapses: wait for another.
	var cur string
	if err := pollFor(converge, func() bool {
		n, err := r.WaitServing(5 * time.Second)
		cur = n
		return err == nil && n != old
	}); err != nil {
		t.Fatalf("after blocking %s's lease wire, the page is not served by another node (last: %q)", old, cur)
	}
	// Gossip still sees the blocked node: it was the lease that moved it.
	if s, err := r.Status(cur); err != nil {
		t.Fatal(err)
	} else {
		for _, n := range s.Nodes {
			if n.Name == old && n.State == "offline" {
				t.Errorf("gossip on %s sees %s offline; the test wanted only its lease wire blocked", cur, old)
			}
		}
	}
	oldStop, newStart := r.Handover(old, cur, fault, before)
	if oldStop.IsZero() || newStart.IsZero() || !oldStop.Before(newStart) {
		t.Errorf("%s's server stopped at %v, %s's started at %v; expected the blocked node's to stop first",
			old, oldStop.Format("15:04:05.000"), cur, newStart.Format("15:04:05.000"))
	}
	t.Logf("blocked %s's lease wire; its server stopped after %v; %s's up after %v (figures, not checks)",
		old, oldStop.Sub(fault).Round(time.Millisecond), cur, newStart.Sub(fault).Round(time.Millisecond))
	// The coordinator's status names it (whichever node coordinates: a
	// coordinator elected after the block lapses it after its own bound).
	if err := pollFor(converge, func() bool {
		for _, n := range nodes {
			s, err := r.Status(n)
			if err != nil || s.Controller == nil || !s.Controller.Leading {
				continue
			}
			for _, nv := range s.Nodes {
				if nv.Name == old && nv.State == "no-lease" {
					return true
				}
			}
		}
		return false
	}); err != nil {
		t.Errorf("no coordinator's status shows %s as no-lease while its lease wire is blocked", old)
	}
	// No coordinator handed its role to the blocked node (gossip sees it,
	// but as coordinator it could renew no one's lease).
	for _, n := range nodes {
		for _, l := range strings.Split(r.C.Node(n).Log(), "\n") {
			if strings.Contains(l, "handing the coordinator role over") && strings.Contains(l, "to="+old) {
				t.Errorf("%s handed the coordinator role to %s, whose lease wire is blocked: %s", n, old, l)
			}
		}
	}
	if err := r.Bed.Heal(old); err != nil {
		t.Fatal(err)
	}
	// Unblocked: the node holds a lease again (the coordinator of the
	// moment renews it; the coordinator that declared it lost logs its
	// return unless it handed its role over meanwhile) and the service
	// stays on one node.
	if err := pollFor(converge, func() bool {
		s, err := r.Status(old)
		return err == nil && s.Controller != nil && s.Controller.LeaseValid
	}); err != nil {
		t.Errorf("%s holds no lease after its lease wire was unblocked", old)
	}
	if _, err := r.WaitServing(converge); err != nil {
		t.Fatalf("after unblocking %s: %v", old, err)
	}
	checkOneOwner(t, w)
}
