//go:build !linux

// Package tick delivers periodic ticks; on Linux from a timerfd (see
// tick_linux.go for why), elsewhere from a time.Ticker.
package tick

import (
	"fmt"
	"time"
)

// Ticker sends the time on C every period, like time.Ticker.
type Ticker struct {
	C <-chan time.Time
	t *time.Ticker
}

// New returns a ticker whose first tick comes one period from now.
func New(period time.Duration) (*Ticker, error) {
	if period <= 0 {
		return nil, fmt.Errorf("tick: period %s is not positive", period)
	}
	t := time.NewTicker(period)
	return &Ticker{C: t.C, t: t}, nil
}

// Stop turns the ticker off. Safe more than once.
func (t *Ticker) Stop() { t.t.Stop() }

// Timer is a one-shot timer; elsewhere than Linux, the runtime's.
type Timer struct {
	C <-chan time.Time
	t *time.Timer
}

// NewTimer returns a timer that sends the time on C once, d from now.
func NewTimer(d time.Duration) *Timer {
	t := time.NewTimer(d)
	return &Timer{C: t.C, t: t}
}

// AfterFunc calls f in its own goroutine d from now.
func AfterFunc(d time.Duration, f func()) *Timer { return &Timer{t: time.AfterFunc(d, f)} }

// Stop prevents the timer from firing and reports whether it was pending.
func (t *Timer) Stop() bool { return t.t.Stop() }
