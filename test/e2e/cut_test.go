package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/havenha/haven/test/netns"
)

// The link of the node holding the VIP is cut both ways (nftables in its
// namespace; its link and carrier stay up, so nothing tells it but
// silence): its lease lapses and it stops its web server and removes the
// VIP before any survivor adds the VIP or starts a server — every time,
// over three rounds, by the holder sampling (never two holders; the cut
// node's VIP gone before the new holder's appears) and by the servers' own
// start and stop stamps. Healed, the node rejoins and the service ends on
// one node.
//
// After the heal, the node's late reports and a placement computed while
// a start was under way once made the VIP flap between two nodes with both
// holding it for ~100 ms; starts are now announced in the log before they
// run and stale reports are ignored (engine/reconcile, engine/state), and two owners in
// any window fail the test.
func TestFailover_LinkCutLeaseStopsFirst(t *testing.T) {
	r := newRig(t, false)
	w := r.Bed.WatchHolders(r.VIP.Addr(), 2*time.Millisecond)
	r.StartAll()
	nodes := r.Bed.Nodes()
	const rounds = 3
	// Windows [from, to) of each phase, to classify what the holder watch
	// and the stamps show.
	var cutWin, healWin [][2]time.Time
	// Let the initial placement settle before the first cut.
	if _, err := r.WaitServing(converge); err != nil {
		t.Fatalf("initial service: %v", err)
	}
	time.Sleep(2 * time.Second)
	for round := 1; round <= rounds; round++ {
		for _, n := range nodes {
			if err := r.WaitMembers(n, len(nodes), converge); err != nil {
				t.Fatalf("round %d: before the cut: %v", round, err)
			}
		}
		old, err := r.WaitServing(converge)
		if err != nil {
			t.Fatalf("round %d: before the cut: %v", round, err)
		}
		before := len(r.Intervals())
		fault := time.Now()
		if err := r.Bed.Cut(old, netns.Both); err != nil {
			t.Fatal(err)
		}
		cur, err := r.WaitServing(converge)
		if err != nil {
			t.Fatalf("round %d: after cutting %s: %v", round, old, err)
		}
		if cur == old {
			t.Fatalf("round %d: the page is still served by %s, whose link is cut", round, old)
		}
		cutWin = append(cutWin, [2]time.Time{fault, time.Now()})
		// Holders: after the fault, old's VIP went away (a sample with no
		// holder) before cur's appeared.
		var gone, taken time.Time
		for _, c := range w.Changes() {
			if c.Time.Before(fault) {
				continue
			}
			if gone.IsZero() && !slices.Contains(c.Holders, old) {
				gone = c.Time
			}
			if taken.IsZero() && slices.Contains(c.Holders, cur) {
				taken = c.Time
			}
		}
		if gone.IsZero() || taken.IsZero() || !gone.Before(taken) {
			t.Errorf("round %d: %s's VIP gone at %v, %s's added at %v; expected the cut node's to go first",
				round, old, gone.Format("15:04:05.000"), cur, taken.Format("15:04:05.000"))
		}
		// Stamps: old's server stopped (by its lease, a SIGTERM stamp)
		// before cur's started.
		oldStop, newStart := r.Handover(old, cur, fault, before)
		if oldStop.IsZero() || newStart.IsZero() || !oldStop.Before(newStart) {
			t.Errorf("round %d: %s's server stopped at %v, %s's started at %v; expected the cut node's to stop first",
				round, old, oldStop.Format("15:04:05.000"), cur, newStart.Format("15:04:05.000"))
		}
		t.Logf("round %d: cut %s; its VIP gone after %v, its server stopped after %v; %s holds the VIP after %v, its server up after %v (figures, not checks)",
			round, old, gone.Sub(fault).Round(time.Millisecond), oldStop.Sub(fault).Round(time.Millisecond),
			cur, taken.Sub(fault).Round(time.Millisecond), newStart.Sub(fault).Round(time.Millisecond))
		healAt := time.Now()
		if err := r.Bed.Heal(old); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if err := r.WaitMembers(n, len(nodes), converge); err != nil {
				t.Fatalf("round %d: after healing %s: %v", round, old, err)
			}
		}
		if got, err := r.WaitServing(converge); err != nil {
			t.Fatalf("round %d: after healing %s: %v", round, old, err)
		} else {
			t.Logf("round %d: healed %s; the page is served by %s", round, old, got)
		}
		// Settle, then look again: one holder, one server.
		time.Sleep(2 * time.Second)
		if _, err := r.WaitServing(converge); err != nil {
			t.Fatalf("round %d: settled after healing %s: %v", round, old, err)
		}
		healWin = append(healWin, [2]time.Time{healAt, time.Now()})
	}
	w.Stop()
	if err := w.Err(); err != nil {
		t.Errorf("sampling the VIP's holders: %v", err)
	}
	in := func(ws [][2]time.Time, at time.Time) bool {
		for _, x := range ws {
			if !at.Before(x[0]) && at.Before(x[1]) {
				return true
			}
		}
		return false
	}
	var duringCut, afterHeal, other []netns.HolderSample
	for _, v := range w.Violations() {
		switch {
		case in(cutWin, v.Time):
			duringCut = append(duringCut, v)
		case in(healWin, v.Time):
			afterHeal = append(afterHeal, v)
		default:
			other = append(other, v)
		}
	}
	if len(duringCut) > 0 {
		t.Errorf("during a cut: %s", describeViolations(duringCut))
	}
	if len(other) > 0 {
		t.Errorf("outside the cut and heal windows: %s", describeViolations(other))
	}
	if len(afterHeal) > 0 {
		t.Errorf("after a heal: %s", describeViolations(afterHeal))
	}
	var ch []string
	for _, c := range w.Changes() {
		ch = append(ch, fmt.Sprintf("%s %v", c.Time.Format("15:04:05.000"), c.Holders))
	}
	t.Logf("VIP holders over %d samples: %v", w.Samples(), ch)
	for _, o := range overlaps(r.Intervals(), nil) {
		later := o[1].Start
		if o[0].Start.After(later) {
			later = o[0].Start
		}
		msg := fmt.Sprintf("web servers on %s (pid %d) and %s (pid %d) ran at the same time (from %s)",
			o[0].Node, o[0].PID, o[1].Node, o[1].PID, later.Format("15:04:05.000"))
		t.Errorf("%s", msg)
	}
}

// describeViolations summarizes samples with two or more holders.
func describeViolations(vs []netns.HolderSample) string {
	return fmt.Sprintf("two owners of the VIP at %d sampled instants, %s %v to %s %v", len(vs),
		vs[0].Time.Format("15:04:05.000"), vs[0].Holders, vs[len(vs)-1].Time.Format("15:04:05.000"), vs[len(vs)-1].Holders)
}
