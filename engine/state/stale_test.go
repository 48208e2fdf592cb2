package state

import "testing"

// A node cut off with a resource running reports "stopping" and "stopped"
// when it is back; the coordinator had already recorded the instance
// stopped when the node's lease lapsed. The node's "stopping", made before
// it saw that record, must not show the instance active again (the
// scheduler would see it on two nodes and move it needlessly). Its later
// reports count.
func TestReport_StaleActiveReportAfterLapseIgnored(t *testing.T) {
	s := New(Options{})
	apply := func(idx uint64, r Report) {
		t.Helper()
		if res := s.Apply(idx, cmd(t, CmdReport, t0, r)); res.Err() != nil {
			t.Fatalf("report at %d: %v", idx, res.Err())
		}
	}
	state := func() string { return s.View().Nodes["a"].Resources["web"].State }
	apply(1, Report{Node: "a", Resource: "web", State: Started, Seen: 0})
	apply(2, Report{Node: "a", Resource: "web", State: Stopped, Lapsed: true, Reason: "lease lapsed"})
	if got := s.View().Nodes["a"].Resources["web"].LapsedAt; got != 2 {
		t.Fatalf("LapsedAt = %d; want 2", got)
	}
	apply(3, Report{Node: "a", Resource: "web", State: Stopping, Seen: 1})
	if got := state(); got != Stopped {
		t.Fatalf("after a stale 'stopping' (seen 1 < lapse 2) the state is %q; want stopped", got)
	}
	apply(40, Report{Node: "a", Resource: "web", State: Failed, Seen: 1, Failure: &Failure{ID: "m", Op: "monitor", Reason: "not running"}})
	if o := s.View().Nodes["a"].Resources["web"]; o.State != Stopped || o.FailCount != 0 {
		t.Fatalf("a monitor that found it gone after the lapse is no failure: %+v", o)
	}
	apply(45, Report{Node: "a", Resource: "web", State: Failed, Seen: 1, Failure: &Failure{ID: "s", Op: "start", Reason: "killed during start", Fatal: true}})
	if o := s.View().Nodes["a"].Resources["web"]; o.State != Stopped || o.FailCount != 0 {
		t.Fatalf("a start cut short by the lapse is no failure: %+v", o)
	}
	apply(46, Report{Node: "a", Resource: "web", State: Failed, Seen: 1, Failure: &Failure{ID: "x", Op: "stop", Reason: "boom"}})
	if o := s.View().Nodes["a"].Resources["web"]; o.State != Failed || o.FailCount != 1 {
		t.Fatalf("a stale stop failure must still count and show: %+v", o)
	}
	apply(47, Report{Node: "a", Resource: "web", State: Starting, Seen: 4})
	if got := state(); got != Starting {
		t.Fatalf("a report made after the lapse was seen (seen 4 >= 2) is %q; want starting", got)
	}
	// Reports without Seen (older agents) are applied as before.
	apply(48, Report{Node: "a", Resource: "web", State: Stopped, Lapsed: true})
	apply(49, Report{Node: "a", Resource: "web", State: Started})
	if got := state(); got != Started {
		t.Fatalf("a report without Seen is %q; want started", got)
	}
}

// A stale failure that is not counted says so in its result (the node must
// not wait for a placement computed from it); a counted one does not.
func TestReport_UncountedFailureSaysSo(t *testing.T) {
	s := New(Options{})
	s.Apply(1, cmd(t, CmdReport, t0, Report{Node: "a", Resource: "web", State: Started}))
	s.Apply(2, cmd(t, CmdReport, t0, Report{Node: "a", Resource: "web", State: Stopped, Lapsed: true}))
	res := s.Apply(3, cmd(t, CmdReport, t0, Report{Node: "a", Resource: "web", State: Failed, Seen: 1, Failure: &Failure{ID: "p", Op: "probe", Reason: "gone"}}))
	if res.Err() != nil || string(res.Value) != `{"failure_ignored":true}` {
		t.Fatalf("stale probe failure: result %+v; want value {\"failure_ignored\":true}", res)
	}
	res = s.Apply(4, cmd(t, CmdReport, t0, Report{Node: "a", Resource: "web", State: Failed, Seen: 3, Failure: &Failure{ID: "q", Op: "probe", Reason: "gone"}}))
	if res.Err() != nil || len(res.Value) != 0 {
		t.Fatalf("counted failure: result %+v; want no value", res)
	}
	if o := s.View().Nodes["a"].Resources["web"]; o.FailCount != 1 || s.View().InputIndex != 4 {
		t.Fatalf("counted failure: %+v, input index %d; want fail count 1 at input index 4", o, s.View().InputIndex)
	}
}
