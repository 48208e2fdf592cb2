package resources

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guardOf returns the pid of the `haven guard` child of the agent process
// agentPID (a scan of /proc), or 0.
func guardOf(agentPID int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) < 2 || f[1] != strconv.Itoa(agentPID) {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if args := strings.Split(string(cmd), "\x00"); len(args) > 1 && args[1] == "guard" {
			return pid
		}
	}
	return 0
}

// stampAt records that pid ended by time at (the first poll that saw it
// gone: an upper bound), so the never-twice check counts its life as ended.
func (r *rig) stampAt(at time.Time, iv interval) {
	r.t.Helper()
	f, err := os.OpenFile(r.eventsPath(), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "kill %d %s %d %s\n", at.UnixNano(), iv.node, iv.pid, iv.res)
}

// pollGone polls every 5 ms, up to waitFor, until pid is gone, and returns
// when it first saw it gone.
func (r *rig) pollGone(what string, pid int) time.Time {
	r.t.Helper()
	deadline := time.Now().Add(waitFor)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %s waiting for %s (pid %d) to be gone", waitFor, what, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

// SIGKILL of the agent running an exec resource: its guard kills the
// resource's process group (no stop stamp: SIGKILL) long before the
// coordinator starts it on another node, so it never runs twice; the guard
// then exits. The agent's return moves it back, once.
func TestGuard_AgentKilledResourceStopsBeforeItStartsElsewhere(t *testing.T) {
	r := newRig(t, "", threeNodes(), svcPreferN2)
	r.c.StartAll()
	r.waitOn("svc", "n2")
	victim := r.pidFromFile("svc", "n2")
	agentPID := r.c.Node("n2").PID()
	var grd int
	r.eventually("n2's guard process", func() bool { grd = guardOf(agentPID); return grd != 0 })
	r.c.Node("n2").Kill() // the agent's pid only: the guard and svc are in other groups
	killed := time.Now()
	gone := r.pollGone("svc's process on n2", victim)
	r.stampAt(gone, interval{res: "svc", node: "n2", pid: victim})
	t.Logf("svc's process on n2 gone %v after its agent's SIGKILL (a figure, not a check)", gone.Sub(killed).Round(time.Millisecond))
	r.pollGone("n2's guard", grd)
	r.eventually("svc started on n1 or n3", func() bool {
		on := r.runningOn("svc")
		return len(on) == 1 && on[0] != "n2"
	})
	for _, iv := range r.live("svc") {
		if iv.start < gone.UnixNano() {
			t.Errorf("svc started on %s at %d, before n2's process was seen gone at %d", iv.node, iv.start, gone.UnixNano())
		} else {
			t.Logf("svc started on %s %v after n2's process was gone", iv.node, time.Duration(iv.start-gone.UnixNano()).Round(time.Millisecond))
		}
	}
	r.checkNeverTwice("svc")
	if log := r.c.Node("n2").Log(); !strings.Contains(log, "tearing down everything it held") || !strings.Contains(log, "guard: torn down") {
		t.Errorf("n2's log does not show the guard's teardown")
	}
	// n2 returns: it finds nothing running, and svc fails back, once.
	r.c.Node("n2").Start()
	r.waitOn("svc", "n2")
	r.checkNeverTwice("svc")
}

// A graceful stop (SIGTERM) stops the resource itself and says goodbye to
// the guard, which exits without tearing anything down.
func TestGuard_GracefulStopLeavesTheGuardNothingToDo(t *testing.T) {
	r := newRig(t, "", threeNodes(), svcPreferN2)
	r.c.StartAll()
	r.waitOn("svc", "n2")
	kept := r.pidFromFile("svc", "n2")
	agentPID := r.c.Node("n2").PID()
	var grd int
	r.eventually("n2's guard process", func() bool { grd = guardOf(agentPID); return grd != 0 })
	r.c.Node("n2").Stop()
	r.pollGone("n2's guard", grd)
	var stopped int64
	for _, iv := range r.intervals() {
		if iv.pid == kept {
			stopped = iv.stop
		}
	}
	if stopped == 0 {
		t.Errorf("svc's process %d on n2 has no stop stamp: its agent did not stop it", kept)
	}
	if log := r.c.Node("n2").Log(); strings.Contains(log, "guard: torn down") || strings.Contains(log, "tearing down") {
		t.Errorf("the guard tore something down after a graceful stop")
	}
	r.eventually("svc started on n1 or n3", func() bool {
		on := r.runningOn("svc")
		return len(on) == 1 && on[0] != "n2"
	})
	r.checkNeverTwice("svc")
}
