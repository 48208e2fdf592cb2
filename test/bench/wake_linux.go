package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WakeCost is what one wake-up of an idle Go process costs on this
// machine, in microseconds of CPU (the process's threads' run time over the
// wake-ups): the unit an idle agent's CPU is made of, which differs several
// fold between machines (virtualised timers, mitigations), so idle figures
// from two machines compare only through it.
type WakeCost struct {
	// TimerfdUS: a periodic timerfd read through the poller (the poller
	// wakes once and sysmon not at all: the floor of a Go wake-up).
	TimerfdUS float64 `json:"timerfd_us"`
	// RuntimeTimerUS: a runtime time.Ticker (the netpoller's sleep rounded
	// down to whole milliseconds, and sysmon woken at the timer's instant).
	RuntimeTimerUS float64 `json:"runtime_timer_us"`
	Hz             int     `json:"hz"`
	Seconds        float64 `json:"seconds_each"`
}

// String formats the calibration for the report's head.
func (w WakeCost) String() string {
	return fmt.Sprintf("a wake-up of an idle Go process costs %.0f µs of CPU on a timerfd, %.0f µs on a runtime timer (%d/s for %.0f s each)",
		w.TimerfdUS, w.RuntimeTimerUS, w.Hz, w.Seconds)
}

// measureWakeCost wakes this process hz times a second for d on each kind
// of timer and divides the run time of all its threads by the wake-ups.
// Run it while the process does nothing else.
func measureWakeCost(hz int, d time.Duration) (WakeCost, error) {
	w := WakeCost{Hz: hz, Seconds: d.Seconds()}
	n := int(d.Seconds() * float64(hz))
	period := time.Second / time.Duration(hz)

	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return w, fmt.Errorf("timerfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd-wakecost")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return w, err
	}
	ts := unix.NsecToTimespec(int64(period))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		return w, fmt.Errorf("timerfd: %w", err)
	}
	var buf [8]byte
	c0, err := selfRunNS()
	if err != nil {
		return w, err
	}
	for range n {
		if err := rc.Read(func(fd uintptr) bool {
			_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			return e != unix.EAGAIN
		}); err != nil {
			return w, err
		}
	}
	c1, _ := selfRunNS()
	w.TimerfdUS = float64(c1-c0) / 1e3 / float64(n)

	t := time.NewTicker(period)
	c0, _ = selfRunNS()
	for range n {
		<-t.C
	}
	c1, _ = selfRunNS()
	t.Stop()
	w.RuntimeTimerUS = float64(c1-c0) / 1e3 / float64(n)
	return w, nil
}

// selfRunNS sums the run time of this process's threads (schedstat, ns).
func selfRunNS() (int64, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("schedstat: %w", err)
		}
		sum += v
	}
	return sum, nil
}
