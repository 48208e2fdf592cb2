package inproc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/agent"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/coord"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/membership"
	"github.com/havenha/haven/node"
	"github.com/havenha/haven/test/stamps"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// waitFor bounds every poll: generous, the machine is shared.
const waitFor = 90 * time.Second

type tlog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	w := &tlog{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	lvl := slog.LevelInfo
	if os.Getenv("INPROC_QUIET") != "" {
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

type tnode struct {
	name   string
	n      *node.Node
	cn     *consensus.Node
	ctl    *controller.Node
	st     *state.State
	cancel context.CancelFunc
	done   chan struct{}
}

type cluster struct {
	t       *testing.T
	yaml    []byte
	model   *model.Cluster
	net     *consensus.InmemNetwork
	root    string
	logDir  string
	sockDir string
	keys    membership.Keys
	world   *world
	logger  *slog.Logger
	lease   time.Duration

	mu    sync.Mutex
	nodes map[string]*tnode
	views map[string]*memberView
	wires map[string]*memWire
	// fencer, when set before startAll, is every node's fencer.
	fencer coord.Fencer
}

// types is the agent registry of the in-process clusters: the built-in
// types plus the test types registered by init functions.
var types = agent.Builtin()

func parse(b []byte) (*model.Cluster, error) {
	return config.Parse("committed configuration", b, config.Options{Types: types.Lookup, FenceTypes: fenceTypes})
}

// fenceTypes registers a test-only fencing type, exec, for the stonith
// tests: the haven binary has no fencing type yet, and in these clusters the
// fencing itself is the cluster's fencer (testFencer), not the device.
func fenceTypes(name string) (model.FenceType, bool) {
	return testFenceType{}, name == "exec"
}

type testFenceType struct{}

func (testFenceType) Validate(p map[string]any) []model.ParamProblem {
	if _, ok := p["command"]; !ok {
		return []model.ParamProblem{{Msg: "no command; expected command: PROGRAM"}}
	}
	return nil
}

// newCluster parses yaml (with LOG, TESTPID placeholders replaced) and
// prepares, without starting, a cluster.
func newCluster(t *testing.T, yaml string) *cluster {
	root := t.TempDir()
	logDir := filepath.Join(root, "log")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	yaml = strings.NewReplacer("LOGDIR", logDir, "TESTPID", strconv.Itoa(os.Getpid())).Replace(yaml)
	m, err := parse([]byte(yaml))
	if err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	w := &world{group: map[string]int{}, down: map[string]bool{}, votes: map[string]int{}, twoNode: m.Cluster.TwoNode,
		incarnation: map[string]int{}}
	for _, n := range m.Nodes {
		w.votes[n.Name] = n.VotesOrDefault()
	}
	keys, err := membership.DeriveKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are short (108 bytes): not under the test's folder.
	sockDir, err := os.MkdirTemp("", "inproc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	c := &cluster{t: t, yaml: []byte(yaml), model: m, net: consensus.NewInmemNetwork(), root: root, logDir: logDir, sockDir: sockDir,
		keys: keys, world: w, logger: testLogger(t), lease: m.EffectiveTiming().Lease.D(),
		nodes: map[string]*tnode{}, views: map[string]*memberView{}, wires: map[string]*memWire{}}
	t.Cleanup(c.teardown)
	return c
}

func (c *cluster) teardown() {
	c.mu.Lock()
	var names []string
	for n := range c.nodes {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		c.stopNode(n)
	}
	// Kill every resource process still running (the tests leave them:
	// a stopped haven leaves resources running, by design).
	for _, iv := range c.intervals() {
		if iv.open() {
			_ = syscall.Kill(-iv.pid, syscall.SIGKILL)
		}
	}
}

func (c *cluster) startAll() {
	for _, n := range c.model.Nodes {
		c.startNode(n.Name)
	}
	c.commitConfig()
}

// commitConfig waits until the first leader has committed the nodes' file
// (the test's configuration) as version 1, as a fresh cluster does.
func (c *cluster) commitConfig() {
	c.t.Helper()
	c.eventually("configuration version 1 committed by the first leader", func() bool {
		for _, tn := range c.running() {
			if v, _ := tn.st.ConfigVersion(); v >= 1 {
				return true
			}
		}
		return false
	})
}

func (c *cluster) running() []*tnode {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tnode
	for _, n := range c.model.Nodes {
		if tn := c.nodes[n.Name]; tn != nil {
			out = append(out, tn)
		}
	}
	return out
}

func (c *cluster) node(name string) *tnode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

func (c *cluster) names() []string {
	var out []string
	for _, n := range c.model.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// startNode starts a node's haven: the node package as the agent runs it,
// over the in-memory raft network, the world's membership and the
// in-memory lease wire.
func (c *cluster) startNode(name string) *tnode {
	c.t.Helper()
	dir := filepath.Join(c.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	path := filepath.Join(dir, "haven.yaml")
	if _, err := os.Stat(path); err != nil {
		if err := os.WriteFile(path, c.yaml, 0o600); err != nil {
			c.t.Fatal(err)
		}
	}
	link := c.net.Link(raft.ServerAddress(name))
	view := newMemberView(c.world, name, c.names())
	wire := &memWire{c: c, from: name}
	n, err := node.New(node.Config{
		Cluster: c.model, File: c.yaml, Path: path, Name: name, DataDir: dir, Keys: c.keys,
		Logger: c.logger.With("n", name), Version: "inproc",
		Types: types.Lookup, Options: config.Options{Types: types.Lookup, FenceTypes: fenceTypes},
		APISocket: filepath.Join(c.sockDir, name+".sock"), Fencer: c.fencer,
		Members: view, RaftLink: func() (consensus.Link, error) { return link, nil },
		RaftAddress: func(n model.Node) raft.ServerAddress { return raft.ServerAddress(n.Name) },
		LeaseWire:   wire,
		Tuning:      node.Tuning{NoSync: true, ReconcileInterval: 200 * time.Millisecond, LeaderInterval: 2 * time.Second, Resync: 200 * time.Millisecond},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	tn := &tnode{name: name, n: n, st: n.State(), done: make(chan struct{})}
	c.mu.Lock()
	c.views[name], c.wires[name] = view, wire
	c.mu.Unlock()
	c.world.mu.Lock()
	delete(c.world.down, name)
	c.world.incarnation[name]++
	c.world.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	runErr := make(chan error, 1)
	go func() {
		runErr <- n.Run(ctx)
		close(tn.done)
	}()
	select {
	case <-n.Ready():
	case err := <-runErr:
		c.t.Fatalf("node %s: Run: %v", name, err)
	case <-time.After(waitFor):
		c.t.Fatalf("node %s: not running after %s", name, waitFor)
	}
	tn.cn, tn.ctl = n.Raft(), n.Controller()
	c.mu.Lock()
	c.nodes[name] = tn
	c.mu.Unlock()
	c.membershipChanged()
	return tn
}

// stopNode stops a node's haven like a process exit (node.Node.Abort):
// its resources keep running.
func (c *cluster) stopNode(name string) {
	c.mu.Lock()
	tn := c.nodes[name]
	delete(c.nodes, name)
	delete(c.views, name)
	delete(c.wires, name)
	c.mu.Unlock()
	if tn == nil {
		return
	}
	tn.n.Abort()
	<-tn.done
	tn.cancel()
}

// crashNode is a machine failure: haven stops, its resource processes are
// SIGKILLed (recorded in the log as "kill"), and the others see it dead.
func (c *cluster) crashNode(name string) {
	c.world.mu.Lock()
	c.world.down[name] = true
	c.world.mu.Unlock()
	c.membershipChanged()
	c.stopNode(name)
	for _, iv := range c.intervals() {
		if iv.open() && iv.node == name {
			c.kill(iv)
		}
	}
}

// partition splits the cluster: the given nodes on one side, the rest on the other.
func (c *cluster) partition(side ...string) {
	var addrs []raft.ServerAddress
	c.world.mu.Lock()
	for n := range c.world.votes {
		c.world.group[n] = 0
	}
	for _, n := range side {
		c.world.group[n] = 1
		addrs = append(addrs, raft.ServerAddress(n))
	}
	c.world.mu.Unlock()
	c.net.Partition(addrs...)
	c.membershipChanged()
}

func (c *cluster) heal() {
	c.world.mu.Lock()
	for n := range c.world.group {
		c.world.group[n] = 0
	}
	c.world.mu.Unlock()
	c.net.Heal()
	c.membershipChanged()
}

// membershipChanged has every running node's membership report what the
// world changed.
func (c *cluster) membershipChanged() {
	c.mu.Lock()
	var views []*memberView
	for _, v := range c.views {
		views = append(views, v)
	}
	c.mu.Unlock()
	for _, v := range views {
		v.changed()
	}
}

func (c *cluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			c.dump()
			c.t.Fatalf("timed out after %s waiting for %s", waitFor, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dump logs the process log and each node's view, for a failed wait.
func (c *cluster) dump() {
	b, _ := os.ReadFile(c.logPath())
	c.t.Logf("process log:\n%s", b)
	for _, tn := range c.running() {
		v := tn.st.View()
		c.t.Logf("node %s: index %d placement(based %d) %v; instances %+v", tn.name, v.Index, v.Placement.BasedOn, v.Placement.Placement, tn.ctl.Instances())
		for _, n := range sortedKeys(v.Nodes) {
			for _, r := range sortedKeys(v.Nodes[n].Resources) {
				o := v.Nodes[n].Resources[r]
				c.t.Logf("  %s %s: %s (%s) fails %d held %v", n, r, o.State, o.Reason, o.FailCount, o.Held)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *cluster) apply(cmdType string, body any) state.Result {
	c.t.Helper()
	cmd, err := state.NewCommand(cmdType, time.Now(), "test", body)
	if err != nil {
		c.t.Fatal(err)
	}
	var res state.Result
	c.eventually("apply "+cmdType, func() bool {
		for _, tn := range c.running() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r, err := tn.cn.Apply(ctx, cmd)
			cancel()
			if err == nil {
				res = r
				return true
			}
		}
		return false
	})
	return res
}

// leader returns the node running the coordinator (polls).
func (c *cluster) leader() string {
	c.t.Helper()
	var got string
	c.eventually("a coordinator", func() bool {
		for _, tn := range c.running() {
			if tn.ctl.Leading() {
				got = tn.name
				return true
			}
		}
		return false
	})
	return got
}

// script writes LOGDIR/RES.sh, the command of exec resource res: it stamps
// "start" (after delay), creates LOGDIR/RES.ready.NODE, and stamps "stop" on
// SIGTERM. It ends by itself when the test process is gone.
func (c *cluster) script(res string, delay time.Duration) {
	c.t.Helper()
	s := fmt.Sprintf(`log=%[3]s/events; ready=%[3]s/%[1]s.ready.$HAVEN_NODE
trap 'echo "stop $(date +%%s%%N) $HAVEN_NODE $$ %[1]s" >> $log; rm -f $ready; exit 0' TERM INT
rm -f $ready
sleep %.3[2]f
echo "start $(date +%%s%%N) $HAVEN_NODE $$ %[1]s" >> $log
touch $ready
while kill -0 %[4]d 2>/dev/null; do sleep 0.05; done
`, res, delay.Seconds(), c.logDir, os.Getpid())
	if err := os.WriteFile(filepath.Join(c.logDir, res+".sh"), []byte(s), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) logPath() string { return filepath.Join(c.logDir, "events") }

// interval is one resource process's life from its own stamps.
type interval struct {
	res, node   string
	pid         int
	start, stop int64 // ns; stop 0: still running
	how         string
}

func (iv interval) open() bool { return iv.stop == 0 }

func (c *cluster) intervals() []interval {
	var out []interval
	for _, iv := range stamps.Read(c.logPath()) {
		out = append(out, interval{res: iv.Resource, node: iv.Node, pid: iv.PID, start: iv.Start, stop: iv.Stop, how: iv.How})
	}
	return out
}

// runningOn returns the nodes where res runs now (per its processes).
func (c *cluster) runningOn(res string) []string {
	var out []string
	for _, iv := range c.intervals() {
		if iv.res == res && iv.open() && processAlive(iv.pid) {
			out = append(out, iv.node)
		}
	}
	sort.Strings(out)
	return out
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

func (c *cluster) waitOn(res string, nodes ...string) {
	c.t.Helper()
	sort.Strings(nodes)
	want := strings.Join(nodes, ",")
	c.eventually(fmt.Sprintf("%s running on [%s] and recorded started", res, want), func() bool {
		return strings.Join(c.runningOn(res), ",") == want && strings.Join(c.startedIn(res), ",") == want
	})
}

// startedIn returns the nodes where the leader's state records res started
// (any running node's view when there is no coordinator).
func (c *cluster) startedIn(res string) []string {
	var v state.Data
	for _, tn := range c.running() {
		if tn.ctl.Leading() || v.Index == 0 {
			v = tn.st.View()
		}
	}
	var out []string
	for _, n := range sortedKeys(v.Nodes) {
		for id, o := range v.Nodes[n].Resources {
			if (id == res || strings.HasPrefix(id, res+":")) && o.State == state.Started {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

func (c *cluster) starts(res, node string) int {
	n := 0
	for _, iv := range c.intervals() {
		if iv.res == res && (node == "" || iv.node == node) {
			n++
		}
	}
	return n
}

// kill SIGKILLs a resource process group and records it.
func (c *cluster) kill(iv interval) {
	_ = syscall.Kill(-iv.pid, syscall.SIGKILL)
	for i := 0; i < 200 && processAlive(iv.pid); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	f, err := os.OpenFile(c.logPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(f, "kill %d %s %d %s\n", time.Now().UnixNano(), iv.node, iv.pid, iv.res)
	f.Close()
}

// killRunning kills res's process on node.
func (c *cluster) killRunning(res, node string) {
	c.t.Helper()
	for _, iv := range c.intervals() {
		if iv.res == res && iv.node == node && iv.open() {
			c.kill(iv)
			return
		}
	}
	c.t.Fatalf("%s has no running process on %s", res, node)
}

// checkNeverTwice fails when two processes of one of the resources overlap
// in time (by their own stamps).
func (c *cluster) checkNeverTwice(resources ...string) {
	c.t.Helper()
	ivs := c.intervals()
	for _, res := range resources {
		var mine []interval
		for _, iv := range ivs {
			if iv.res == res {
				mine = append(mine, iv)
			}
		}
		for i := range mine {
			for j := i + 1; j < len(mine); j++ {
				a, b := mine[i], mine[j]
				endA, endB := a.stop, b.stop
				if endA == 0 {
					endA = 1 << 62
				}
				if endB == 0 {
					endB = 1 << 62
				}
				if a.start < endB && b.start < endA {
					c.dump()
					c.t.Fatalf("%s ran on two nodes at once: %s pid %d [%d, %d] and %s pid %d [%d, %d]",
						res, a.node, a.pid, a.start, a.stop, b.node, b.pid, b.start, b.stop)
				}
			}
		}
	}
}
