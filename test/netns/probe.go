package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ProbeOptions configure ProbeTCP.
type ProbeOptions struct {
	// Interval between connection attempts (default 5ms). Attempts overlap:
	// a new one starts every interval whatever the earlier ones do, so a
	// connection hanging on a dead owner does not delay the next try.
	Interval time.Duration
	// Timeout of one attempt, connect and exchange (default 1s).
	Timeout time.Duration
	// Exchange, if set, runs on each connection (e.g. an HTTP GET that
	// returns the name of the node that served it); its string is the
	// result's Reply. Without it a connect is a success.
	Exchange func(net.Conn) (string, error)
}

// ProbeResult is one attempt.
type ProbeResult struct {
	Start time.Time // attempt started (the SYN left)
	End   time.Time // connected and exchanged, or failed
	Reply string
	Err   error // nil: success
}

// Prober makes TCP connection attempts from a namespace at a fixed rate.
type Prober struct {
	opts   ProbeOptions
	addr   netip.AddrPort
	stopCh chan struct{}
	doneCh chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	results []ProbeResult
	err     error
}

// ProbeTCP starts probing addr from a namespace (usually "client"). Each
// attempt's socket is created on a thread inside that namespace; waiting
// and the exchange run on ordinary goroutines. It stops at Stop or cleanup.
func (b *Bed) ProbeTCP(name string, addr netip.AddrPort, o ProbeOptions) *Prober {
	b.t.Helper()
	if o.Interval <= 0 {
		o.Interval = 5 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	p := &Prober{opts: o, addr: addr, stopCh: make(chan struct{}), doneCh: make(chan struct{})}
	real := b.NS(name)
	go func() {
		defer close(p.doneCh)
		err := doIn(real, name, p.loop)
		if err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
		}
	}()
	b.t.Cleanup(p.Stop)
	return p
}

// loop runs on a thread inside the namespace.
func (p *Prober) loop() error {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		start := time.Now()
		f, err := dialNonblock(p.addr)
		if err != nil {
			p.record(ProbeResult{Start: start, End: time.Now(), Err: err})
		} else {
			p.wg.Add(1)
			go p.finish(f, start)
		}
		select {
		case <-p.stopCh:
			return nil
		case <-t.C:
		}
	}
}

// dialNonblock creates a socket in the calling thread's namespace and
// starts a non-blocking connect.
func dialNonblock(ap netip.AddrPort) (*os.File, error) {
	fam := unix.AF_INET
	var sa unix.Sockaddr
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		fam = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return nil, fmt.Errorf("connect %v: %w", ap, err)
	}
	return os.NewFile(uintptr(fd), "probe"), nil
}

// finish waits for the connect and runs the exchange.
func (p *Prober) finish(f *os.File, start time.Time) {
	defer p.wg.Done()
	res := ProbeResult{Start: start}
	defer func() { res.End = time.Now(); p.record(res) }()
	defer f.Close()
	deadline := start.Add(p.opts.Timeout)
	_ = f.SetDeadline(deadline)
	rc, err := f.SyscallConn()
	if err != nil {
		res.Err = err
		return
	}
	var soErr int
	werr := rc.Write(func(fd uintptr) bool {
		soErr, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil || soErr != 0 {
			return true // failed
		}
		_, perr := unix.Getpeername(int(fd))
		return perr == nil // connected; ENOTCONN: still connecting, wait
	})
	switch {
	case werr != nil:
		res.Err = fmt.Errorf("connect %v: %w", p.addr, werr)
		return
	case err != nil:
		res.Err = err
		return
	case soErr != 0:
		res.Err = fmt.Errorf("connect %v: %w", p.addr, unix.Errno(soErr))
		return
	}
	if p.opts.Exchange == nil {
		return
	}
	c, err := net.FileConn(f)
	if err != nil {
		res.Err = err
		return
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	res.Reply, res.Err = p.opts.Exchange(c)
}

func (p *Prober) record(r ProbeResult) {
	p.mu.Lock()
	p.results = append(p.results, r)
	p.mu.Unlock()
}

// Stop ends probing and waits for attempts in flight; safe to call twice.
func (p *Prober) Stop() {
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	<-p.doneCh
	p.wg.Wait()
}

// Err is an error that stopped the prober (entering the namespace failed).
func (p *Prober) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Results returns the finished attempts, ordered by start time.
func (p *Prober) Results() []ProbeResult {
	p.mu.Lock()
	rs := slices.Clone(p.results)
	p.mu.Unlock()
	slices.SortFunc(rs, func(a, b ProbeResult) int { return a.Start.Compare(b.Start) })
	return rs
}

// FirstSuccessAfter returns the earliest-finishing successful attempt that
// started at or after t and whose reply accept approves (nil accepts all):
// "the first connection after the fault that reached the new node".
func (p *Prober) FirstSuccessAfter(t time.Time, accept func(reply string) bool) (ProbeResult, bool) {
	var best ProbeResult
	found := false
	for _, r := range p.Results() {
		if r.Err != nil || r.Start.Before(t) || (accept != nil && !accept(r.Reply)) {
			continue
		}
		if !found || r.End.Before(best.End) {
			best, found = r, true
		}
	}
	return best, found
}
