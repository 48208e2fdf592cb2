package lease

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
)

// fakeRenewer records renewals; nodes in hang wait for their ctx to end.
// A node with a holder answers through Holder.Grant; others ack with
// a counter.
type fakeRenewer struct {
	tab     *Table
	clk     *clock.Fake
	mu      sync.Mutex
	sent    []renewalCall
	hang    map[string]bool
	holders map[string]*Holder
	cut     map[string]bool // the link is cut: the call fails after reaching nobody
	seq     uint64
}

type renewalCall struct {
	node       string
	at         time.Time
	recordedAt time.Time // the table's last send for the node when the call was made
	r          Renewal
}

func (f *fakeRenewer) Renew(ctx context.Context, node string, r Renewal) (uint64, error) {
	rec, _ := f.tab.RecoverAt(node)
	f.mu.Lock()
	f.sent = append(f.sent, renewalCall{node: node, at: f.clk.Now(), recordedAt: rec.Add(-f.tab.Config().Bound()), r: r})
	hang, h, cut := f.hang[node], f.holders[node], f.cut[node]
	f.seq++
	seq := f.seq
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if cut {
		return 0, errors.New("no route to host")
	}
	if h != nil {
		return h.Grant(r)
	}
	return seq, nil
}

func (f *fakeRenewer) calls(node string) []renewalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []renewalCall
	for _, c := range f.sent {
		if c.node == node {
			out = append(out, c)
		}
	}
	return out
}

func TestLeaseSender_RenewsEveryEighthLeaseBoundFromAcks(t *testing.T) {
	clk := clock.NewFake(t0)
	tab, err := NewTable(DefaultTableConfig(1200 * time.Millisecond)) // rounds every 150ms
	if err != nil {
		t.Fatal(err)
	}
	tab.BecameLeader(t0)
	ren := &fakeRenewer{tab: tab, clk: clk, hang: map[string]bool{"n3": true}}
	var nodesMu sync.Mutex
	nodes := []string{"n2", "n3"}
	s, err := NewSender(SenderConfig{Table: tab, Renewer: ren, Clock: clk, Term: 7, Leader: "n1",
		Nodes: func() []string { nodesMu.Lock(); defer nodesMu.Unlock(); return append([]string(nil), nodes...) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// A new coordinator renews at once, and echoes that first ack at once
	// (the first renewal had nothing to echo); then one renewal a round,
	// echoing the previous round's ack.
	eventually(t, "first round", func() bool { return len(ren.calls("n2")) == 2 && len(ren.calls("n3")) == 1 })
	for i := 1; i <= 4; i++ {
		clk.Advance(150 * time.Millisecond)
		eventually(t, "next round", func() bool { return len(ren.calls("n2")) == i+2 })
	}
	for i, c := range ren.calls("n2") {
		want := t0
		if i >= 2 {
			want = t0.Add(time.Duration(i-1) * 150 * time.Millisecond)
		}
		// The bound counts from the newest ack received before the send:
		// none for the very first (the election), then the previous one
		// (every ack here comes back at its send).
		wantBase := t0
		if i >= 3 {
			wantBase = want.Add(-150 * time.Millisecond)
		}
		if !c.at.Equal(want) || !c.recordedAt.Equal(wantBase) {
			t.Errorf("renewal %d to n2 at %v (want %v) with the bound counting from %v; want %v", i, c.at, want, c.recordedAt, wantBase)
		}
		if c.r.Term != 7 || c.r.Leader != "n1" {
			t.Errorf("renewal carries %+v; want term 7 leader n1", c.r)
		}
		if i > 0 && c.r.Echo == 0 {
			t.Errorf("renewal %d to n2 echoes no ack; want the previous ack's token", i)
		}
	}
	// n3 never acks; its sends are bounded by the interval and retried.
	// None of them could extend its lease (they echo no token), so its
	// bound counts from the election alone.
	if n := len(ren.calls("n3")); n < 2 {
		t.Errorf("n3 got %d renewals; want one per round once the previous gave up", n)
	}
	if at, _ := tab.RecoverAt("n3"); !at.Equal(t0.Add(tab.Config().Bound())) {
		t.Errorf("n3 (never acked) is safe to recover at %v; want the election + bound, %v", at, t0.Add(tab.Config().Bound()))
	}
	// n2 is lost (membership drops it): its lease lapses bound after the
	// last ack received (every ack here comes back at once, at its send).
	nodesMu.Lock()
	nodes = []string{"n3"}
	nodesMu.Unlock()
	last := ren.calls("n2")[len(ren.calls("n2"))-1].at
	clk.Advance(150 * time.Millisecond)
	if tab.SafeToRecover("n2", last.Add(tab.Config().Bound())) || !tab.SafeToRecover("n2", last.Add(tab.Config().Bound()+time.Nanosecond)) {
		t.Error("n2 must become safe to recover exactly after its last ack + bound")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// A node whose acks stop is reported once when its bound passes (it then
// counts as lost, Table.Lapsed), and once more when it acks again;
// while acks flow, nothing is reported.
func TestLeaseSender_LapseAndReturnTrigger(t *testing.T) {
	clk := clock.NewFake(t0)
	tab, ren := leadingTable(t, clk) // bound 1.15s
	var mu sync.Mutex
	changes := 0
	count := func() int { mu.Lock(); defer mu.Unlock(); return changes }
	s, err := NewSender(SenderConfig{Table: tab, Renewer: ren, Clock: clk, Term: 3, Leader: "n1",
		Nodes:    func() []string { return []string{"n2"} },
		OnChange: func() { mu.Lock(); changes++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	step := func(rounds int) {
		for i := 0; i < rounds; i++ {
			n := len(ren.calls("n2"))
			clk.Advance(250 * time.Millisecond)
			eventually(t, "round", func() bool { return len(ren.calls("n2")) > n })
		}
	}
	eventually(t, "first round", func() bool { return len(ren.calls("n2")) == 2 })
	step(12) // 3 s of acks
	if c := count(); c != 0 || tab.Lapsed("n2", clk.Now()) {
		t.Fatalf("%d changes, lapsed %v while n2 acked every round; want none", c, tab.Lapsed("n2", clk.Now()))
	}
	// While every renewal is answered within its round, the rounds' ticker
	// is the only timer: no lapse timer is set and moved on every ack.
	if n := clk.Pending(); n != 1 {
		t.Errorf("%d timers pending while n2 acks every round; want 1 (the rounds' ticker)", n)
	}
	// Cut: the last ack was at the last round; 1.15 s later the lease has
	// certainly lapsed and the coordinator is told, once.
	ren.mu.Lock()
	ren.cut["n2"] = true
	ren.mu.Unlock()
	lastAck := clk.Now()
	step(4) // lastAck + 1 s: not yet
	if c := count(); c != 0 {
		t.Fatalf("%d changes 1 s after the last ack; want none before the bound (1.15 s)", c)
	}
	clk.Advance(tab.Config().Bound() - time.Second + time.Millisecond)
	eventually(t, "lapse reported", func() bool { return count() == 1 })
	if !tab.Lapsed("n2", clk.Now()) || tab.Lapsed("n2", lastAck.Add(tab.Config().Bound())) {
		t.Fatal("the table does not say n2's lease lapsed just after the bound")
	}
	step(4)
	if c := count(); c != 1 {
		t.Fatalf("%d changes while n2 stays cut; want the lapse reported once", c)
	}
	// Back: its first ack is reported.
	ren.mu.Lock()
	ren.cut["n2"] = false
	ren.mu.Unlock()
	step(1)
	eventually(t, "return reported", func() bool { return count() == 2 })
	if tab.Lapsed("n2", clk.Now()) {
		t.Fatal("n2 still lapsed after it acked")
	}
}

// A node dropped from Nodes() (gossip lost it) right after a renewal it did
// not answer still has its lapse reported: the watch covers every node
// renewed in the term, listed or not.
func TestLeaseSender_LapseReportedForANodeNoLongerListed(t *testing.T) {
	clk := clock.NewFake(t0)
	tab, ren := leadingTable(t, clk) // bound 1.15s
	var mu sync.Mutex
	changes := 0
	listed := true
	count := func() int { mu.Lock(); defer mu.Unlock(); return changes }
	s, err := NewSender(SenderConfig{Table: tab, Renewer: ren, Clock: clk, Term: 3, Leader: "n1",
		Nodes: func() []string {
			mu.Lock()
			defer mu.Unlock()
			if listed {
				return []string{"n2", "n3"}
			}
			return []string{"n3"}
		},
		OnChange: func() { mu.Lock(); changes++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	round := func() {
		n := len(ren.calls("n3"))
		clk.Advance(125 * time.Millisecond)
		eventually(t, "round", func() bool { return len(ren.calls("n3")) > n })
	}
	eventually(t, "first round", func() bool { return len(ren.calls("n2")) == 2 && len(ren.calls("n3")) == 2 })
	for range 4 {
		round()
	}
	// n2 is cut: one more renewal goes unanswered, then gossip drops it.
	ren.mu.Lock()
	ren.cut["n2"] = true
	ren.mu.Unlock()
	lastAck := clk.Now()
	round()
	mu.Lock()
	listed = false
	mu.Unlock()
	for clk.Now().Before(lastAck.Add(tab.Config().Bound() + 250*time.Millisecond)) {
		round()
	}
	eventually(t, "lapse reported", func() bool { return count() == 1 })
	if !tab.Lapsed("n2", clk.Now()) {
		t.Fatal("the table does not say n2's lease lapsed")
	}
}

// startSender runs s until the test ends.
func startSender(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// leadingTable is a leader's table for a 1 s lease, elected at t0, and a
// renewer that answers for every node not cut.
func leadingTable(t *testing.T, clk *clock.Fake) (*Table, *fakeRenewer) {
	t.Helper()
	tab, err := NewTable(DefaultTableConfig(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tab.BecameLeader(t0)
	return tab, &fakeRenewer{tab: tab, clk: clk, hang: map[string]bool{}, cut: map[string]bool{}}
}
