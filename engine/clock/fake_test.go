package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fired(t Timer) bool {
	select {
	case <-t.C():
		return true
	default:
		return false
	}
}

func TestFake_TimersFireWhenTheirInstantIsReached(t *testing.T) {
	c := NewFake(t0)
	a, b := c.NewTimer(time.Second), TimerAt(c, t0.Add(2*time.Second))
	if c.Pending() != 2 || c.Armed() != 2 {
		t.Fatalf("pending %d armed %d; want 2 and 2", c.Pending(), c.Armed())
	}
	c.Advance(999 * time.Millisecond)
	if fired(a) || fired(b) {
		t.Fatal("a timer fired before its instant")
	}
	c.Advance(time.Millisecond)
	if !fired(a) || fired(b) {
		t.Fatal("at +1s: want the 1s timer only")
	}
	if !b.Stop() || b.Stop() {
		t.Error("Stop reports pending once, then not")
	}
	c.Advance(time.Hour)
	if fired(b) {
		t.Error("a stopped timer fired")
	}
	ctx, cancel := c.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if dl, ok := ctx.Deadline(); !ok || !dl.Equal(c.Now().Add(time.Second)) {
		t.Errorf("deadline %v %v; want the fake instant", dl, ok)
	}
	c.Advance(time.Second)
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("err %v; want DeadlineExceeded", ctx.Err())
	}
}

func TestFake_TickerDropsMissedTicks(t *testing.T) {
	c := NewFake(t0)
	tk := c.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	c.Advance(350 * time.Millisecond) // three periods: one tick delivered
	if got := <-tk.C(); !got.Equal(t0.Add(350 * time.Millisecond)) {
		t.Fatalf("tick at %v; want the instant Advance reached", got)
	}
	select {
	case <-tk.C():
		t.Fatal("missed ticks were queued")
	default:
	}
	if at, ok := c.NextDeadline(); !ok || !at.Equal(t0.Add(400*time.Millisecond)) {
		t.Errorf("next tick %v; want the next period after now", at)
	}
}
