package leasewire

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/internal/rawudp"
)

// Frame kinds.
const (
	frameRenewal byte = 1
	frameAck     byte = 2
	frameRefused byte = 3
)

var leaseMagic = [4]byte{'H', 'V', 'L', '1'}

const (
	leaseMACSize  = 16
	leaseMaxFrame = 1024
	leaseMaxName  = 255
	leaseMaxWhy   = 512
)

// Config configures a Wire.
type Config struct {
	// Conn is this node's bound UDP socket (the API's port number, UDP).
	// The wire owns it: Close closes it.
	Conn net.PacketConn
	// Key authenticates every datagram (HMAC-SHA256, 16 bytes of tag); every
	// node derives it from the cluster key. At least 16 bytes.
	Key []byte
	// Name is this node's name: renewals addressed to another are refused.
	Name string
	// Addr returns the UDP address of node's lease wire.
	Addr   func(node string) (net.Addr, error)
	Logger *slog.Logger
}

// Wire sends renewals (lease.Renewer) and answers them (with the function
// given to SetGrant: the node's lease.Holder). Run reads the socket.
type Wire struct {
	cfg   Config
	io    rawudp.PacketIO // Conn, read and written with raw system calls (internal/rawudp)
	grant atomic.Pointer[func(lease.Renewal) (uint64, error)]
	seq   atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]chan leaseAnswer

	macs sync.Pool // keyed HMAC-SHA256 states (mac)

	badMu   sync.Mutex
	badLast time.Time
	badN    int
}

type leaseAnswer struct {
	token uint64
	err   error
}

// New checks cfg; no I/O, no goroutines.
func New(cfg Config) (*Wire, error) {
	var errs []error
	if cfg.Conn == nil {
		errs = append(errs, errors.New("lease wire: Conn is nil; expected this node's bound UDP socket"))
	}
	if len(cfg.Key) < 16 {
		errs = append(errs, fmt.Errorf("lease wire: key of %d bytes; expected at least 16 (derived from the cluster key)", len(cfg.Key)))
	}
	if cfg.Name == "" || len(cfg.Name) > leaseMaxName {
		errs = append(errs, fmt.Errorf("lease wire: node name %q; expected 1 to %d bytes", cfg.Name, leaseMaxName))
	}
	if cfg.Addr == nil {
		errs = append(errs, errors.New("lease wire: Addr is nil; expected the nodes' lease addresses"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	w := &Wire{cfg: cfg, io: rawudp.Wrap(cfg.Conn), pending: map[uint64]chan leaseAnswer{}}
	w.seq.Store(binary.BigEndian.Uint64(b[:]) >> 1) // ids of another incarnation do not match ours
	return w, nil
}

// SetGrant sets the function that answers renewals (Node.GrantLease). Until
// it is set, renewals are refused (the coordinator retries next round).
func (w *Wire) SetGrant(f func(lease.Renewal) (uint64, error)) { w.grant.Store(&f) }

// LocalAddr returns the socket's address.
func (w *Wire) LocalAddr() net.Addr { return w.cfg.Conn.LocalAddr() }

// Close closes the socket; Run returns.
func (w *Wire) Close() error { return w.cfg.Conn.Close() }

// Run reads datagrams until ctx ends (it then closes the socket) or the
// socket is closed; other read errors are logged and reading goes on.
func (w *Wire) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = w.cfg.Conn.Close() })
	defer stop()
	buf := make([]byte, leaseMaxFrame+1)
	for {
		n, from, err := w.io.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// A transient error must not end the wire: without it no lease
			// is renewed and every resource here stops.
			w.bad(w.cfg.Conn.LocalAddr(), "read: "+err.Error())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		w.handle(buf[:n], from)
	}
}

// Renew implements lease.Renewer: one renewal to node, one datagram, then a wait
// for its ack (the token) or refusal until ctx ends. A lost datagram is
// not resent here: the coordinator's next round sends a fresh renewal
// (lease.Sender.Run), which also carries the newest token to echo. (A
// resend timer per datagram would wake an idle coordinator 8 times a
// second on the lan profile, to do nothing nearly every time.)
func (w *Wire) Renew(ctx context.Context, node string, r lease.Renewal) (uint64, error) {
	if len(node) == 0 || len(node) > leaseMaxName || len(r.Leader) > leaseMaxName {
		return 0, fmt.Errorf("lease renewal to %q: node or leader name empty or longer than %d bytes", node, leaseMaxName)
	}
	to, err := w.cfg.Addr(node)
	if err != nil {
		return 0, fmt.Errorf("lease renewal to %s: %w", node, err)
	}
	id := w.seq.Add(1)
	frame := w.seal(encodeRenewal(id, node, r))
	ch := make(chan leaseAnswer, 1)
	w.mu.Lock()
	w.pending[id] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.pending, id)
		w.mu.Unlock()
	}()
	if _, err := w.io.WriteTo(frame, to); err != nil {
		return 0, fmt.Errorf("lease renewal to %s at %s: %w", node, to, err)
	}
	var a leaseAnswer
	select {
	case a = <-ch:
	case <-ctx.Done():
		select {
		case a = <-ch: // answered just as ctx ended: the answer counts
		default:
			return 0, fmt.Errorf("lease renewal to %s at %s: no answer: %w", node, to, context.Cause(ctx))
		}
	}
	if a.err != nil {
		return 0, fmt.Errorf("lease renewal to %s: %w", node, a.err)
	}
	return a.token, nil
}

func (w *Wire) handle(b []byte, from net.Addr) {
	body, ok := w.open(b)
	if !ok {
		w.bad(from, "not a lease datagram under this cluster's key (another cluster, a wrong key file, or noise)")
		return
	}
	kind, id, rest := body[4], binary.BigEndian.Uint64(body[5:13]), body[13:]
	switch kind {
	case frameRenewal:
		to, r, err := decodeRenewal(rest)
		if err != nil {
			w.bad(from, err.Error())
			return
		}
		var reply []byte
		switch g := w.grant.Load(); {
		case to != w.cfg.Name:
			reply = encodeRefused(id, fmt.Sprintf("renewal for node %s reached node %s; check the nodes' addresses and api_port", to, w.cfg.Name))
		case g == nil:
			reply = encodeRefused(id, "this node's controller is not running yet")
		default:
			if tok, err := (*g)(r); err != nil {
				reply = encodeRefused(id, err.Error())
			} else {
				reply = encodeAck(id, tok)
			}
		}
		_, _ = w.io.WriteTo(w.seal(reply), from)
	case frameAck, frameRefused:
		var a leaseAnswer
		if kind == frameAck {
			if len(rest) != 8 {
				w.bad(from, "ack of the wrong length")
				return
			}
			a.token = binary.BigEndian.Uint64(rest)
		} else {
			if len(rest) < 2 || len(rest) != 2+int(binary.BigEndian.Uint16(rest)) {
				w.bad(from, "refusal of the wrong length")
				return
			}
			why := string(rest[2:])
			a.err = errors.New(why)
			if isStaleWhy(why) {
				a.err = fmt.Errorf("%w: %s", lease.ErrStale, why)
			}
		}
		w.mu.Lock()
		ch := w.pending[id]
		w.mu.Unlock()
		if ch != nil {
			select {
			case ch <- a:
			default: // an answer to a resent datagram; the first one counts
			}
		}
	default:
		w.bad(from, fmt.Sprintf("unknown frame kind %d", kind))
	}
}

func isStaleWhy(why string) bool {
	p := lease.ErrStale.Error()
	return len(why) >= len(p) && why[:len(p)] == p
}

// bad logs a dropped datagram, at most once every 10 s with a count.
func (w *Wire) bad(from net.Addr, why string) {
	w.badMu.Lock()
	w.badN++
	now := time.Now()
	if now.Sub(w.badLast) < 10*time.Second {
		w.badMu.Unlock()
		return
	}
	n := w.badN
	w.badN, w.badLast = 0, now
	w.badMu.Unlock()
	w.cfg.Logger.Warn("lease wire: dropped a datagram; nothing changed", "from", from.String(), "why", why, "dropped_since_last_warning", n)
}

func (w *Wire) mac(b []byte) []byte {
	// Keyed hashes are reused (Reset restores the keyed state): a new one
	// per datagram allocated two SHA-256 states, 40 times a second on an
	// idle coordinator.
	m, _ := w.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, w.cfg.Key)
	}
	m.Reset()
	m.Write(b)
	tag := m.Sum(make([]byte, 0, sha256.Size))[:leaseMACSize]
	w.macs.Put(m)
	return tag
}

func (w *Wire) seal(b []byte) []byte { return append(b, w.mac(b)...) }

// open checks the magic, the size and the tag, and returns the body.
func (w *Wire) open(b []byte) ([]byte, bool) {
	if len(b) < 13+leaseMACSize || len(b) > leaseMaxFrame || [4]byte(b[:4]) != leaseMagic {
		return nil, false
	}
	body, tag := b[:len(b)-leaseMACSize], b[len(b)-leaseMACSize:]
	if !hmac.Equal(tag, w.mac(body)) {
		return nil, false
	}
	return body, true
}

func header(kind byte, id uint64) []byte {
	b := make([]byte, 0, 96)
	b = append(b, leaseMagic[:]...)
	b = append(b, kind)
	return binary.BigEndian.AppendUint64(b, id)
}

// encodeRenewal: term, index, echo (8 bytes each), then the addressee's and
// the leader's names (1-byte length each).
func encodeRenewal(id uint64, to string, r lease.Renewal) []byte {
	b := header(frameRenewal, id)
	b = binary.BigEndian.AppendUint64(b, r.Term)
	b = binary.BigEndian.AppendUint64(b, r.Index)
	b = binary.BigEndian.AppendUint64(b, r.Echo)
	b = append(b, byte(len(to)))
	b = append(b, to...)
	b = append(b, byte(len(r.Leader)))
	return append(b, r.Leader...)
}

func decodeRenewal(b []byte) (to string, r lease.Renewal, err error) {
	if len(b) < 25 {
		return "", r, errors.New("renewal too short")
	}
	r.Term, r.Index, r.Echo = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])
	b = b[24:]
	n := int(b[0])
	if len(b) < 1+n+1 {
		return "", r, errors.New("renewal: names cut short")
	}
	to, b = string(b[1:1+n]), b[1+n:]
	m := int(b[0])
	if len(b) != 1+m || n == 0 || m == 0 {
		return "", r, errors.New("renewal: bad names")
	}
	r.Leader = string(b[1:])
	return to, r, nil
}

func encodeAck(id, token uint64) []byte {
	return binary.BigEndian.AppendUint64(header(frameAck, id), token)
}

func encodeRefused(id uint64, why string) []byte {
	if len(why) > leaseMaxWhy {
		why = why[:leaseMaxWhy]
	}
	b := binary.BigEndian.AppendUint16(header(frameRefused, id), uint16(len(why)))
	return append(b, why...)
}

var _ lease.Renewer = (*Wire)(nil)
