package reconcile

import (
	"testing"
	"time"
)

// Monitors are due on multiples of their interval after the reconciler's
// start: two monitors of one interval that finish at different instants
// come due together after their first run, a monitor of a multiple of that
// interval shares their instants, and no gap is below half an interval or
// above one and a half.
func TestMonitorAt_AlignsMonitorsToTheirInterval(t *testing.T) {
	r := &Reconciler{startedAt: t0}
	sec := time.Second
	for _, c := range []struct {
		now      time.Duration // after the start
		interval time.Duration
		want     time.Duration
	}{
		{0, sec, sec},                           // started with the reconciler
		{1003 * time.Millisecond, sec, 2 * sec}, // a monitor that took 3 ms
		{1400 * time.Millisecond, sec, 2 * sec}, // started late in a period: 0.6 s
		{1600 * time.Millisecond, sec, 3 * sec}, // early in the next: 1.4 s
		{2 * sec, 10 * sec, 10 * sec},           // a 10 s monitor: on the 1 s instants too
		{7 * sec, 10 * sec, 20 * sec},           // 13 s: within one and a half
		{250 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
	} {
		got := r.monitorAt(t0.Add(c.now), c.interval).Sub(t0)
		if got != c.want {
			t.Errorf("monitor of %s done at start+%s: next at start+%s; want start+%s", c.interval, c.now, got, c.want)
		}
		if gap := got - c.now; gap < c.interval/2 || gap > c.interval*3/2 {
			t.Errorf("monitor of %s done at start+%s: gap %s outside [interval/2, 1.5 interval]", c.interval, c.now, gap)
		}
	}
	// Before the start (cannot happen in Run) or without an interval: plain.
	if got := r.monitorAt(t0.Add(-sec), sec); !got.Equal(t0) {
		t.Errorf("before the start: %v; want now + interval", got)
	}
	// Two monitors that drift apart unaligned meet after one run each.
	a, b := t0.Add(1010*time.Millisecond), t0.Add(1370*time.Millisecond)
	na, nb := r.monitorAt(a, sec), r.monitorAt(b, sec)
	if !na.Equal(nb) {
		t.Errorf("monitors done at +1.01 s and +1.37 s come due at %v and %v; want the same instant", na.Sub(t0), nb.Sub(t0))
	}
}
