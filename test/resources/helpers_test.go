package resources

import (
	"encoding/json"
	"fmt"
	"github.com/havenha/haven/test/stamps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/harness"
)

// waitFor bounds every poll: generous, the machine is shared and loaded.
// Nothing here asserts how fast anything happens.
const waitFor = 90 * time.Second

func profile() string {
	if p := os.Getenv("HAVEN_TEST_PROFILE"); p != "" {
		return p
	}
	return "lan"
}

// rig is a harness cluster plus the events file its resources stamp.
type rig struct {
	t      *testing.T
	c      *harness.Cluster
	logDir string
}

// newRig writes a configuration with nodes and extra (resources:,
// constraints:, … where LOGDIR is replaced by the stamps folder and
// SCRIPT(ID) by the command of a stamping script for resource ID) and
// starts nothing.
func newRig(t *testing.T, clusterExtra string, nodes []harness.NodeSpec, extra string) *rig {
	t.Helper()
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "multi-process resource test")
	}
	logDir := t.TempDir()
	r := &rig{t: t, logDir: logDir}
	// SCRIPT(ID) -> [/bin/sh, LOGDIR/ID.sh]
	for {
		i := strings.Index(extra, "SCRIPT(")
		if i < 0 {
			break
		}
		j := strings.Index(extra[i:], ")")
		id := extra[i+len("SCRIPT(") : i+j]
		r.script(id)
		extra = extra[:i] + fmt.Sprintf("[/bin/sh, %s]", filepath.Join(logDir, id+".sh")) + extra[i+j+1:]
	}
	extra = strings.ReplaceAll(extra, "LOGDIR", logDir)
	r.c = harness.New(t, harness.Spec{Name: "res", Profile: profile(), ClusterExtra: clusterExtra, Nodes: nodes, Extra: extra})
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("HAVEN_TEST_DUMP") != "" {
			r.dump()
		}
	})
	return r
}

// script writes LOGDIR/RES.sh: after $DELAY seconds (exec's env param;
// default 0) it stamps "start NS NODE PID RES" into the events file, writes
// its pid to LOGDIR/RES.pid.NODE and creates LOGDIR/RES.ready.NODE (for a
// check command), and stamps "stop …" on SIGTERM. It ends by itself when the test process is gone.
func (r *rig) script(res string) {
	r.t.Helper()
	s := fmt.Sprintf(`log=%[2]s/events; pidf=%[2]s/%[1]s.pid.$HAVEN_NODE
ready=%[2]s/%[1]s.ready.$HAVEN_NODE
trap 'echo "stop $(date +%%s%%N) $HAVEN_NODE $$ %[1]s" >> $log; rm -f $pidf $ready; exit 0' TERM INT
rm -f $ready
sleep ${DELAY:-0}
echo "start $(date +%%s%%N) $HAVEN_NODE $$ %[1]s" >> $log
echo $$ > $pidf
touch $ready
while kill -0 %[3]d 2>/dev/null; do sleep 0.1; done
`, res, r.logDir, os.Getpid())
	if err := os.WriteFile(filepath.Join(r.logDir, res+".sh"), []byte(s), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) eventsPath() string { return filepath.Join(r.logDir, "events") }

// interval is one resource process's life from its own stamps.
type interval struct {
	res, node   string
	pid         int
	start, stop int64 // ns; stop 0: no stop stamp (running, or killed)
}

func (r *rig) intervals() []interval {
	var out []interval
	for _, iv := range stamps.Read(r.eventsPath()) {
		out = append(out, interval{res: iv.Resource, node: iv.Node, pid: iv.PID, start: iv.Start, stop: iv.Stop})
	}
	return out
}

// stampKill records that the test killed pid (a process cannot stamp its
// own SIGKILL).
func (r *rig) stampKill(iv interval) {
	f, err := os.OpenFile(r.eventsPath(), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "kill %d %s %d %s\n", time.Now().UnixNano(), iv.node, iv.pid, iv.res)
}

// kill SIGKILLs a resource process (and its group) and records it.
func (r *rig) kill(iv interval) {
	r.t.Helper()
	_ = syscall.Kill(-iv.pid, syscall.SIGKILL)
	_ = syscall.Kill(iv.pid, syscall.SIGKILL)
	r.stampKill(iv)
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// live returns the running processes of res (per their stamps and /proc).
func (r *rig) live(res string) []interval {
	var out []interval
	for _, iv := range r.intervals() {
		if iv.res == res && iv.stop == 0 && processAlive(iv.pid) {
			out = append(out, iv)
		}
	}
	return out
}

// runningOn returns the nodes where res runs now, sorted.
func (r *rig) runningOn(res string) []string {
	var out []string
	for _, iv := range r.live(res) {
		out = append(out, iv.node)
	}
	sort.Strings(out)
	return out
}

func (r *rig) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %s waiting for %s", waitFor, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// status asks the first running agent that answers for its status.
func (r *rig) status() (api.StatusView, error) {
	var last error
	for _, n := range r.c.Running() {
		s, err := n.Status()
		if err == nil {
			return s, nil
		}
		last = err
	}
	if last == nil {
		last = fmt.Errorf("no agent runs")
	}
	return api.StatusView{}, last
}

func resourceOf(s api.StatusView, id string) (api.ResourceView, bool) {
	for _, rv := range s.Resources {
		if rv.ID == id {
			return rv, true
		}
	}
	return api.ResourceView{}, false
}

// waitOn waits until res's processes run exactly on nodes and the status
// of a running agent shows it started there.
func (r *rig) waitOn(res string, nodes ...string) {
	r.t.Helper()
	sort.Strings(nodes)
	want := strings.Join(nodes, ",")
	r.eventually(fmt.Sprintf("%s running on [%s] (processes and status)", res, want), func() bool {
		if strings.Join(r.runningOn(res), ",") != want {
			return false
		}
		s, err := r.status()
		if err != nil {
			return false
		}
		rv, ok := resourceOf(s, res)
		got := append([]string{}, rv.Nodes...)
		sort.Strings(got)
		return ok && rv.State == "started" && strings.Join(got, ",") == want
	})
}

// cli runs the haven CLI and fails the test on an error.
func (r *rig) cli(args ...string) string {
	r.t.Helper()
	out, errOut, err := r.c.CLI(args...)
	if err != nil {
		r.t.Fatalf("haven %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// simulate returns `haven simulate -c FILE --json`'s placement.
func (r *rig) simulate() map[string][]string {
	r.t.Helper()
	out := r.cli("simulate", "-c", r.c.ConfigPath, "--json")
	var v struct {
		Placement map[string][]string `json:"placement"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		r.t.Fatalf("simulate --json: %v\n%s", err, out)
	}
	return v.Placement
}

// dump logs the events file, each agent's status and log tail.
func (r *rig) dump() {
	b, _ := os.ReadFile(r.eventsPath())
	r.t.Logf("events:\n%s", b)
	for _, n := range r.c.Nodes {
		if s, err := n.Status(); err == nil {
			j, _ := json.Marshal(struct {
				R []api.ResourceView
				F []api.FailedAction
				C *api.ControllerView
			}{s.Resources, s.FailedActions, s.Controller})
			r.t.Logf("%s status: %s %s", n.Name, harness.DescribeStatus(s), j)
		}
		log := n.Log()
		lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
		if max := 60; len(lines) > max && os.Getenv("HAVEN_TEST_DUMP") != "all" {
			lines = lines[len(lines)-max:]
		}
		r.t.Logf("--- %s log tail:\n%s", n.Name, strings.Join(lines, "\n"))
	}
}

func threeNodes() []harness.NodeSpec {
	return []harness.NodeSpec{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}
}

// killNodeResources ends the resource processes of a node whose agent was
// just SIGKILLed (a machine failure) and stamps their ends: the agent's
// guard kills them, and any still alive (no guard, or not yet) are killed
// here.
func (r *rig) killNodeResources(node string) {
	r.t.Helper()
	byPid := map[int]interval{}
	for _, iv := range r.intervals() {
		if iv.stop == 0 {
			byPid[iv.pid] = iv
		}
	}
	for _, rp := range r.c.Node(node).ResourceProcesses() {
		iv, ok := byPid[rp.PID]
		if !ok {
			iv = interval{res: rp.Instance, node: node, pid: rp.PID}
		}
		r.kill(iv)
	}
	// What the agent's guard killed meanwhile (so it was not listed above)
	// ends now: stamped as seen gone, later than it was (errs on the side
	// of overlap).
	for _, iv := range r.intervals() {
		if iv.stop == 0 && iv.node == node {
			r.kill(iv)
		}
	}
}

// checkNeverTwice fails the test if a process of any of res ran on two
// nodes at once, by the stamps (a kill is stamped after the fact, so the
// check errs on the side of overlap).
func (r *rig) checkNeverTwice(res ...string) {
	r.t.Helper()
	now := time.Now().UnixNano()
	ivs := r.intervals()
	end := func(iv interval) int64 {
		if iv.stop == 0 {
			return now
		}
		return iv.stop
	}
	for i, a := range ivs {
		for _, b := range ivs[i+1:] {
			if a.res != b.res || a.node == b.node || !slices.Contains(res, a.res) {
				continue
			}
			if a.start < end(b) && b.start < end(a) {
				r.t.Errorf("%s ran on %s (pid %d) and %s (pid %d) at once", a.res, a.node, a.pid, b.node, b.pid)
			}
		}
	}
}

// svcPreferN2 is one monitored exec resource, svc, that prefers n2 (score
// 50): the cluster of the agent-failure tests.
const svcPreferN2 = `resources:
  - {id: svc, type: exec, params: {command: SCRIPT(svc)}, monitor: {interval: 1s, timeout: 5s}}
constraints:
  - location: {resource: svc, node: n2, score: 50}
`

// startOf is when the process pid started, from the events file (0 if it
// never stamped a start).
func (r *rig) startOf(pid int) int64 {
	for _, iv := range r.intervals() {
		if iv.pid == pid {
			return iv.start
		}
	}
	return 0
}
