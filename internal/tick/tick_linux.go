//go:build linux

// Package tick delivers periodic ticks from a Linux timerfd read through Go's
// network poller, instead of the runtime's timers. See Ticker for why.
package tick

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ticker sends the time on C every period, like time.Ticker (a slow reader
// misses ticks; it never gets a backlog).
//
// Why not time.Ticker: on an idle process every runtime timer costs about
// four context switches instead of one. The scheduler sleeps in
// epoll_wait with the timer's delay truncated to whole milliseconds, so it
// wakes up to a millisecond early, finds nothing due, and sleeps once more
// for the remainder; and the runtime's sysmon thread, which sleeps until
// the next timer of the process, wakes for it too (and then once more, 10
// ms later, before it sleeps again). A timerfd's expiry instead makes the
// poller's epoll_wait return exactly once, at the right instant, and
// sysmon does not know about it. The timerfd is read and re-armed with raw
// system calls (unix.RawSyscall), which do not wake sysmon either
// (internal/rawudp explains that part).
type Ticker struct {
	C <-chan time.Time

	f    *os.File
	rc   syscall.RawConn
	once sync.Once
	done chan struct{}
}

// New returns a ticker whose first tick comes one period from now.
func New(period time.Duration) (*Ticker, error) {
	if period <= 0 {
		return nil, fmt.Errorf("tick: period %s is not positive", period)
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tick: timerfd_create: %w", err)
	}
	ts := unix.NsecToTimespec(int64(period))
	spec := unix.ItimerSpec{Interval: ts, Value: ts}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tick: timerfd_settime: %w", err)
	}
	// A non-blocking descriptor: os.NewFile registers it with the poller.
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tick: %w", err)
	}
	c := make(chan time.Time, 1)
	t := &Ticker{C: c, f: f, rc: rc, done: make(chan struct{})}
	go t.run(c)
	return t, nil
}

func (t *Ticker) run(c chan time.Time) {
	defer close(t.done)
	for waitExpiry(t.rc) == nil {
		select {
		case c <- time.Now():
		default: // the reader has not taken the last one: drop, like time.Ticker
		}
	}
	// Closed by Stop (or the descriptor failed): no more ticks.
}

// waitExpiry reads a timerfd's expiration count with a raw read, waiting
// through the poller while there is none; an error when it is closed.
func waitExpiry(rc syscall.RawConn) error {
	var buf [8]byte // the number of expirations since the last read
	var e syscall.Errno
	err := rc.Read(func(fd uintptr) bool {
		for {
			_, _, e = unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			if e != unix.EINTR {
				return e != unix.EAGAIN // EAGAIN: not expired yet, wait for the poller
			}
		}
	})
	if err != nil {
		return err
	}
	if e != 0 {
		return e
	}
	return nil
}

// Stop turns the ticker off and releases the timerfd; no tick is sent
// after it returns. Safe more than once.
func (t *Ticker) Stop() {
	t.once.Do(func() {
		if err := t.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			return
		}
		<-t.done
	})
}
