package lease

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
)

func TestLeaseTable_Bound(t *testing.T) {
	c := TableConfig{Lease: time.Second, Drift: 0.05, Margin: 100 * time.Millisecond}
	if got, want := c.Bound(), 1150*time.Millisecond; got != want {
		t.Fatalf("bound %s; want %s (lease x (1+drift) + margin)", got, want)
	}
	d := DefaultTableConfig(time.Second)
	if d.Drift != 0.05 || d.Margin != 100*time.Millisecond {
		t.Fatalf("defaults %+v", d)
	}
	if d := DefaultTableConfig(50 * time.Millisecond); d.Margin != 20*time.Millisecond {
		t.Fatalf("margin %s for a 50ms lease; want the 20ms floor", d.Margin)
	}
	err := TableConfig{Lease: 0, Drift: 1.5, Margin: -1}.Validate()
	for _, want := range []string{"lease 0s is not positive", "drift 1.5 is outside", "margin -1ns is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %v does not say %q", err, want)
		}
	}
}

// TestLeaseTable_Rules checks every rule of engine/DESIGN.md's lease section
// on the coordinator side. Times are offsets from t0; bound is 1.15s.
func TestLeaseTable_Rules(t *testing.T) {
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type ev struct {
		kind string // leader, sent, acked, fenced, down
		node string
		at   int // ms
	}
	type check struct {
		node string
		at   int
		safe bool
	}
	cases := []struct {
		name   string
		events []ev
		checks []check
	}{
		{"not leader: nothing is ever safe", nil,
			[]check{{"n2", 0, false}, {"n2", 1e6, false}}},
		{"new leader waits a full lease plus margin from its election", []ev{{"leader", "", 0}},
			[]check{{"n2", 0, false}, {"n2", 1149, false}, {"n2", 1150, false}, {"n2", 1151, true}}},
		{"lost node: safe only after lastAck + lease x (1+drift) + margin", []ev{{"leader", "", 0}, {"acked", "n2", 0}, {"acked", "n2", 300}, {"acked", "n2", 600}},
			[]check{{"n2", 1151, false}, {"n2", 1750, false}, {"n2", 1751, true}}},
		{"unacked sends do not push it back (a renewal can only echo a token already acked)", []ev{{"leader", "", 0}, {"acked", "n2", 300}, {"sent", "n2", 550}, {"sent", "n2", 800}},
			[]check{{"n2", 1450, false}, {"n2", 1451, true}}},
		{"an older Acked does not move it back", []ev{{"leader", "", 0}, {"acked", "n2", 600}, {"acked", "n2", 300}},
			[]check{{"n2", 1750, false}, {"n2", 1751, true}}},
		{"an Acked before the election does not shorten the wait", []ev{{"leader", "", 1000}, {"acked", "n2", 500}},
			[]check{{"n2", 1700, false}, {"n2", 2150, false}, {"n2", 2151, true}}},
		{"nodes are independent", []ev{{"leader", "", 0}, {"acked", "n2", 0}, {"acked", "n3", 900}},
			[]check{{"n2", 1151, true}, {"n3", 1151, false}, {"n3", 2051, true}}},
		{"a confirmed fence makes it safe at once", []ev{{"leader", "", 0}, {"sent", "n2", 100}, {"fenced", "n2", 150}},
			[]check{{"n2", 150, true}, {"n3", 150, false}}},
		{"a new lease after the fence voids it", []ev{{"leader", "", 0}, {"fenced", "n2", 100}, {"sent", "n2", 200}, {"acked", "n2", 200}},
			[]check{{"n2", 200, false}, {"n2", 1350, false}, {"n2", 1351, true}}},
		{"a new term forgets acks and fences: wait a full lease from the new election", []ev{{"leader", "", 0}, {"acked", "n2", 0}, {"fenced", "n3", 0}, {"leader", "", 5000}},
			[]check{{"n2", 5000, false}, {"n3", 5000, false}, {"n2", 6150, false}, {"n2", 6151, true}}},
		{"stepping down makes nothing safe", []ev{{"leader", "", 0}, {"fenced", "n2", 0}, {"down", "", 10}},
			[]check{{"n2", 10, false}, {"n2", 1e6, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab, err := NewTable(TableConfig{Lease: time.Second, Drift: 0.05, Margin: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range c.events {
				switch e.kind {
				case "leader":
					tab.BecameLeader(ms(e.at))
				case "sent":
					tab.Sent(e.node, ms(e.at))
				case "acked":
					tab.Acked(e.node, ms(e.at))
				case "fenced":
					tab.Fenced(e.node)
				case "down":
					tab.SteppedDown()
				}
			}
			for _, ch := range c.checks {
				if got := tab.SafeToRecover(ch.node, ms(ch.at)); got != ch.safe {
					t.Errorf("SafeToRecover(%s, +%dms) = %v; want %v", ch.node, ch.at, got, ch.safe)
				}
			}
		})
	}
}

func TestLeaseHolder_Rules(t *testing.T) {
	clk := clock.NewFake(t0)
	var expired atomic.Int32
	h, err := NewHolder(time.Second, clk, func() { expired.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Valid(t0) {
		t.Fatal("valid before any renewal")
	}
	if _, ok := h.Deadline(); ok {
		t.Fatal("deadline before any renewal")
	}
	if err := h.Renew(3, "n1", t0); err != nil {
		t.Fatal(err)
	}
	<-h.ChangedCh()
	if !h.Valid(t0.Add(999*time.Millisecond)) || h.Valid(t0.Add(time.Second)) {
		t.Fatal("lease must hold for [received, received+lease) and lapse at received+lease")
	}
	// An older term is refused and does not extend the lease.
	if err := h.Renew(2, "n2", t0.Add(500*time.Millisecond)); !errors.Is(err, ErrStale) {
		t.Fatalf("older term: %v; want ErrStale", err)
	}
	// Another leader in the same term is refused.
	if err := h.Renew(3, "n2", t0.Add(500*time.Millisecond)); !errors.Is(err, ErrStale) {
		t.Fatalf("second leader in a term: %v; want ErrStale", err)
	}
	if dl, _ := h.Deadline(); !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v after refused renewals; want unchanged", dl)
	}
	// The current term's leader renews; a newer term's leader takes over.
	clk.Advance(500 * time.Millisecond)
	if err := h.Renew(3, "n1", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := h.Renew(4, "n2", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if term, leader := h.Holder(); term != 4 || leader != "n2" {
		t.Fatalf("holder %d %s; want 4 n2", term, leader)
	}
	// A delayed renewal received earlier does not shorten the lease.
	if err := h.Renew(4, "n2", t0); err != nil {
		t.Fatal(err)
	}
	if dl, _ := h.Deadline(); !dl.Equal(t0.Add(1500 * time.Millisecond)) {
		t.Fatalf("deadline %v; want t0+1.5s", dl)
	}
	// The superseded expiry (t0+1s) must not fire.
	clk.Advance(999 * time.Millisecond)
	if expired.Load() != 0 {
		t.Fatal("expired before the newest deadline")
	}
	for len(h.ChangedCh()) > 0 {
		<-h.ChangedCh()
	}
	clk.Advance(time.Millisecond)
	eventually(t, "expiry callback", func() bool { return expired.Load() == 1 })
	<-h.ChangedCh()
	if h.Valid(clk.Now()) {
		t.Fatal("valid at its deadline")
	}
	if _, err := NewHolder(0, clk, nil); err == nil {
		t.Fatal("accepted a zero lease")
	}
}

func TestLeaseHolder_GrantCountsFromTheEchoedToken(t *testing.T) {
	clk := clock.NewFake(t0)
	h, err := NewHolder(time.Second, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// The first renewal of a coordinator grants nothing yet: no echo.
	tok1, err := h.Grant(Renewal{Term: 1, Leader: "n1"})
	if err != nil || tok1 == 0 {
		t.Fatalf("Grant: %d %v", tok1, err)
	}
	if h.Valid(clk.Now()) {
		t.Fatal("valid after a renewal without echo")
	}
	clk.Advance(300 * time.Millisecond)
	tok2, err := h.Grant(Renewal{Term: 1, Leader: "n1", Echo: tok1})
	if err != nil {
		t.Fatal(err)
	}
	if dl, ok := h.Deadline(); !ok || !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v %v; want t0+1s (from when tok1 was issued, not from arrival)", dl, ok)
	}
	// An echo this holder never issued (a restarted node) extends nothing.
	clk.Advance(300 * time.Millisecond)
	if _, err := h.Grant(Renewal{Term: 1, Leader: "n1", Echo: 999}); err != nil {
		t.Fatal(err)
	}
	if dl, _ := h.Deadline(); !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v moved on an unknown echo", dl)
	}
	// A stale term gets no token and changes nothing.
	if tok, err := h.Grant(Renewal{Term: 0, Leader: "n0", Echo: tok2}); !errors.Is(err, ErrStale) || tok != 0 {
		t.Fatalf("stale term: %d %v; want 0 and ErrStale", tok, err)
	}
	if dl, _ := h.Deadline(); !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v moved on a stale term", dl)
	}
	// A delayed echo that is older than the newest grant does not shorten it.
	if _, err := h.Grant(Renewal{Term: 1, Leader: "n1", Echo: tok1}); err != nil {
		t.Fatal(err)
	}
	if dl, _ := h.Deadline(); !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v after an old echo", dl)
	}
	_ = tok2
}

// A renewal read long after it was sent (the node was paused, or the packet
// sat in a buffer) must not stretch the node's lease past the instant the
// coordinator considers it lapsed.
func TestLease_DelayedRenewalNeverOutlivesTheCoordinatorsBound(t *testing.T) {
	for _, delay := range []time.Duration{0, 100 * time.Millisecond, 900 * time.Millisecond, 1100 * time.Millisecond, 5 * time.Second, time.Minute} {
		clk := clock.NewFake(t0)
		h, _ := NewHolder(time.Second, clk, nil)
		tab, _ := NewTable(DefaultTableConfig(time.Second))
		tab.BecameLeader(t0)
		// Handshake: one renewal and its ack.
		tab.Sent("n2", clk.Now())
		tok, _ := h.Grant(Renewal{Term: 1, Leader: "n1"})
		tab.Acked("n2", clk.Now())
		// Renewals every 333ms, each echoing the last ack, until the last one,
		// which is sent and then delivered only after delay.
		for i := 0; i < 3; i++ {
			clk.Advance(333 * time.Millisecond)
			tab.Sent("n2", clk.Now())
			tok, _ = h.Grant(Renewal{Term: 1, Leader: "n1", Echo: tok})
			clk.Advance(time.Millisecond) // the ack's way back
			tab.Acked("n2", clk.Now())
		}
		clk.Advance(333 * time.Millisecond)
		tab.Sent("n2", clk.Now()) // the last renewal leaves; the link is then cut
		last := Renewal{Term: 1, Leader: "n1", Echo: tok}
		clk.Advance(delay)
		_, _ = h.Grant(last)
		dl, _ := h.Deadline()
		safe, _ := tab.RecoverAt("n2")
		if !dl.Before(safe) {
			t.Errorf("delay %s: node lease runs to %v, past the coordinator's recovery instant %v", delay, dl, safe)
		}
		if gap := safe.Sub(dl); gap < tab.Config().Margin {
			t.Errorf("delay %s: only %s between the node's lapse and recovery; want at least the margin %s", delay, gap, tab.Config().Margin)
		}
		_ = h.Close()
	}
}

// Liveness: at an interval of lease/4 one lost renewal does not make the
// node lapse; three in a row do.
func TestLease_OneLostRenewalDoesNotLapse(t *testing.T) {
	clk := clock.NewFake(t0)
	h, _ := NewHolder(time.Second, clk, nil)
	defer h.Close()
	interval := time.Second / 4
	var tok uint64
	lost := map[int]bool{6: true, 12: true, 13: true, 14: true}
	lapsedAt := -1
	for k := 0; k <= 16; k++ {
		if k >= 2 && !h.Valid(clk.Now()) && lapsedAt < 0 {
			lapsedAt = k
		}
		if !lost[k] {
			tok, _ = h.Grant(Renewal{Term: 1, Leader: "c", Echo: tok})
		}
		clk.Advance(interval / 2)
		if k >= 2 && !h.Valid(clk.Now()) && lapsedAt < 0 {
			lapsedAt = k
		}
		clk.Advance(interval / 2)
	}
	if lapsedAt != 14 {
		t.Fatalf("lapsed at renewal %d; want 14 (survives the single loss at 6, lapses during the run 12-14)", lapsedAt)
	}
}

// Takeover lengthens only the wait for a node not heard from in this term
// (the bound counts from the election then); a node that acked counts from
// its ack as before.
func TestLeaseTable_TakeoverOnlyForNodesNotHeardFrom(t *testing.T) {
	cfg := DefaultTableConfig(time.Second)
	cfg.Takeover = 150 * time.Millisecond
	tab, err := NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tab.BecameLeader(t0)
	tab.Acked("n2", t0.Add(200*time.Millisecond))
	if at, _ := tab.RecoverAt("n2"); !at.Equal(t0.Add(200*time.Millisecond + cfg.Bound())) {
		t.Errorf("acked node: recover at %v after t0; expected ack + bound = %v", at.Sub(t0), 200*time.Millisecond+cfg.Bound())
	}
	if at, _ := tab.RecoverAt("n3"); !at.Equal(t0.Add(cfg.Bound() + cfg.Takeover)) {
		t.Errorf("node not heard from: recover at %v after t0; expected bound + takeover = %v", at.Sub(t0), cfg.Bound()+cfg.Takeover)
	}
	cfg.Takeover = -time.Millisecond
	if _, err := NewTable(cfg); err == nil || !strings.Contains(err.Error(), "takeover") {
		t.Errorf("negative takeover: err %v; expected it named", err)
	}
}

// ChangedCh signals what its consumer (the reconciler) reads: a lease
// granted, a term or leader changed, a lapse, a regain; not an extension
// of a valid lease, which comes every round.
func TestLeaseHolder_ChangedOnlyWhenWhatItReadsChanges(t *testing.T) {
	clk := clock.NewFake(t0)
	h, err := NewHolder(time.Second, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	signalled := func() bool {
		select {
		case <-h.ChangedCh():
			return true
		default:
			return false
		}
	}
	grant := func(term uint64, echo uint64) uint64 {
		t.Helper()
		tok, err := h.Grant(Renewal{Term: term, Leader: "n1", Echo: echo})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := grant(3, 0) // first contact: a new term, nothing extended yet
	if !signalled() {
		t.Fatal("a first renewal (new term) did not signal")
	}
	tok = grant(3, tok) // granted
	if !signalled() {
		t.Fatal("the lease granted did not signal")
	}
	for range 8 { // rounds of a healthy term
		clk.Advance(125 * time.Millisecond)
		tok = grant(3, tok)
		if signalled() {
			t.Fatal("an extension of a valid lease signalled")
		}
	}
	clk.Advance(time.Second) // no renewal: lapses
	eventually(t, "lapse signalled", func() bool { return signalled() })
	grant(3, tok) // echoes a token issued over a lease ago: still lapsed
	tok = grant(3, grant(3, 0))
	if !signalled() {
		t.Fatal("the lease regained did not signal")
	}
	clk.Advance(125 * time.Millisecond)
	grant(4, tok) // a new coordinator's term
	if !signalled() {
		t.Fatal("a new term did not signal")
	}
}
