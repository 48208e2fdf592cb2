package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to (Advance), for tests and
// simulations. Timers whose instant is reached fire in instant order.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[*fakeTimer]struct{}
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, timers: map[*fakeTimer]struct{}{}}
}

type fakeTimer struct {
	clk    *Fake
	at     time.Time
	seq    int
	ch     chan time.Time
	f      func()
	period time.Duration // a ticker's: re-armed when it fires
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	_, pending := t.clk.timers[t]
	delete(t.clk.timers, t)
	return pending
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Fake) add(d time.Duration, f func()) *fakeTimer {
	c.mu.Lock()
	c.seq++
	t := &fakeTimer{clk: c, at: c.now.Add(d), seq: c.seq, f: f}
	if f == nil {
		t.ch = make(chan time.Time, 1)
	}
	fire := d <= 0
	if !fire {
		c.timers[t] = struct{}{}
	}
	now := c.now
	c.mu.Unlock()
	if fire {
		t.fire(now)
	}
	return t
}

func (t *fakeTimer) fire(now time.Time) {
	if t.f != nil {
		go t.f()
		return
	}
	select {
	case t.ch <- now:
	default:
	}
}

// NewTimer returns a timer firing when the fake time reaches now+d.
func (c *Fake) NewTimer(d time.Duration) Timer { return c.add(d, nil) }

// NewTicker returns a ticker firing every d of fake time, first at now+d.
// Advance delivers at most one tick per call (a slow reader misses ticks).
func (c *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("Fake.NewTicker: non-positive period")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{clk: c, at: c.now.Add(d), seq: c.seq, ch: make(chan time.Time, 1), period: d}
	c.timers[t] = struct{}{}
	return &fakeTicker{clk: c, ch: t.ch}
}

// fakeTicker stops whichever of its re-armed timers is pending.
type fakeTicker struct {
	clk *Fake
	ch  chan time.Time
}

func (f *fakeTicker) C() <-chan time.Time { return f.ch }

func (f *fakeTicker) Stop() {
	f.clk.mu.Lock()
	defer f.clk.mu.Unlock()
	for t := range f.clk.timers {
		if t.ch == f.ch {
			delete(f.clk.timers, t)
		}
	}
}

// AfterFunc calls f in a goroutine when the fake time reaches now+d.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer { return c.add(d, f) }

// WithTimeout returns a context cancelled (with Err DeadlineExceeded) when
// the fake time reaches now+d.
func (c *Fake) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	fc := &fakeDeadlineCtx{Context: ctx, deadline: c.Now().Add(d)}
	t := c.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return fc, func() { t.Stop(); cancel(context.Canceled) }
}

// fakeDeadlineCtx reports the fake deadline and DeadlineExceeded like a
// context made by context.WithTimeout.
type fakeDeadlineCtx struct {
	context.Context
	deadline time.Time
}

func (f *fakeDeadlineCtx) Deadline() (time.Time, bool) { return f.deadline, true }

func (f *fakeDeadlineCtx) Err() error {
	if err := f.Context.Err(); err != nil {
		if cause := context.Cause(f.Context); cause == context.DeadlineExceeded {
			return cause
		}
		return err
	}
	return nil
}

// Advance moves the fake time forward by d and fires every timer whose
// instant has been reached, in instant order.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due []*fakeTimer
	for t := range c.timers {
		if !t.at.After(now) {
			due = append(due, t)
			delete(c.timers, t)
		}
	}
	for _, t := range due {
		if t.period > 0 { // the next tick after now: missed ones are dropped
			next := t.at.Add(t.period)
			for !next.After(now) {
				next = next.Add(t.period)
			}
			c.seq++
			c.timers[&fakeTimer{clk: c, at: next, seq: c.seq, ch: t.ch, period: t.period}] = struct{}{}
		}
	}
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if !due[i].at.Equal(due[j].at) {
			return due[i].at.Before(due[j].at)
		}
		return due[i].seq < due[j].seq
	})
	for _, t := range due {
		t.fire(now)
	}
}

// Pending returns the number of timers that have not fired or been stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextDeadline returns the earliest pending timer's instant.
func (c *Fake) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best time.Time
	found := false
	for t := range c.timers {
		if !found || t.at.Before(best) {
			best, found = t.at, true
		}
	}
	return best, found
}

// Deadlines returns every pending timer's instant, earliest first (tests use
// it to know a loop has armed the timer they are about to fire).
func (c *Fake) Deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, 0, len(c.timers))
	for t := range c.timers {
		out = append(out, t.at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// HasTimerAt reports whether a pending timer fires at exactly at.
func (c *Fake) HasTimerAt(at time.Time) bool {
	for _, d := range c.Deadlines() {
		if d.Equal(at) {
			return true
		}
	}
	return false
}

// NewTimerAt returns a timer firing when the fake time reaches at (at once if
// it already has). Unlike NewTimer(at.Sub(Now())), it cannot be skewed by an
// Advance between reading the time and arming the timer.
func (c *Fake) NewTimerAt(at time.Time) Timer {
	c.mu.Lock()
	d := at.Sub(c.now)
	c.seq++
	t := &fakeTimer{clk: c, at: at, seq: c.seq, ch: make(chan time.Time, 1)}
	now := c.now
	if d > 0 {
		c.timers[t] = struct{}{}
	}
	c.mu.Unlock()
	if d <= 0 {
		t.fire(now)
	}
	return t
}

// Armed returns how many timers and ticks were armed since the clock was
// made, fired or not (tests use it to see a loop spin: a loop that arms
// timer after timer without the fake time moving).
func (c *Fake) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}
