package resources

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/api"
)

// pidFromFile reads the pid the resource's process wrote on node.
func (r *rig) pidFromFile(res, node string) int {
	r.t.Helper()
	var pid int
	r.eventually(fmt.Sprintf("%s's pid file on %s", res, node), func() bool {
		b, err := os.ReadFile(filepath.Join(r.logDir, res+".pid."+node))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && processAlive(pid)
	})
	return pid
}

// killProcess SIGKILLs the resource's process on node (found by its pid
// file) and returns the pid.
func (r *rig) killProcess(res, node string) int {
	r.t.Helper()
	pid := r.pidFromFile(res, node)
	r.kill(interval{res: res, node: node, pid: pid})
	r.t.Logf("killed %s's process %d on %s", res, pid, node)
	return pid
}

// waitFailCount waits until the status shows res with fail count n on node.
func (r *rig) waitFailCount(res, node string, n int) api.StatusView {
	r.t.Helper()
	var s api.StatusView
	r.eventually(fmt.Sprintf("%s fail count %d on %s", res, n, node), func() bool {
		var err error
		s, err = r.status()
		if err != nil {
			return false
		}
		rv, ok := resourceOf(s, res)
		return ok && rv.FailCounts[node] == n
	})
	return s
}

// A killed resource process is restarted on the same node; killed
// migration_threshold times it moves; `haven resource cleanup` forgets the
// failures and it comes back to its preferred node (stickiness 0).
func TestResources_RestartMigrateCleanup(t *testing.T) {
	r := newRig(t, "", threeNodes(), `resources:
  - {id: svc, type: exec, params: {command: SCRIPT(svc)}, monitor: {interval: 1s, timeout: 5s}, meta: {migration_threshold: 2, stickiness: 0}}
groups:
  - {id: g, resources: [svc]}
constraints:
  - location: {resource: g, node: n1, score: 50}
`)
	r.c.StartAll()
	r.waitOn("svc", "n1")

	// First failure: restarted in place.
	old := r.killProcess("svc", "n1")
	r.eventually("svc restarted on n1 with a new process", func() bool {
		l := r.live("svc")
		return len(l) == 1 && l[0].node == "n1" && l[0].pid != old
	})
	s := r.waitFailCount("svc", "n1", 1)
	r.waitOn("svc", "n1")
	found := false
	for _, f := range s.FailedActions {
		if f.Resource == "svc" && f.Node == "n1" && f.FailCount == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("status failed_actions lack svc on n1 with fail count 1: %+v", s.FailedActions)
	}
	// n3 answers from its own copy of the state (it may lag): poll.
	var out string
	r.eventually("haven status on n3 lists svc's failure on n1", func() bool {
		out = r.cli("status", "--socket", r.c.Node("n3").Socket)
		return strings.Contains(out, "Failed Resource Actions:") && strings.Contains(out, "svc on n1")
	})

	// Second failure reaches migration_threshold: it moves off n1.
	r.killProcess("svc", "n1")
	var to string
	r.eventually("svc moved off n1", func() bool {
		on := r.runningOn("svc")
		if len(on) == 1 && on[0] != "n1" {
			to = on[0]
			return true
		}
		return false
	})
	r.waitFailCount("svc", "n1", 2)
	r.waitOn("svc", to)
	t.Logf("svc moved to %s after %d failures on n1", to, 2)

	// Cleanup by group id (expanded to its primitive) over TCP with the key.
	out = r.cli("resource", "cleanup", "g", "-c", r.c.ConfigPath, "--json")
	var resp api.CleanupResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("cleanup --json: %v\n%s", err, out)
	}
	if !slices.Equal(resp.Primitives, []string{"svc"}) {
		t.Errorf("cleanup of group g committed for %v; expected [svc]", resp.Primitives)
	}
	r.waitFailCount("svc", "n1", 0)
	r.waitOn("svc", "n1")
	r.checkNeverTwice("svc")
	s, _ = r.status()
	for _, f := range s.FailedActions {
		if f.Resource == "svc" {
			t.Errorf("failed action left after cleanup: %+v", f)
		}
	}
	// Cleanup on one node (--node), through the local socket.
	r.killProcess("svc", "n1")
	r.waitFailCount("svc", "n1", 1)
	r.waitOn("svc", "n1")
	out = r.cli("resource", "cleanup", "svc", "--node", "n1", "--socket", r.c.Node("n3").Socket)
	if !strings.Contains(out, "Cleaned up svc on n1") {
		t.Errorf("cleanup --node said %q", out)
	}
	r.waitFailCount("svc", "n1", 0)
	// An unknown id is refused and names the known ones.
	_, errOut, err := r.c.CLI("resource", "cleanup", "nope", "--socket", r.c.Node("n2").Socket)
	if err == nil || !strings.Contains(errOut, "svc") {
		t.Errorf("cleanup of an unknown id: err %v, stderr %q; expected a refusal naming svc", err, errOut)
	}
}

// SIGKILL of the agent running a resource: it starts elsewhere. The dead
// agent's guard kills its process (test/resources/guard_test.go checks
// when); should it still run, the test kills it after the check.
func TestResources_AgentKilledResourceStartsElsewhere(t *testing.T) {
	r := newRig(t, "", threeNodes(), svcPreferN2)
	r.c.StartAll()
	r.waitOn("svc", "n2")
	orphan := r.pidFromFile("svc", "n2")
	r.c.Node("n2").Kill()
	r.eventually("svc started on n1 or n3", func() bool {
		for _, iv := range r.live("svc") {
			if iv.node != "n2" {
				return true
			}
		}
		return false
	})
	var other string
	for _, iv := range r.live("svc") {
		if iv.node != "n2" {
			other = iv.node
		}
	}
	r.eventually("status shows svc on "+other, func() bool {
		s, err := r.status()
		rv, ok := resourceOf(s, "svc")
		return err == nil && ok && rv.State == "started" && slices.Equal(rv.Nodes, []string{other})
	})
	if processAlive(orphan) {
		t.Errorf("svc's process %d on the killed node n2 still runs; its guard should have killed it", orphan)
		r.kill(interval{res: "svc", node: "n2", pid: orphan})
	}
	// n2 comes back: it probes, finds nothing running, and svc fails back
	// to its preferred node or stays (default stickiness); it runs once.
	r.c.Node("n2").Start()
	r.eventually("n2 online again and svc running on exactly one node", func() bool {
		s, err := r.c.Node("n2").Status()
		if err != nil || s.Leader == "" {
			return false
		}
		rv, ok := resourceOf(s, "svc")
		return ok && rv.State == "started" && len(rv.Nodes) == 1 && len(r.runningOn("svc")) == 1
	})
}

// An order constraint across nodes: b (on n3) starts only after a (on n2)
// is up, by the processes' own stamps; a takes two seconds to come up and
// its start waits for its check.
func TestResources_OrderAcrossNodes(t *testing.T) {
	r := newRig(t, "", threeNodes(), `resources:
  - id: a
    type: exec
    params:
      command: SCRIPT(a)
      env: {DELAY: "2"}
      check: {command: [/bin/sh, -c, 'test -f LOGDIR/a.ready.$HAVEN_NODE']}
    monitor: {interval: 1s, timeout: 5s}
    start: {timeout: 30s}
  - {id: b, type: exec, params: {command: SCRIPT(b)}, monitor: {interval: 1s, timeout: 5s}}
constraints:
  - location: {resource: a, node: n2, score: 100}
  - location: {resource: b, node: n3, score: 100}
  - order: {first: a, then: b}
`)
	r.c.StartAll()
	r.waitOn("a", "n2")
	r.waitOn("b", "n3")
	check := func(round string) {
		var aStart, bStart int64
		for _, iv := range r.live("a") {
			aStart = iv.start
		}
		for _, iv := range r.live("b") {
			bStart = iv.start
		}
		if aStart == 0 || bStart == 0 || bStart < aStart {
			t.Fatalf("%s: b started at %d, a at %d; expected b after a", round, bStart, aStart)
		}
		t.Logf("%s: b started %.3fs after a was up", round, float64(bStart-aStart)/1e9)
	}
	check("initial start")
	// n2 goes to standby: a moves, and b (on n3) restarts after it, as in
	// Pacemaker: a mandatory order's `then` stops while its `first` is not
	// started where placed, and starts again once it is.
	r.cli("node", "standby", "n2", "-c", r.c.ConfigPath)
	r.eventually("a moved off n2 and b restarted on n3 after it", func() bool {
		la, lb := r.live("a"), r.live("b")
		return len(la) == 1 && la[0].node != "n2" && len(lb) == 1 && lb[0].node == "n3" && lb[0].start > la[0].start
	})
	r.checkNeverTwice("a", "b")
	check("after a moved")
}

// The killed agent comes back while its orphaned process still runs: it
// probes, reports it, and the resource ends up running on one node only.
// n2 runs without its guard (--guard=false), which would otherwise kill the
// orphan with its agent (test/resources/guard_test.go checks that).
func TestResources_RestartedAgentFindsItsOrphan(t *testing.T) {
	r := newRig(t, "", threeNodes(), svcPreferN2)
	r.c.Node("n1").Start()
	r.c.Node("n2").Start("--guard=false")
	r.c.Node("n3").Start()
	r.waitOn("svc", "n2")
	orphan := r.pidFromFile("svc", "n2")
	r.c.Node("n2").Kill()
	r.eventually("svc started on n1 or n3 while n2's process still runs", func() bool {
		return len(r.runningOn("svc")) == 2
	})
	if !processAlive(orphan) {
		t.Fatalf("the orphan %d is gone; expected it to survive its agent's SIGKILL", orphan)
	}
	r.c.Node("n2").Start("--guard=false")
	r.eventually("svc on exactly one node after n2's agent returned", func() bool {
		s, err := r.c.Node("n2").Status()
		if err != nil {
			return false
		}
		rv, ok := resourceOf(s, "svc")
		return ok && rv.State == "started" && len(rv.Nodes) == 1 && len(r.runningOn("svc")) == 1
	})
	t.Logf("svc runs on %v; orphan %d alive: %v", r.runningOn("svc"), orphan, processAlive(orphan))
}
