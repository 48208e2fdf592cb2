package tick

import (
	"testing"
	"time"
)

// Ticks come about every period, a slow reader gets one pending tick (not a
// backlog), and nothing comes after Stop.
func TestTicker_TicksDropsAndStops(t *testing.T) {
	const period = 20 * time.Millisecond
	tk, err := New(period)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var last time.Time
	for i := 0; i < 5; i++ {
		select {
		case last = <-tk.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("tick %d did not come", i+1)
		}
	}
	if el := last.Sub(start); el < 5*period-5*time.Millisecond {
		t.Fatalf("5 ticks of %v came within %v; want at least about %v", period, el, 5*period)
	}
	tk.Stop()
	// Miss several periods: one tick is pending, not a backlog.
	const slow = 200 * time.Millisecond
	tk2, err := New(slow)
	if err != nil {
		t.Fatal(err)
	}
	defer tk2.Stop()
	time.Sleep(5 * slow)
	<-tk2.C
	took := time.Now()
	select {
	case <-tk2.C:
		if time.Since(took) < slow/2 { // else this goroutine stalled past a tick: inconclusive
			t.Fatal("a second tick was pending right after the first; missed ticks must be dropped")
		}
	default:
	}
	tk.Stop() // safe twice
	select {
	case <-tk.C:
		// At most the one sent before Stop returned.
	default:
	}
	select {
	case <-tk.C:
		t.Fatal("a tick came after Stop")
	case <-time.After(5 * period):
	}
}

func TestNew_RejectsNonPositivePeriod(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := New(d); err == nil {
			t.Errorf("New(%v) = nil error; want one naming the period", d)
		}
	}
}
