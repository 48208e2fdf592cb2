package reconcile

import (
	"sync"
	"testing"
	"time"
)

// A start is announced ("starting" recorded) and runs only from a Desired
// at or past the announcement's index that still places it here.
func TestReconciler_AnnouncedStartWaitsForItsRecordInTheDesiredState(t *testing.T) {
	h := newHarness(t)
	r := h.run(func(c *Config) { c.AnnounceStarts = true })
	r.Set(Desired{Index: 1, Instances: insts("a")})
	intent := h.waitReported("a", StateStarting, OpStart, 1)
	// The state the adapter pushes next still predates the record: no start.
	r.Set(Desired{Index: intent.index - 1, Instances: insts("a")})
	time.Sleep(50 * time.Millisecond) // give a wrong start the chance to happen
	if n := len(h.sys.callsOf("a", "start")); n != 0 {
		t.Fatalf("%d start(s) before the state included the announcement at index %d; want 0", n, intent.index)
	}
	r.Set(Desired{Index: intent.index, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
	if n := len(h.rep.find("a", StateStarting, "")); n != 1 {
		t.Fatalf("%d 'starting' reports; want the one announcement", n)
	}
}

// When the state that includes the announcement no longer places the
// instance here (a placement changed meanwhile), the start never runs and
// the instance is recorded stopped again.
func TestReconciler_AnnouncedStartAbandonedWhenPlacementMovedMeanwhile(t *testing.T) {
	h := newHarness(t)
	r := h.run(func(c *Config) { c.AnnounceStarts = true })
	r.Set(Desired{Index: 1, Instances: insts("a")})
	intent := h.waitReported("a", StateStarting, OpStart, 1)
	r.Set(Desired{Index: intent.index, Others: insts("a")})
	abandoned := h.waitReported("a", StateStopped, OpStart, 1)
	if abandoned.index <= intent.index {
		t.Fatalf("stopped recorded at %d, not after the announcement at %d", abandoned.index, intent.index)
	}
	if n := len(h.sys.callsOf("a", "start")); n != 0 {
		t.Fatalf("%d start call(s) for an abandoned announcement; want 0", n)
	}
	// Placed here again: announced again, then started.
	r.Set(Desired{Index: abandoned.index, Instances: insts("a")})
	again := h.waitReported("a", StateStarting, OpStart, 2)
	r.Set(Desired{Index: again.index, Instances: insts("a")})
	h.waitReported("a", StateStarted, OpStart, 1)
}

// The `then` side of a mandatory order restarts when its `first`, on
// another node, moves or restarts (Pacemaker's semantics): it stops once
// the first is no longer started where placed, and starts again once it is.
func TestReconciler_ThenRestartsWhenItsRemoteFirstMoves(t *testing.T) {
	h := newHarness(t)
	r := h.run(nil)
	var mu sync.Mutex
	where := []string{"n2"}
	startedOn := func(id string) []string {
		mu.Lock()
		defer mu.Unlock()
		if id != "x" {
			return nil
		}
		return where
	}
	set := func(nodes ...string) {
		mu.Lock()
		where = nodes
		mu.Unlock()
	}
	b := Instance{ID: "b", Resource: res("b"), After: []string{"x"}}
	r.Set(Desired{Index: 1, Instances: []Instance{b}, StartedOn: startedOn})
	h.waitReported("b", StateStarted, OpStart, 1)
	set() // x moves: stopped on n2 (or still started on n2, no longer placed there)
	r.Set(Desired{Index: 2, Instances: []Instance{b}, StartedOn: startedOn})
	h.waitReported("b", StateStopped, OpStop, 1)
	set("n3") // x started where it is now placed
	r.Set(Desired{Index: 3, Instances: []Instance{b}, StartedOn: startedOn})
	h.waitReported("b", StateStarted, OpStart, 2)
	if got, want := h.sys.seq(), "start b, stop b, start b"; got != want {
		t.Fatalf("calls %q; want %q", got, want)
	}
}

// An announcement that cannot be recorded (no leader: the whole cluster is
// stopping) does not keep a stop-all reconciler busy: nothing runs.
func TestReconciler_UnrecordedAnnouncementIsNotBusyInStopAll(t *testing.T) {
	h := newHarness(t)
	r := h.run(func(c *Config) { c.AnnounceStarts = true })
	h.rep.mu.Lock()
	h.rep.fail = true // the announcement is never recorded
	h.rep.mu.Unlock()
	r.Set(Desired{Index: 1, Instances: insts("a")})
	eventually(t, "a announced (busy) in run mode", func() bool {
		for _, st := range r.Status() {
			if st.ID == "a" && st.Busy == "start-intent" {
				return true
			}
		}
		return false
	})
	r.Set(Desired{Index: 1, Instances: insts("a"), Mode: ModeStopAll})
	eventually(t, "a not busy in stop-all", func() bool {
		for _, st := range r.Status() {
			if st.ID == "a" {
				return st.Busy == "" && !st.Running
			}
		}
		return false
	})
	if n := len(h.sys.callsOf("a", "start")); n != 0 {
		t.Fatalf("%d start(s) of an unrecorded announcement", n)
	}
}
