package tick

import (
	"sync"
	"testing"
	"time"
)

// Timers fire in order, each not before its instant; a stopped one never
// fires, and stopping the earliest does not delay the next.
func TestTimer_FiresInOrderAndStops(t *testing.T) {
	start := time.Now()
	var mu sync.Mutex
	var order []int
	done := make(chan struct{}, 8)
	at := []time.Duration{120, 40, 80, 160}
	for i, d := range at {
		i, d := i, d*time.Millisecond
		AfterFunc(d, func() {
			if el := time.Since(start); el < d {
				t.Errorf("timer %d fired after %v; want not before %v", i, el, d)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			done <- struct{}{}
		})
	}
	stopped := AfterFunc(20*time.Millisecond, func() { t.Error("a stopped timer fired") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer = false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop = true; want false")
	}
	for range at {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a timer did not fire")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []int{1, 2, 0, 3}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("fired in order %v; want %v", order, want)
		}
	}
	time.Sleep(50 * time.Millisecond) // the stopped one's instant is long past
}

// NewTimer sends once on C; Stop after it fired reports false.
func TestNewTimer_SendsOnce(t *testing.T) {
	tm := NewTimer(30 * time.Millisecond)
	select {
	case <-tm.C:
	case <-time.After(10 * time.Second):
		t.Fatal("NewTimer did not fire")
	}
	if tm.Stop() {
		t.Fatal("Stop after firing = true; want false")
	}
	select {
	case <-tm.C:
		t.Fatal("a one-shot timer sent twice")
	case <-time.After(60 * time.Millisecond):
	}
}

// Many timers replaced like a lease holder's (stop the earliest, add a
// later one) leave exactly the last pending, and it fires.
func TestTimer_ReplaceEarliest(t *testing.T) {
	var cur *Timer
	fired := make(chan int, 100)
	for i := 0; i < 50; i++ {
		if cur != nil && !cur.Stop() {
			t.Fatalf("replacement %d: previous timer was not pending", i)
		}
		i := i
		cur = AfterFunc(time.Duration(50+i)*time.Millisecond, func() { fired <- i })
	}
	select {
	case i := <-fired:
		if i != 49 {
			t.Fatalf("timer %d fired; want only the last (49)", i)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the last timer did not fire")
	}
	select {
	case i := <-fired:
		t.Fatalf("timer %d fired too", i)
	case <-time.After(100 * time.Millisecond):
	}
}
