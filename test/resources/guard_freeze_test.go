package resources

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watchdogLine matches the guard's WATCHDOG: line (text log format): the
// lease deadline it acted on and how late it acted.
var watchdogLine = regexp.MustCompile(`WATCHDOG: the agent's lease deadline passed.* deadline=(\S+) late=(\S+)`)

// guardKilledAt returns when the guard logged the kill of process group
// pgid (its "torn down" line, written once no member is left; the log's
// millisecond is rounded up), or false.
func guardKilledAt(log string, pgid int) (time.Time, bool) {
	re := regexp.MustCompile(`(?m)^time=(\S+) level=\S+ msg="guard: torn down" .*kind=kill-group .*pgid:` + strconv.Itoa(pgid) + `\b`)
	m := re.FindStringSubmatch(log)
	if m == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return time.Time{}, false
	}
	return at.Add(time.Millisecond), true
}

// SIGSTOP of the agent running an exec resource: the agent is frozen, its
// pipe to the guard stays open, yet the guard — armed with the lease
// deadline on every extension — kills the resource's process group once
// that deadline (+ grace) passes, before the coordinator starts it on
// another node, so it never runs twice. After SIGCONT the cluster
// converges to the resource on exactly one node.
func TestGuard_FrozenAgentResourceStopsBeforeItStartsElsewhere(t *testing.T) {
	r := newRig(t, "", threeNodes(), svcPreferN2)
	r.c.StartAll()
	r.waitOn("svc", "n2")
	victim := r.pidFromFile("svc", "n2")
	n2 := r.c.Node("n2")
	agentPID := n2.PID()
	var grd int
	r.eventually("n2's guard process", func() bool { grd = guardOf(agentPID); return grd != 0 })
	r.eventually("n2's guard armed with the lease", func() bool { return strings.Contains(n2.Log(), "guard: armed") })

	// Nothing may stay frozen, whatever happens below (cleanups run
	// last-in first-out: this one before the harness kills the agents).
	t.Cleanup(func() { _ = syscall.Kill(agentPID, syscall.SIGCONT) })
	if err := syscall.Kill(agentPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	gone := r.pollGone("svc's process on n2 (frozen agent)", victim)
	t.Logf("svc's process on n2 seen gone %v after its agent's SIGSTOP (a figure, not a check)", gone.Sub(frozen).Round(time.Millisecond))
	// Its end: the earlier of the test's poll and the guard's own log of
	// the kill (both after the fact; the guard's is not delayed by the
	// test's polling on a loaded machine).
	r.eventually("the guard's log of the kill", func() bool { _, ok := guardKilledAt(n2.Log(), victim); return ok })
	if k, _ := guardKilledAt(n2.Log(), victim); k.Before(gone) {
		t.Logf("the guard logged the kill %v before the test saw the process gone", gone.Sub(k).Round(time.Millisecond))
		gone = k
	}
	r.stampAt(gone, interval{res: "svc", node: "n2", pid: victim})
	if !processAlive(agentPID) {
		t.Fatalf("n2's agent (pid %d) is gone; expected it frozen", agentPID)
	}
	if !processAlive(grd) {
		t.Fatalf("n2's guard (pid %d) exited while its agent is frozen; expected it to keep serving", grd)
	}
	r.eventually("svc started on n1 or n3", func() bool {
		on := r.runningOn("svc")
		return len(on) == 1 && on[0] != "n2"
	})
	var other interval
	for _, iv := range r.live("svc") {
		other = iv
		if iv.start < gone.UnixNano() {
			t.Errorf("svc started on %s at %d, before n2's process was seen gone at %d", iv.node, iv.start, gone.UnixNano())
		} else {
			t.Logf("svc started on %s %v after n2's process was gone (a figure, not a check)", iv.node, time.Duration(iv.start-gone.UnixNano()).Round(time.Millisecond))
		}
	}
	r.checkNeverTwice("svc")
	log := n2.Log()
	m := watchdogLine.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("n2's log has no WATCHDOG: line of its guard")
	}
	if !strings.Contains(log, "guard: torn down") {
		t.Errorf("n2's log does not show the guard's teardown")
	}
	if dl, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
		late, _ := time.ParseDuration(m[2])
		t.Logf("n2's lease deadline %v after the SIGSTOP; the guard acted %v after it (grace included), the process was seen gone %v after it, svc started on %s %v after it (figures, not checks)",
			dl.Sub(frozen).Round(time.Millisecond), late.Round(time.Millisecond), gone.Sub(dl).Round(time.Millisecond),
			other.node, time.Unix(0, other.start).Sub(dl).Round(time.Millisecond))
	}

	// SIGCONT: n2's agent finds its lease lapsed and its resource gone;
	// the cluster converges to svc on exactly one node (n2, its
	// preferred node, once it is back).
	if err := syscall.Kill(agentPID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	r.waitOn("svc", "n2")
	r.checkNeverTwice("svc")
}
