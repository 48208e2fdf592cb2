package e2e

import (
	"context"
	"fmt"
	"github.com/havenha/haven/test/stamps"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/harness"
	"github.com/havenha/haven/test/netns"
)

// Port is the web server's port on every node (and so on the VIP).
const Port = 8080

// Options describe a rig.
type Options struct {
	// Profile is the cluster's timing profile (default lan).
	Profile string
	// IPv6 makes the VIP an IPv6 address (the bed gets IPv6 too).
	IPv6 bool
	// ServerBin is the web server binary (BuildServer).
	ServerBin string
	// Nodes default to n1, n2, n3.
	Nodes []string
}

// Rig is a namespace bed (one namespace per node plus a client) with one
// haven agent per node namespace, configured with a `vip` resource and an
// `exec` web server colocated with it (INFINITY) and ordered after it.
type Rig struct {
	T      testing.TB
	Bed    *netns.Bed
	C      *harness.Cluster
	VIP    netip.Prefix
	Stamps string // the servers' start/stop stamps

	mu    sync.Mutex
	procs map[string]*netns.Proc
}

var buildMu sync.Mutex

// BuildServer builds the web server (./test/e2e/websrv) into dir and
// returns its path.
func BuildServer(dir string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "websrv")
	cmd := exec.Command("go", "build", "-o", bin, "./test/e2e/websrv")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./test/e2e/websrv: %v\n%s", err, b)
	}
	return bin, nil
}

// New builds the bed and writes the cluster's configuration; no agent runs.
func New(t testing.TB, o Options) *Rig {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		testenv.MissingPackage(t, "nftables", "nft is not installed; the end-to-end tests cut links with it")
	}
	if o.Profile == "" {
		o.Profile = "lan"
	}
	if o.ServerBin == "" {
		t.Fatalf("e2e: Options.ServerBin is required (BuildServer)")
	}
	bed := netns.New(t, netns.Options{Nodes: o.Nodes, Client: true, IPv6: o.IPv6})
	r := &Rig{T: t, Bed: bed, procs: map[string]*netns.Proc{}}
	r.VIP = bed.HostAddr4(50)
	if o.IPv6 {
		r.VIP = bed.HostAddr6(50)
	}
	var specs []harness.NodeSpec
	for _, n := range bed.Nodes() {
		addr := bed.Addr4(n).Addr().String()
		specs = append(specs, harness.NodeSpec{Name: n, Addresses: []string{addr}})
	}
	stampDir := t.TempDir()
	r.Stamps = filepath.Join(stampDir, "stamps")
	extra := fmt.Sprintf(`resources:
  - id: ip
    type: vip
    params: {ip: "%s", nic: %s}
    monitor: {interval: 1s, timeout: 5s}
  - id: web
    type: exec
    params:
      command: [%s]
      env: {PORT: "%d", STAMPS: "%s", WATCH_PID: "%d"}
      check: {tcp: "127.0.0.1:%d", timeout: 2s}
      stop_timeout: 2s
    monitor: {interval: 1s, timeout: 5s}
constraints:
  - colocation: {resource: web, with: ip, score: INFINITY}
  - order: {first: ip, then: web}
`, r.VIP, netns.Dev, o.ServerBin, Port, r.Stamps, os.Getpid(), Port)
	r.C = harness.New(t, harness.Spec{Name: "e2e", Profile: o.Profile, Nodes: specs, Extra: extra})
	return r
}

// Start starts node's agent inside its namespace (its output appended to
// the node's log file).
func (r *Rig) Start(node string) {
	r.T.Helper()
	n := r.C.Node(node)
	p := r.Bed.Start(node, n.ShellArgv(r.C.ConfigPath)...)
	r.mu.Lock()
	r.procs[node] = p
	r.mu.Unlock()
}

// StartAll starts every agent, one right after the other.
func (r *Rig) StartAll() {
	for _, n := range r.Bed.Nodes() {
		r.Start(n)
	}
}

// Kill SIGKILLs node's agent (its process group, which does not hold the
// agent's guard nor its resources: the guard, not the test, tears those
// down).
func (r *Rig) Kill(node string) {
	r.mu.Lock()
	p := r.procs[node]
	delete(r.procs, node)
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.Kill()
	_ = p.Wait(10 * time.Second)
}

// Running reports whether node's agent runs.
func (r *Rig) Running(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.procs[node]
	return p != nil && !p.Exited()
}

// Holders returns the nodes whose namespace holds the VIP.
func (r *Rig) Holders() ([]string, error) { return r.Bed.Holders(r.VIP.Addr()) }

// VIPPort is the VIP and the web server's port.
func (r *Rig) VIPPort() netip.AddrPort { return netip.AddrPortFrom(r.VIP.Addr(), Port) }

// Fetch gets the page through the VIP from the client namespace and
// returns the serving node's name.
func (r *Rig) Fetch(timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := r.Bed.Dial(ctx, netns.ClientName, "tcp", r.VIPPort().String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	return Exchange(c)
}

// Exchange sends an HTTP/1.0 GET on c and returns the body (the serving
// node's name); for netns.ProbeOptions.Exchange.
func Exchange(c net.Conn) (string, error) {
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	if err != nil {
		return "", err
	}
	s := string(b)
	if !strings.HasPrefix(s, "HTTP/1.") {
		return "", fmt.Errorf("not an HTTP answer: %q", s)
	}
	i := strings.Index(s, "\r\n\r\n")
	if i < 0 {
		return "", fmt.Errorf("truncated HTTP answer: %q", s)
	}
	if !strings.Contains(s[:i], " 200 ") {
		return "", fmt.Errorf("HTTP status: %q", s[:i])
	}
	return s[i+4:], nil
}

// WaitServing polls until exactly one node holds the VIP, the client's
// fetch through the VIP is answered by that node, its web server runs
// (by its stamps) and no other does, and returns that node.
func (r *Rig) WaitServing(timeout time.Duration) (string, error) {
	var node string
	err := netns.Poll(timeout, 100*time.Millisecond, func() error {
		hs, err := r.Holders()
		if err != nil {
			return err
		}
		if len(hs) != 1 {
			return fmt.Errorf("VIP holders %v", hs)
		}
		got, err := r.Fetch(2 * time.Second)
		if err != nil {
			return fmt.Errorf("fetch through the VIP (held by %s): %w", hs[0], err)
		}
		if got != hs[0] {
			return fmt.Errorf("page served by %q, VIP held by %s", got, hs[0])
		}
		if run := r.ServersRunning(); len(run) != 1 || run[0] != got {
			return fmt.Errorf("web servers running on %v (stamps and /proc); VIP on %s", run, got)
		}
		node = got
		return nil
	})
	return node, err
}

// Handover returns, by the servers' stamps, when old's server first
// stopped after fault and when cur's first server among the intervals
// from index before started (zero when not found).
func (r *Rig) Handover(old, cur string, fault time.Time, before int) (oldStop, newStart time.Time) {
	ivs := r.Intervals()
	for _, iv := range ivs {
		if iv.Node == old && !iv.Stop.IsZero() && iv.Stop.After(fault) && oldStop.IsZero() {
			oldStop = iv.Stop
		}
	}
	for _, iv := range ivs[min(before, len(ivs)):] {
		if iv.Node == cur && newStart.IsZero() {
			newStart = iv.Start
		}
	}
	return oldStop, newStart
}

// Interval is one web server process's life by its own stamps.
type Interval struct {
	Node        string
	PID         int
	Start, Stop time.Time // Stop zero: no stop stamp (running or killed)
}

// stampTime is a stamp's time; 0 (no stamp) is the zero time.
func stampTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Intervals reads the servers' stamps, in start order.
func (r *Rig) Intervals() []Interval {
	var out []Interval
	for _, iv := range stamps.Read(r.Stamps) {
		out = append(out, Interval{Node: iv.Node, PID: iv.PID, Start: time.Unix(0, iv.Start), Stop: stampTime(iv.Stop)})
	}
	return out
}

// ServersRunning returns the nodes where a web server runs now (a start
// stamp without a stop stamp, process alive), sorted.
func (r *Rig) ServersRunning() []string {
	var out []string
	for _, iv := range r.Intervals() {
		if iv.Stop.IsZero() && alive(iv.PID) {
			out = append(out, iv.Node)
		}
	}
	sort.Strings(out)
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// KillServer SIGKILLs a web server process group (cleanup of a dead
// agent's server when the pid file is not enough).
func KillServer(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// ServerPIDs returns the pids of node's web servers that run now (start
// stamp, no stop stamp, alive).
func (r *Rig) ServerPIDs(node string) []int {
	var out []int
	for _, iv := range r.Intervals() {
		if iv.Node == node && iv.Stop.IsZero() && alive(iv.PID) {
			out = append(out, iv.PID)
		}
	}
	return out
}

// WaitReleased polls (every 2 ms, up to timeout) until node's namespace no
// longer holds the VIP and none of its web servers runs — what its guard
// does when its agent dies — and returns when it first saw both.
func (r *Rig) WaitReleased(node string, timeout time.Duration) (time.Time, error) {
	var at time.Time
	err := netns.Poll(timeout, 2*time.Millisecond, func() error {
		held, err := r.Bed.HasAddr(node, r.VIP.Addr())
		if err != nil {
			return err
		}
		pids := r.ServerPIDs(node)
		if held || len(pids) > 0 {
			return fmt.Errorf("%s still holds the VIP (%v) or runs web servers %v", node, held, pids)
		}
		at = time.Now()
		return nil
	})
	return at, err
}

// Status asks node's agent for its status.
func (r *Rig) Status(node string) (api.StatusView, error) { return r.C.Node(node).Status() }

// WaitMembers waits until node's agent sees want members online and a
// quorate partition.
func (r *Rig) WaitMembers(node string, want int, timeout time.Duration) error {
	return netns.Poll(timeout, 100*time.Millisecond, func() error {
		q, err := r.C.Node(node).Quorum()
		if err != nil {
			return err
		}
		online := 0
		for _, m := range q.Members {
			if m.Online {
				online++
			}
		}
		if !q.Quorate || online != want {
			return fmt.Errorf("%s: %s", node, harness.Describe(q))
		}
		return nil
	})
}

// LogTail returns the last n lines of node's agent log.
func (r *Rig) LogTail(node string, n int) string {
	lines := strings.Split(strings.TrimRight(r.C.Node(node).Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
