//go:build linux

package tick

import (
	"container/heap"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Timer is a one-shot timer of the process's timer scheduler: one timerfd,
// armed for the earliest pending Timer, read through the poller (see
// Ticker for why not the runtime's timers). NewTimer's Timer sends on C;
// AfterFunc's calls its function in a goroutine.
type Timer struct {
	C <-chan time.Time

	c     chan time.Time
	f     func()
	when  time.Time
	index int // in the scheduler's heap; -1 when not pending
	s     *sched
	rt    *time.Timer // without a timerfd: the runtime's timer
}

// NewTimer returns a timer that sends the time on C once, d from now.
func NewTimer(d time.Duration) *Timer {
	c := make(chan time.Time, 1)
	t := &Timer{C: c, c: c, index: -1}
	start(t, d)
	return t
}

// AfterFunc calls f in its own goroutine d from now.
func AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{f: f, index: -1}
	start(t, d)
	return t
}

func start(t *Timer, d time.Duration) {
	s := getSched()
	if s == nil { // no timerfd: the runtime's timer
		if t.f != nil {
			t.rt = time.AfterFunc(d, t.f)
		} else {
			t.rt = time.NewTimer(d)
			t.C = t.rt.C
		}
		return
	}
	t.s = s
	s.add(t, time.Now().Add(d))
}

// Stop prevents the timer from firing and reports whether it was pending.
func (t *Timer) Stop() bool {
	if t.rt != nil {
		return t.rt.Stop()
	}
	if t.s == nil {
		return false
	}
	return t.s.remove(t)
}

// sched is the process's timer scheduler.
type sched struct {
	rc syscall.RawConn
	fd uintptr

	mu    sync.Mutex
	h     timerHeap
	armed time.Time // the instant the timerfd is armed for; zero: disarmed
}

var (
	schedOnce sync.Once
	theSched  *sched
)

func getSched() *sched {
	schedOnce.Do(func() {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			return
		}
		f := os.NewFile(uintptr(fd), "timerfd-sched")
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return
		}
		s := &sched{rc: rc, fd: uintptr(fd)}
		go s.run(f) // lives as long as the process
		theSched = s
	})
	return theSched
}

func (s *sched) add(t *Timer, when time.Time) {
	s.mu.Lock()
	t.when = when
	heap.Push(&s.h, t)
	s.rearmLocked()
	s.mu.Unlock()
}

func (s *sched) remove(t *Timer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.index < 0 {
		return false
	}
	first := t.index == 0
	heap.Remove(&s.h, t.index)
	// Left armed for the removed timer, the timerfd would wake the process
	// once for nothing: a lease holder stops and replaces its earliest
	// timer on every renewal.
	switch {
	case len(s.h) == 0:
		s.armLocked(time.Time{})
	case first:
		s.armLocked(s.h[0].when)
	}
	return true
}

// rearmLocked arms the timerfd for the earliest pending timer if it is not
// armed for it or for an earlier instant already.
func (s *sched) rearmLocked() {
	if len(s.h) == 0 {
		return
	}
	first := s.h[0].when
	if !s.armed.IsZero() && !first.Before(s.armed) {
		return
	}
	s.armLocked(first)
}

// armLocked sets the timerfd to expire at when (relative to now, at least
// a nanosecond: zero would disarm it), or disarms it for the zero time.
// A raw system call: it does not wake the runtime's sysmon.
func (s *sched) armLocked(when time.Time) {
	var spec unix.ItimerSpec
	if !when.IsZero() {
		d := time.Until(when)
		if d < 1 {
			d = 1
		}
		spec.Value = unix.NsecToTimespec(int64(d))
	}
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, s.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if e != 0 {
		// Cannot happen with a valid descriptor and spec; fire soon so no
		// timer is lost.
		spec.Value = unix.NsecToTimespec(int64(time.Millisecond))
		_, _, _ = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, s.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	}
	s.armed = when
}

func (s *sched) run(f *os.File) {
	defer f.Close()
	for waitExpiry(s.rc) == nil {
		s.fire()
	}
}

// fire runs every due timer and re-arms for the next one.
func (s *sched) fire() {
	now := time.Now()
	var due []*Timer
	s.mu.Lock()
	s.armed = time.Time{}
	for len(s.h) > 0 && !s.h[0].when.After(now) {
		due = append(due, heap.Pop(&s.h).(*Timer))
	}
	s.rearmLocked()
	s.mu.Unlock()
	for _, t := range due {
		if t.f != nil {
			go t.f()
			continue
		}
		select {
		case t.c <- now:
		default:
		}
	}
}

type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when.Before(h[j].when) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
