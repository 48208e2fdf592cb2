package leasewire

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
)

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var testLeaseKey = []byte("0123456789abcdef0123456789abcdef")

// wirePair is a set of wires on loopback sockets; addrs maps node names to
// their wire's address.
type wirePair struct {
	mu    sync.Mutex
	addrs map[string]net.Addr
}

func (p *wirePair) addr(node string) (net.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.addrs[node]; ok {
		return a, nil
	}
	return nil, errors.New("no such node")
}

func (p *wirePair) start(t *testing.T, name string, key []byte, log *syncBuf) *Wire {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return p.run(t, name, key, log, conn)
}

func (p *wirePair) run(t *testing.T, name string, key []byte, log *syncBuf, conn net.PacketConn) *Wire {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, nil))
	}
	w, err := New(Config{Conn: conn, Key: key, Name: name, Addr: p.addr, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	if p.addrs == nil {
		p.addrs = map[string]net.Addr{}
	}
	p.addrs[name] = conn.LocalAddr()
	p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

func renewCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// A renewal and its echo over real UDP sockets extend the node's lease from
// the instant its first ack's token was issued.
func TestLeaseWire_RoundTripExtendsLease(t *testing.T) {
	var p wirePair
	coord := p.start(t, "n1", testLeaseKey, nil)
	node := p.start(t, "n2", testLeaseKey, nil)
	holder, err := lease.NewHolder(time.Second, clock.System{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	node.SetGrant(holder.Grant)

	before := time.Now()
	tok, err := coord.Renew(renewCtx(t, 10*time.Second), "n2", lease.Renewal{Term: 3, Leader: "n1", Index: 42})
	if err != nil {
		t.Fatalf("first renewal: %v", err)
	}
	if holder.Valid(time.Now()) {
		t.Fatalf("the lease holds after a renewal without an echo; expected it to wait for the echo")
	}
	if got := holder.CatchUp(); got != 42 {
		t.Errorf("CatchUp = %d; expected the renewal's index 42 to arrive", got)
	}
	if _, err := coord.Renew(renewCtx(t, 10*time.Second), "n2", lease.Renewal{Term: 3, Leader: "n1", Echo: tok}); err != nil {
		t.Fatalf("echo: %v", err)
	}
	dl, ok := holder.Deadline()
	if !ok || dl.Before(before.Add(time.Second)) || dl.After(time.Now().Add(time.Second)) {
		t.Fatalf("deadline %v (ok %v); expected between %v and now + 1s", dl, ok, before.Add(time.Second))
	}
	if term, leader := holder.Holder(); term != 3 || leader != "n1" {
		t.Errorf("holder = term %d leader %s; expected 3 n1", term, leader)
	}
}

// A renewal of an older term comes back as lease.ErrStale and changes nothing;
// so does one addressed to another node, and one to a node whose controller
// is not running yet.
func TestLeaseWire_Refusals(t *testing.T) {
	var p wirePair
	coord := p.start(t, "n1", testLeaseKey, nil)
	node := p.start(t, "n2", testLeaseKey, nil)
	ctx := renewCtx(t, 10*time.Second)

	_, err := coord.Renew(ctx, "n2", lease.Renewal{Term: 1, Leader: "n1"})
	if err == nil || !strings.Contains(err.Error(), "not running yet") {
		t.Fatalf("renewal before SetGrant: err %v; expected a refusal naming the controller", err)
	}

	holder, _ := lease.NewHolder(time.Second, clock.System{}, nil)
	defer holder.Close()
	node.SetGrant(holder.Grant)
	tok, err := coord.Renew(ctx, "n2", lease.Renewal{Term: 5, Leader: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Renew(ctx, "n2", lease.Renewal{Term: 5, Leader: "n1", Echo: tok}); err != nil {
		t.Fatal(err)
	}
	dl, _ := holder.Deadline()

	_, err = coord.Renew(ctx, "n2", lease.Renewal{Term: 4, Leader: "n3", Echo: tok})
	if !errors.Is(err, lease.ErrStale) {
		t.Fatalf("older term: err %v; expected lease.ErrStale", err)
	}
	if dl2, _ := holder.Deadline(); !dl2.Equal(dl) {
		t.Errorf("a stale renewal moved the deadline from %v to %v", dl, dl2)
	}

	// n9's address is n2's socket: n2 refuses a renewal meant for n9.
	p.mu.Lock()
	p.addrs["n9"] = p.addrs["n2"]
	p.mu.Unlock()
	_, err = coord.Renew(ctx, "n9", lease.Renewal{Term: 5, Leader: "n1", Echo: tok})
	if err == nil || !strings.Contains(err.Error(), "renewal for node n9 reached node n2") {
		t.Fatalf("misaddressed renewal: err %v; expected a refusal naming both nodes", err)
	}
	if dl2, _ := holder.Deadline(); !dl2.Equal(dl) {
		t.Errorf("a misaddressed renewal moved the deadline from %v to %v", dl, dl2)
	}
}

// Datagrams without the cluster key — another key, garbage, a valid frame
// cut short or with a flipped bit — are dropped with a warning and change
// nothing; the sender gets no answer.
func TestLeaseWire_WrongKeyAndGarbageAreDropped(t *testing.T) {
	var p wirePair
	var nodeLog syncBuf
	node := p.start(t, "n2", testLeaseKey, &nodeLog)
	holder, _ := lease.NewHolder(time.Second, clock.System{}, nil)
	defer holder.Close()
	node.SetGrant(holder.Grant)

	intruder := p.start(t, "n1", []byte("another cluster's key, 32 bytes!"), nil)
	_, err := intruder.Renew(renewCtx(t, 300*time.Millisecond), "n2", lease.Renewal{Term: 9, Leader: "n1"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("renewal under another key: err %v; expected no answer (deadline exceeded)", err)
	}
	if term, _ := holder.Holder(); term != 0 {
		t.Fatalf("a renewal under another key reached the holder (term %d)", term)
	}
	waitUntil(t, "the node's warning about the dropped datagram", func() bool {
		return strings.Contains(nodeLog.String(), "lease wire: dropped a datagram") &&
			strings.Contains(nodeLog.String(), "wrong key")
	})

	// Raw garbage and damaged frames, straight at the socket.
	c, err := net.Dial("udp", node.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := node.seal(encodeRenewal(7, "n2", lease.Renewal{Term: 9, Leader: "n1"}))
	flipped := append([]byte(nil), good...)
	flipped[20] ^= 1
	for _, b := range [][]byte{{}, []byte("HVL1"), []byte("GET / HTTP/1.1\r\n\r\n"), good[:len(good)-1], flipped,
		bytes.Repeat([]byte{0xff}, leaseMaxFrame+10)} {
		if _, err := c.Write(b); err != nil && len(b) > 0 {
			t.Fatal(err)
		}
	}
	// Validly sealed but malformed bodies (a key holder's bug): dropped too.
	for _, body := range [][]byte{header(frameRenewal, 1), header(frameAck, 1), header(frameRefused, 1), header(9, 1),
		append(header(frameRenewal, 1), make([]byte, 25)...)} {
		if _, err := c.Write(node.seal(body)); err != nil {
			t.Fatal(err)
		}
	}
	// The wire still serves: a good renewal after all that is answered.
	coord := p.start(t, "n1", testLeaseKey, nil)
	if _, err := coord.Renew(renewCtx(t, 10*time.Second), "n2", lease.Renewal{Term: 9, Leader: "n1"}); err != nil {
		t.Fatalf("good renewal after the garbage: %v", err)
	}
}

// A renewal is one datagram: with no answer it is not resent, and Renew
// ends with its context's cause. The next round's renewal (a new Renew)
// is the retry, and it is answered once the node listens.
func TestLeaseWire_OneDatagramPerRenewalRetryIsTheNextRound(t *testing.T) {
	var p wirePair
	coord := p.start(t, "n1", testLeaseKey, nil)
	// n2's socket exists but nothing answers: count what reaches it.
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.addrs["n2"] = conn.LocalAddr()
	p.mu.Unlock()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	nextRound := errors.New("the next round began")
	time.AfterFunc(400*time.Millisecond, func() { cancel(nextRound) })
	_, err = coord.Renew(ctx, "n2", lease.Renewal{Term: 1, Leader: "n1"})
	if !errors.Is(err, nextRound) {
		t.Fatalf("unanswered Renew = %v; want an error carrying its context's cause", err)
	}
	n := 0
	buf := make([]byte, 2048)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := conn.ReadFrom(buf); err != nil {
			break
		}
		n++
	}
	_ = conn.SetReadDeadline(time.Time{})
	if n != 1 {
		t.Fatalf("n2 received %d datagrams for one renewal in 400ms; want exactly 1 (no resend)", n)
	}
	node := p.run(t, "n2", testLeaseKey, nil, conn)
	holder, _ := lease.NewHolder(time.Second, clock.System{}, nil)
	defer holder.Close()
	node.SetGrant(holder.Grant)
	tok, err := coord.Renew(renewCtx(t, 20*time.Second), "n2", lease.Renewal{Term: 1, Leader: "n1"})
	if err != nil || tok == 0 {
		t.Fatalf("the next round's Renew = %d, %v; expected a token once the node listens", tok, err)
	}
}

func TestLeaseWire_ConfigErrors(t *testing.T) {
	_, err := New(Config{Key: []byte("short")})
	for _, want := range []string{"Conn is nil", "key of 5 bytes", "node name", "Addr is nil"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with nothing: err %v; expected it to name %q", err, want)
		}
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out after 30s waiting for %s", what)
}
