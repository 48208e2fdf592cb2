package netns

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Do runs fn in this process, on an OS thread switched into a namespace of
// the bed, and returns fn's error. This is how in-process code (an agent's
// Start, Stop, Monitor) is exercised against one node's network.
//
// Only fn's own goroutine is in the namespace: goroutines fn starts run on
// other threads, in the test process's namespace. Sockets keep the namespace
// they were created in, so code that opens its sockets (netlink handles,
// packet sockets) inside fn and uses them from other goroutines later works;
// code that makes new netlink calls from other goroutines does not.
//
// The thread is restored afterwards; if that fails, it is left locked so the
// Go runtime discards it rather than reuse a thread in the wrong namespace.
func (b *Bed) Do(name string, fn func() error) error {
	b.t.Helper()
	return doIn(b.NS(name), name, fn)
}

// doIn is Do for a real namespace name; it never touches testing.TB, so it
// may run on any goroutine.
func doIn(real, name string, fn func() error) error {
	errCh := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errCh <- fmt.Errorf("netns do %s: current namespace: %w", name, err)
			return
		}
		defer orig.Close()
		target, err := vnetns.GetFromName(real)
		if err != nil {
			runtime.UnlockOSThread()
			errCh <- fmt.Errorf("netns do %s: open %s: %w", name, real, err)
			return
		}
		defer target.Close()
		if err := vnetns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errCh <- fmt.Errorf("netns do %s: setns: %w", name, err)
			return
		}
		// Check we really are where we meant to be before running fn.
		now, err := vnetns.Get()
		if err != nil || !now.Equal(target) {
			if err == nil {
				now.Close()
			}
			// Leave the thread locked: it dies with this goroutine.
			errCh <- fmt.Errorf("netns do %s: thread is not in %s after setns", name, real)
			return
		}
		now.Close()
		fnErr := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("netns do %s: panic: %v", name, r)
				}
			}()
			return fn()
		}()
		if err := vnetns.Set(orig); err != nil {
			// Thread stays locked and is discarded when this goroutine ends.
			errCh <- fmt.Errorf("netns do %s: restore namespace: %w (fn: %v)", name, err, fnErr)
			return
		}
		runtime.UnlockOSThread()
		errCh <- fnErr
	}()
	return <-errCh
}

// MustDo is Do that fails the test on error.
func (b *Bed) MustDo(name string, fn func() error) {
	b.t.Helper()
	if err := b.Do(name, fn); err != nil {
		b.t.Fatal(err)
	}
}

// Dial connects from inside a namespace (the socket is created there, so the
// connection lives in that namespace whatever goroutine uses it later).
func (b *Bed) Dial(ctx context.Context, name, network, address string) (net.Conn, error) {
	var c net.Conn
	err := b.Do(name, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen opens a listener inside a namespace (for an in-process server on a
// node). Close it yourself or let the namespace's deletion end it.
func (b *Bed) Listen(name, network, address string) (net.Listener, error) {
	var l net.Listener
	err := b.Do(name, func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// Handle returns a netlink handle bound to a namespace, usable from any
// goroutine (for fast sampling, e.g. h.AddrList(nil, netlink.FAMILY_ALL)
// on every node every few milliseconds). It is cached and closed at cleanup.
func (b *Bed) Handle(name string) (*netlink.Handle, error) {
	real := b.NS(name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if h, ok := b.handles[real]; ok {
		return h, nil
	}
	ns, err := vnetns.GetFromName(real)
	if err != nil {
		return nil, fmt.Errorf("netns handle %s: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", name, err)
	}
	if b.handles == nil {
		b.handles = map[string]*netlink.Handle{}
	}
	b.handles[real] = h
	return h, nil
}
