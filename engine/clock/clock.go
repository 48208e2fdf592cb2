package clock

import (
	"context"
	"time"

	"github.com/havenha/haven/internal/tick"
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

// NewTimer returns a timer of internal/tick's scheduler (one timerfd for
// the process: a wake-up where a runtime timer costs about four on an idle
// agent; the runtime's timer where there is no timerfd).
func (System) NewTimer(d time.Duration) Timer { return tickTimer{tick.NewTimer(d)} }

// AfterFunc is NewTimer's with a function, like time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer {
	return tickTimer{tick.AfterFunc(d, f)}
}

type tickTimer struct{ t *tick.Timer }

func (s tickTimer) C() <-chan time.Time { return s.t.C }
func (s tickTimer) Stop() bool          { return s.t.Stop() }

// NewTicker returns a timerfd ticker (internal/tick: one wake-up a tick
// where a runtime timer costs about four on an idle agent), or a
// time.Ticker if the timerfd cannot be made.
func (System) NewTicker(d time.Duration) Ticker {
	if t, err := tick.New(d); err == nil {
		return fdTicker{t}
	}
	return timeTicker{time.NewTicker(d)}
}

type fdTicker struct{ t *tick.Ticker }

func (f fdTicker) C() <-chan time.Time { return f.t.C }
func (f fdTicker) Stop()               { f.t.Stop() }

type timeTicker struct{ t *time.Ticker }

func (f timeTicker) C() <-chan time.Time { return f.t.C }
func (f timeTicker) Stop()               { f.t.Stop() }

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
