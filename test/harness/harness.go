// Package harness runs multi-process haven clusters on loopback for tests:
// it builds the haven binary once, writes a configuration (free ports on a
// private 127.x.y.z range, a fresh key file), starts one `haven agent`
// process per node with its own data directory, socket and log file, stops,
// kills and restarts them by PID, and polls their API with deadlines.
//
// Every process is started by the harness and killed by PID in t.Cleanup;
// nothing else is ever signalled. Addresses are always in 127.0.0.0/8
// (or the explicit addresses given, e.g. inside test/netns namespaces).
//
//	c := harness.New(t, harness.Spec{ExpectedVotes: 8, Nodes: []harness.NodeSpec{
//		{Name: "sv1", Votes: 2}, {Name: "sv2", Votes: 2}, {Name: "cl1"}, {Name: "cl2"}}})
//	c.StartAll()
//	c.Node("sv1").WaitQuorum("6 votes", 30*time.Second, func(q api.QuorumView) bool { return q.TotalVotes == 6 })
//	c.Node("cl1").Kill()      // SIGKILL by PID; Stop() is SIGTERM (graceful leave)
//	c.Node("cl1").Start()     // same data dir, socket and log file (appended)
//	out, _ := exec.Command(c.Bin, "quorum", "-c", c.ConfigPath, "--node", "sv2").Output()
//
// HAVEN_BIN=/path/to/haven skips the build. Each node's log is
// Node.LogPath (Node.Log() reads it); its API is Node.Client().
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds ./cmd/haven once per test process and returns its path.
// HAVEN_BIN overrides it with a prebuilt binary.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HAVEN_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		sweepBinaries()
		dir, err := os.MkdirTemp("", fmt.Sprintf("haven-bin-%d-", os.Getpid()))
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "haven")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/haven")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/haven: %v\n%s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// sweepBinaries removes binaries built by test processes that have exited
// (the build is shared by every test of a process, so no test can remove
// it; the next run does). Only folders named haven-bin-PID-* whose PID is
// gone are touched.
func sweepBinaries() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "haven-bin-*"))
	for _, d := range dirs {
		parts := strings.SplitN(strings.TrimPrefix(filepath.Base(d), "haven-bin-"), "-", 2)
		pid, err := strconv.Atoi(parts[0])
		if err != nil || len(parts) != 2 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// NodeSpec describes one node of a test cluster.
type NodeSpec struct {
	Name  string
	Votes int // 0: default (1)
	// Links is the number of addresses (default 1). Link i of node j is
	// 127.A.B+i.(j+1) within the cluster's private range.
	Links int
	// Addresses, when set, are used as given (e.g. network-namespace
	// addresses) with the default ports 7946/7947/7948; Links is ignored.
	Addresses []string
	// Role is "" (member) or "witness": a witness is started with
	// `haven witness` instead of `haven agent`.
	Role string
}

// Spec describes a test cluster.
type Spec struct {
	Name          string // cluster name (default "test")
	Nodes         []NodeSpec
	ExpectedVotes int // 0: unset
	TwoNode       bool
	WaitForAll    *bool
	Profile       string // default lan
	// ClusterExtra is raw YAML appended to the cluster: section (indented
	// by the caller with two spaces), e.g. "  timing: {probe_interval: 100ms}".
	ClusterExtra string
	// Extra is raw YAML appended after the nodes: section (resources:,
	// constraints:, …).
	Extra string
	// PerNodeConfig gives every node its own copy of the configuration
	// (Node.ConfigPath, DIR/NAME.yaml) instead of one shared file, as on
	// real machines: agents write the committed configuration back to it.
	PerNodeConfig bool
}

// Node is one node of a Cluster and its process (when running).
type Node struct {
	Name      string
	Votes     int
	Addresses []string
	Gossip    int
	API       int
	Raft      int
	DataDir   string
	Socket    string
	LogPath   string
	Role      string
	// ConfigPath is the node's own configuration file (Spec.PerNodeConfig),
	// else the cluster's.
	ConfigPath string

	c    *Cluster
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Cluster is a configuration on disk plus the processes started from it.
type Cluster struct {
	T          testing.TB
	Dir        string
	ConfigPath string
	KeyPath    string
	Bin        string
	Spec       Spec
	Nodes      []*Node
	// Base is the private range's first two octets after 127 (127.A.B.x).
	A, B int
}

func randInt(n int64) int {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}

// New writes a configuration and a key file for spec; no process starts.
func New(t testing.TB, spec Spec) *Cluster {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "test"
	}
	c := &Cluster{T: t, Dir: t.TempDir(), Bin: Binary(t), Spec: spec}
	// A private loopback range per cluster so concurrent tests never meet.
	c.A, c.B = 100+randInt(150), 10*randInt(24)
	for j, ns := range spec.Nodes {
		links := max(ns.Links, 1)
		n := &Node{Name: ns.Name, Votes: ns.Votes, Role: ns.Role, c: c}
		if len(ns.Addresses) > 0 {
			n.Addresses = append(n.Addresses, ns.Addresses...)
			n.Gossip, n.Raft, n.API = 7946, 7947, 7948
		} else {
			for i := 0; i < links; i++ {
				n.Addresses = append(n.Addresses, fmt.Sprintf("127.%d.%d.%d", c.A, c.B+i, j+1))
			}
			n.Gossip = freePort(t, n.Addresses, true)
			n.Raft = freePort(t, n.Addresses[:1], false)
			n.API = freePort(t, n.Addresses[:1], false)
			for n.API == n.Raft || n.API == n.Gossip || n.Raft == n.Gossip {
				n.API, n.Raft = freePort(t, n.Addresses[:1], false), freePort(t, n.Addresses[:1], false)
			}
		}
		n.DataDir = filepath.Join(c.Dir, "data", n.Name)
		n.Socket = filepath.Join(c.Dir, n.Name+".sock")
		n.LogPath = filepath.Join(c.Dir, n.Name+".log")
		c.Nodes = append(c.Nodes, n)
	}
	c.KeyPath = filepath.Join(c.Dir, "authkey")
	c.WriteKey(c.KeyPath)
	c.ConfigPath = filepath.Join(c.Dir, "haven.yaml")
	c.WriteConfig(c.ConfigPath, "authkey", nil)
	for _, n := range c.Nodes {
		n.ConfigPath = c.ConfigPath
		if spec.PerNodeConfig {
			n.ConfigPath = filepath.Join(c.Dir, n.Name+".yaml")
			c.WriteConfig(n.ConfigPath, "authkey", nil)
		}
	}
	// Cleanups run last-in first-out: the agents are killed first, then
	// the resource processes they left behind.
	t.Cleanup(c.KillAllResources)
	t.Cleanup(c.KillAll)
	return c
}

// WriteKey writes 32 fresh random bytes to path (mode 0600).
func (c *Cluster) WriteKey(path string) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(path, key, 0o600); err != nil {
		c.T.Fatal(err)
	}
}

// WriteConfig writes the cluster's configuration to path with keyFile as
// cluster.key_file; override may rewrite a node's addresses (by name) to
// build a deliberately different view.
func (c *Cluster) WriteConfig(path, keyFile string, override map[string][]string) {
	var b strings.Builder
	s := c.Spec
	fmt.Fprintf(&b, "cluster:\n  name: %s\n  key_file: %s\n", s.Name, keyFile)
	if s.ExpectedVotes > 0 {
		fmt.Fprintf(&b, "  expected_votes: %d\n", s.ExpectedVotes)
	}
	if s.TwoNode {
		b.WriteString("  two_node: true\n")
	}
	if s.WaitForAll != nil {
		fmt.Fprintf(&b, "  wait_for_all: %v\n", *s.WaitForAll)
	}
	if s.Profile != "" {
		fmt.Fprintf(&b, "  profile: %s\n", s.Profile)
	}
	if s.ClusterExtra != "" {
		b.WriteString(strings.TrimRight(s.ClusterExtra, "\n") + "\n")
	}
	b.WriteString("nodes:\n")
	for _, n := range c.Nodes {
		addrs := n.Addresses
		if o, ok := override[n.Name]; ok {
			addrs = o
		}
		fmt.Fprintf(&b, "  - name: %s\n    addresses: [%s]\n    gossip_port: %d\n    raft_port: %d\n    api_port: %d\n",
			n.Name, strings.Join(addrs, ", "), n.Gossip, n.Raft, n.API)
		if n.Votes > 0 {
			fmt.Fprintf(&b, "    votes: %d\n", n.Votes)
		}
		if n.Role != "" {
			fmt.Fprintf(&b, "    role: %s\n", n.Role)
		}
	}
	if s.Extra != "" {
		b.WriteString(strings.TrimRight(s.Extra, "\n") + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		c.T.Fatal(err)
	}
}

// freePort finds a port free on every address (TCP, and UDP when udp).
func freePort(t testing.TB, addrs []string, udp bool) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		port := 20000 + randInt(30000)
		ok := true
		var closers []func() error
		for _, a := range addrs {
			hp := net.JoinHostPort(a, fmt.Sprint(port))
			l, err := net.Listen("tcp", hp)
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, l.Close)
			if udp {
				u, err := net.ListenPacket("udp", hp)
				if err != nil {
					ok = false
					break
				}
				closers = append(closers, u.Close)
			}
		}
		for _, f := range closers {
			_ = f()
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no free port on %v", addrs)
	return 0
}

// Node returns the node named name.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.T.Fatalf("harness: no node %q", name)
	return nil
}

// StartAll starts every node's agent.
func (c *Cluster) StartAll() {
	for _, n := range c.Nodes {
		n.Start()
	}
}

// KillAll SIGKILLs every running agent (cleanup).
func (c *Cluster) KillAll() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// Start starts the node's agent with its configuration (Node.ConfigPath).
func (n *Node) Start(extraArgs ...string) {
	p := n.ConfigPath
	if p == "" {
		p = n.c.ConfigPath
	}
	n.StartWith(p, extraArgs...)
}

// StartWith starts the node's agent with another configuration file.
func (n *Node) StartWith(configPath string, extraArgs ...string) {
	t := n.c.T
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		t.Fatalf("harness: %s is already running (pid %d)", n.Name, n.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	args := append(n.AgentArgs(configPath), extraArgs...)
	cmd := exec.Command(n.c.Bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HAVEN_SOCKET=")
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	n.cmd, n.done = cmd, done
}

// AgentArgs returns the `haven agent` arguments for this node (without the
// binary), for launchers other than Start (e.g. inside a network
// namespace). ShellArgv wraps them so stderr goes to the node's log file.
func (n *Node) AgentArgs(configPath string) []string {
	cmd := "agent"
	if n.Role == "witness" {
		cmd = "witness"
	}
	return []string{cmd, "-c", configPath, "--node", n.Name, "--data-dir", n.DataDir, "--socket", n.Socket}
}

// ShellArgv returns an argv running the agent with its output appended to
// the node's log file: sh -c 'exec "$0" "$@" >>LOG 2>&1' BIN ARGS...
func (n *Node) ShellArgv(configPath string) []string {
	return append([]string{"sh", "-c", `exec "$0" "$@" >>'` + n.LogPath + `' 2>&1`, n.c.Bin}, n.AgentArgs(configPath)...)
}

// PID returns the running agent's process id, or 0.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether the agent process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the agent (if running) and waits for it to exit.
func (n *Node) Kill() { n.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM and waits up to 20 s for a graceful exit, then SIGKILL.
func (n *Node) Stop() {
	if !n.signal(syscall.SIGTERM, 20*time.Second) {
		n.c.T.Errorf("harness: %s did not stop within 20s of SIGTERM; killing it", n.Name)
		n.Kill()
	}
}

// Signal sends sig to the running agent without waiting (e.g. SIGSTOP).
func (n *Node) Signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

func (n *Node) signal(sig syscall.Signal, wait time.Duration) bool {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		n.mu.Lock()
		n.cmd = nil
		n.mu.Unlock()
		return true
	case <-time.After(wait):
		if sig == syscall.SIGKILL {
			n.c.T.Errorf("harness: %s (pid %d) did not exit after SIGKILL", n.Name, cmd.Process.Pid)
		}
		return false
	}
}

// Restart kills (SIGKILL) and starts the agent again.
func (n *Node) Restart() {
	n.Kill()
	n.Start()
}

// Log returns the agent's log so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.LogPath)
	return string(b)
}

// Client returns an API client over the node's unix socket.
func (n *Node) Client() *client.Client { return client.Unix(n.Socket) }

// Quorum asks the node's agent for its quorum view.
func (n *Node) Quorum() (api.QuorumView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return n.Client().Quorum(ctx)
}

// WaitQuorum polls the node's quorum view every 50 ms until ok returns
// true or timeout passes; it fails the test with the last view on timeout.
func (n *Node) WaitQuorum(what string, timeout time.Duration, ok func(api.QuorumView) bool) api.QuorumView {
	t := n.c.T
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last api.QuorumView
	var lastErr error
	for time.Now().Before(deadline) {
		q, err := n.Quorum()
		if err == nil && ok(q) {
			return q
		}
		last, lastErr = q, err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: timed out after %s waiting for %s; last view %s (err %v)\nlog tail:\n%s", n.Name, timeout, what, Describe(last), lastErr, tail(n.Log(), 30))
	return last
}

// Describe prints a quorum view on one line for messages.
func Describe(q api.QuorumView) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "quorate=%v total=%d quorum=%d highest=%d flags=%v members=[", q.Quorate, q.TotalVotes, q.Quorum, q.HighestExpected, q.Flags)
	for i, m := range q.Members {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%s", m.Name, m.State)
		for _, l := range m.Links {
			fmt.Fprintf(&b, ",l%d=%v", l.Link, l.Up)
		}
	}
	b.WriteString("]")
	return b.String()
}

// MemberOf returns the member named name in q.
func MemberOf(q api.QuorumView, name string) (api.MemberView, bool) {
	for _, m := range q.Members {
		if m.Name == name {
			return m, true
		}
	}
	return api.MemberView{}, false
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
