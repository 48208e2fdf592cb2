package clock

import (
	"context"
	"time"
)

// Clock is the time source of the engine. Durations are measured on the
// monotonic clock (time.Time values from Now keep their monotonic reading), so
// wall-clock steps never shorten or stretch a lease or a timeout.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
	// WithTimeout returns a context that ends after d on this clock (its Err
	// is context.DeadlineExceeded then).
	WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc)
	// NewTicker returns a ticker that fires every d, the first time d from
	// now; a tick not taken before the next is dropped, like time.Ticker.
	NewTicker(d time.Duration) Ticker
}

// Ticker is a periodic timer of a Clock.
type Ticker interface {
	// C delivers the time of each tick.
	C() <-chan time.Time
	// Stop turns the ticker off.
	Stop()
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	// C delivers the time when the timer fires (nil for AfterFunc timers).
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was pending.
	Stop() bool
}

// System is the real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (System) NewTimer(d time.Duration) Timer { return runtimeTimer{time.NewTimer(d)} }

// AfterFunc wraps time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer {
	return runtimeTimer{time.AfterFunc(d, f)}
}

type runtimeTimer struct{ t *time.Timer }

func (r runtimeTimer) C() <-chan time.Time { return r.t.C }
func (r runtimeTimer) Stop() bool          { return r.t.Stop() }

// NewTicker wraps time.NewTicker.
func (System) NewTicker(d time.Duration) Ticker { return runtimeTicker{time.NewTicker(d)} }

type runtimeTicker struct{ t *time.Ticker }

func (r runtimeTicker) C() <-chan time.Time { return r.t.C }
func (r runtimeTicker) Stop()               { r.t.Stop() }

// WithTimeout wraps context.WithTimeout.
func (System) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d)
}

// TimerAt arms a timer for the instant at on clock, exactly when the clock
// supports absolute timers (Fake), else relative to Now.
func TimerAt(clock Clock, at time.Time) Timer {
	if a, ok := clock.(interface{ NewTimerAt(time.Time) Timer }); ok {
		return a.NewTimerAt(at)
	}
	return clock.NewTimer(at.Sub(clock.Now()))
}
