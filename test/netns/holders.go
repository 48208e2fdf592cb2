package netns

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// Holders returns the nodes whose namespace has ip on some interface, read
// over the bed's cached netlink handles (a few hundred microseconds for
// three nodes, no process spawned).
func (b *Bed) Holders(ip netip.Addr) ([]string, error) {
	var hs []string
	for _, n := range b.nodes {
		ok, err := b.holds(n, ip)
		if err != nil {
			return nil, err
		}
		if ok {
			hs = append(hs, n)
		}
	}
	return hs, nil
}

func (b *Bed) holds(node string, ip netip.Addr) (bool, error) {
	h, err := b.Handle(node)
	if err != nil {
		return false, err
	}
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	var as []netlink.Addr
	for range 5 { // a dump interrupted by a concurrent change is retried
		as, err = h.AddrList(nil, fam)
		if err == nil {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("addresses of %s: %w", node, err)
	}
	for _, a := range as {
		if x, ok := netip.AddrFromSlice(a.IP); ok && x.Unmap() == ip {
			return true, nil
		}
	}
	return false, nil
}

// HolderSample is one observation of who holds the address.
type HolderSample struct {
	Time    time.Time
	Holders []string
}

// HolderWatch samples, in the background, which nodes hold an address: the
// "never two owners" check of failover tests and benchmarks.
type HolderWatch struct {
	b      *Bed
	ip     netip.Addr
	stopCh chan struct{}
	doneCh chan struct{}

	mu         sync.Mutex
	samples    int
	changes    []HolderSample // every change of the holder set, first sample included
	violations []HolderSample // confirmed instants with two or more holders
	err        error
}

// WatchHolders samples the holders of ip every interval until Stop (or
// cleanup). Nodes are read one after the other, so a sample spans a few
// hundred microseconds; a sample that shows several holders is confirmed by
// reading the earlier ones again, so a hand-over that happens while a sample
// is being taken is not mistaken for two owners.
func (b *Bed) WatchHolders(ip netip.Addr, interval time.Duration) *HolderWatch {
	w := &HolderWatch{b: b, ip: ip, stopCh: make(chan struct{}), doneCh: make(chan struct{})}
	go w.run(interval)
	b.t.Cleanup(w.Stop)
	return w
}

func (w *HolderWatch) run(interval time.Duration) {
	defer close(w.doneCh)
	t := time.NewTicker(interval)
	defer t.Stop()
	var last []string
	first := true
	for {
		now := time.Now()
		hs, err := w.b.Holders(w.ip)
		if err == nil && len(hs) > 1 {
			hs, err = w.confirm(hs)
		}
		w.mu.Lock()
		if err != nil {
			if w.err == nil {
				w.err = err
			}
		} else {
			w.samples++
			if first || !slices.Equal(hs, last) {
				w.changes = append(w.changes, HolderSample{now, hs})
				last, first = hs, false
			}
			if len(hs) > 1 {
				w.violations = append(w.violations, HolderSample{now, hs})
			}
		}
		w.mu.Unlock()
		select {
		case <-w.stopCh:
			return
		case <-t.C:
		}
	}
}

// confirm keeps, of the holders seen, those that still hold the address
// after the others were read: the last one read, plus every earlier one
// that holds it again now.
func (w *HolderWatch) confirm(hs []string) ([]string, error) {
	var out []string
	for _, n := range hs[:len(hs)-1] {
		ok, err := w.b.holds(n, w.ip)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, n)
		}
	}
	return append(out, hs[len(hs)-1]), nil
}

// Stop ends sampling; safe to call twice.
func (w *HolderWatch) Stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
	<-w.doneCh
}

// Samples is how many samples were taken.
func (w *HolderWatch) Samples() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples
}

// Changes returns every change of the holder set, in order.
func (w *HolderWatch) Changes() []HolderSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.changes)
}

// Violations returns the samples in which two or more nodes held the address.
func (w *HolderWatch) Violations() []HolderSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.violations)
}

// Err returns the first sampling error, if any.
func (w *HolderWatch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
