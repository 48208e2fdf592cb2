package consensus

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/internal/rawtcp"
)

// MinKeyLen is the shortest cluster key accepted (haven keygen writes 32 bytes or more).
const MinKeyLen = 16

// Stream kinds: the first byte a dialer writes after the TLS handshake.
const (
	streamRaft byte = 'R'
	streamRPC  byte = 'F'
)

// maxHandshakes bounds concurrent unauthenticated handshakes.
const maxHandshakes = 128

// maxRPCBytes bounds one RPC message.
const maxRPCBytes = 64 << 20

// ClusterID derives the public cluster identifier stored in data directories
// from the cluster key: a node given another key refuses an existing directory.
func ClusterID(key []byte) (string, error) {
	b, err := hkdf.Key(sha256.New, key, nil, "haven-cluster-id", 8)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// raftTLS derives the cluster's raft identity from the key: an Ed25519 key
// pair from HKDF-SHA256(key, info "haven-raft") and a self-signed certificate.
// Every node holds the same identity; a peer is accepted iff it proves
// possession of that private key in a mutual TLS 1.3 handshake.
func raftTLS(key []byte) (*tls.Config, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("cluster key is %d bytes; expected at least %d (make one with 'haven keygen')", len(key), MinKeyLen)
	}
	seed, err := hkdf.Key(sha256.New, key, nil, "haven-raft", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "haven-raft"},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"haven-raft"},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("derive raft certificate: %w", err)
	}
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("peer presented no certificate")
		}
		cert, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		peer, ok := cert.PublicKey.(ed25519.PublicKey)
		if !ok || !bytes.Equal(peer, pub) {
			return errors.New("peer does not hold the cluster key")
		}
		return nil
	}
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}},
		ClientAuth:            tls.RequireAnyClientCert,
		InsecureSkipVerify:    true, // replaced by the pinned-key check below (no CA, no names)
		VerifyPeerCertificate: verify,
		ServerName:            "haven-raft",
	}, nil
}

// TCPLinkConfig configures ListenTCP.
type TCPLinkConfig struct {
	// Bind is the local listen address (host:port).
	Bind string
	// Advertise is the address peers dial (default: Bind). Must not be unspecified.
	Advertise string
	// Key is the cluster key.
	Key []byte
	// Logger receives refusals and transport logs.
	Logger *slog.Logger
	// HandshakeTimeout bounds a peer's TLS handshake (default 5s).
	HandshakeTimeout time.Duration
	// MaxPool is raft's connection pool size per peer (default 3).
	MaxPool int
	// Timeout is raft's I/O timeout (default 10s).
	Timeout time.Duration
}

// TCPLink is the production Link: one TCP port carries raft and haven RPC,
// both inside mutual TLS 1.3 authenticated by the cluster key.
type TCPLink struct {
	cfg       TCPLinkConfig
	tls       *tls.Config
	ln        net.Listener
	advertise net.Addr
	log       *slog.Logger
	trans     *raft.NetworkTransport
	raftCh    chan net.Conn
	slots     chan struct{} // handshakes in progress
	refusals  refusalLog

	mu      sync.Mutex
	handler Handler

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// ListenTCP listens on cfg.Bind and starts accepting authenticated peers.
func ListenTCP(cfg TCPLinkConfig) (*TCPLink, error) {
	tc, err := raftTLS(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if cfg.MaxPool <= 0 {
		cfg.MaxPool = 3
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Advertise == "" {
		cfg.Advertise = cfg.Bind
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.Advertise)
	if err != nil {
		return nil, fmt.Errorf("raft advertise address %q: %w", cfg.Advertise, err)
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft advertise address %q is not advertisable; expected a concrete IP peers can dial", cfg.Advertise)
	}
	ln, err := net.Listen("tcp", cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("listen for raft on %s: %w", cfg.Bind, err)
	}
	if adv.Port == 0 { // Bind with port 0: advertise the chosen port
		adv.Port = ln.Addr().(*net.TCPAddr).Port
	}
	l := &TCPLink{cfg: cfg, tls: tc, ln: ln, advertise: adv, log: cfg.Logger, raftCh: make(chan net.Conn), slots: make(chan struct{}, maxHandshakes), done: make(chan struct{})}
	l.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  (*raftStream)(l),
		MaxPool: cfg.MaxPool,
		Timeout: cfg.Timeout,
		Logger:  newHCLog(cfg.Logger, "raft-net"),
	})
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Addr is the advertised address (host:port) peers dial.
func (l *TCPLink) Addr() raft.ServerAddress { return raft.ServerAddress(l.advertise.String()) }

// Transport implements Link.
func (l *TCPLink) Transport() raft.Transport { return noCloseTransport{l.trans} }

// Serve implements Link.
func (l *TCPLink) Serve(h Handler) {
	l.mu.Lock()
	l.handler = h
	l.mu.Unlock()
}

// Close implements Link.
func (l *TCPLink) Close() error {
	l.closeOnce.Do(func() {
		l.trans.Close() // marks raft's listener shut down before Accept starts failing
		close(l.done)
		l.ln.Close()
	})
	l.wg.Wait()
	return nil
}

func (l *TCPLink) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			l.log.Warn("raft accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-l.done:
				return
			}
			continue
		}
		select {
		case l.slots <- struct{}{}:
		default:
			// Bound the work an unauthenticated flood can cause.
			l.log.Warn("raft: refused connection, too many handshakes in progress", "remote", c.RemoteAddr().String(), "limit", cap(l.slots))
			c.Close()
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.handshake(c)
		}()
	}
}

// handshake authenticates one incoming connection and routes it by its first byte.
func (l *TCPLink) handshake(raw net.Conn) {
	remote := raw.RemoteAddr().String()
	raw.SetDeadline(time.Now().Add(l.cfg.HandshakeTimeout))
	tc := tls.Server(rawtcp.Wrap(raw), l.tls)
	err := tc.Handshake()
	var kind [1]byte
	if err == nil {
		_, err = io.ReadFull(tc, kind[:])
	}
	<-l.slots
	if err != nil && !tc.ConnectionState().HandshakeComplete {
		if n, ok := l.refusals.allow(remote, time.Now()); ok {
			l.log.Warn("raft: refused connection without the cluster key", "remote", remote, "err", err, "suppressed_since_last", n)
		}
		raw.Close()
		return
	}
	if err != nil {
		tc.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	switch kind[0] {
	case streamRaft:
		select {
		case l.raftCh <- tc:
		case <-l.done:
			tc.Close()
		}
	case streamRPC:
		l.serveRPC(tc)
	default:
		l.log.Warn("raft: refused connection with an unknown stream kind", "remote", remote, "kind", kind[0])
		tc.Close()
	}
}

func (l *TCPLink) serveRPC(c net.Conn) {
	defer c.Close()
	l.mu.Lock()
	h := l.handler
	l.mu.Unlock()
	c.SetDeadline(time.Now().Add(l.cfg.Timeout))
	var req Request
	if err := json.NewDecoder(io.LimitReader(c, maxRPCBytes)).Decode(&req); err != nil {
		return
	}
	resp := Response{Error: "node is not serving requests yet"}
	if h != nil {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
		resp = h(ctx, req)
		cancel()
	}
	c.SetDeadline(time.Now().Add(l.cfg.Timeout))
	json.NewEncoder(c).Encode(resp)
}

func (l *TCPLink) dial(ctx context.Context, addr string, kind byte) (net.Conn, error) {
	d := net.Dialer{}
	// Dial from the address this node listens on (when it is a concrete IP),
	// so peers see, and log, the node's configured address rather than
	// whatever source the kernel picks (127.0.0.1 for every loopback node).
	if la, ok := l.ln.Addr().(*net.TCPAddr); ok && la.IP != nil && !la.IP.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: la.IP}
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	tc := tls.Client(rawtcp.Wrap(raw), l.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	if _, err := tc.Write([]byte{kind}); err != nil {
		tc.Close()
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return tc, nil
}

// Call implements Link.
func (l *TCPLink) Call(ctx context.Context, addr raft.ServerAddress, req Request) (Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.Timeout)
		defer cancel()
	}
	c, err := l.dial(ctx, string(addr), streamRPC)
	if err != nil {
		return Response{}, fmt.Errorf("connect to %s: %w: %w", addr, ErrNotDelivered, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return Response{}, fmt.Errorf("send %s to %s: %w", req.Op, addr, err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(c, maxRPCBytes))).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("read %s reply from %s: %w", req.Op, addr, err)
	}
	return resp, nil
}

// raftStream is the raft StreamLayer view of a TCPLink: Accept yields
// authenticated raft streams, Dial opens one.
type raftStream TCPLink

func (s *raftStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftCh:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *raftStream) Close() error { return nil } // the TCPLink owns the listener

func (s *raftStream) Addr() net.Addr { return s.advertise }

func (s *raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return (*TCPLink)(s).dial(ctx, string(address), streamRaft)
}

// refusalLog limits refusal log lines to one per remote IP per
// refusalInterval, counting the ones it suppressed, so a flood of bad
// connections cannot flood the log. It remembers at most refusalIPs IPs.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]refusal
}

type refusal struct {
	at         time.Time
	suppressed int
}

const (
	refusalInterval = 10 * time.Second
	refusalIPs      = 1024
)

// allow reports whether to log a refusal from remote now, and how many were
// suppressed since the last logged one.
func (r *refusalLog) allow(remote string, now time.Time) (int, bool) {
	ip, _, err := net.SplitHostPort(remote)
	if err != nil {
		ip = remote
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil || len(r.last) >= refusalIPs {
		r.last = map[string]refusal{}
	}
	prev, seen := r.last[ip]
	if seen && now.Sub(prev.at) < refusalInterval {
		prev.suppressed++
		r.last[ip] = prev
		return 0, false
	}
	r.last[ip] = refusal{at: now}
	return prev.suppressed, true
}
