package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/havenha/haven/engine/api"
)

// Status asks the node's agent for `haven status --json`'s object.
func (n *Node) Status() (api.StatusView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.Client().Status(ctx)
}

// Config asks the node's agent for the committed configuration.
func (n *Node) Config() (api.ConfigView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.Client().Config(ctx)
}

// WaitStatus polls the node's status every 100 ms until ok returns true or
// timeout passes; it fails the test with the last status on timeout.
func (n *Node) WaitStatus(what string, timeout time.Duration, ok func(api.StatusView) bool) api.StatusView {
	t := n.c.T
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last api.StatusView
	var lastErr error
	for time.Now().Before(deadline) {
		s, err := n.Status()
		if err == nil && ok(s) {
			return s
		}
		last, lastErr = s, err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: timed out after %s waiting for %s; last status %s (err %v)\nlog tail:\n%s", n.Name, timeout, what, DescribeStatus(last), lastErr, tail(n.Log(), 40))
	return last
}

// DescribeStatus prints a status on one line for messages.
func DescribeStatus(s api.StatusView) string {
	var nodes []string
	for _, n := range s.Nodes {
		nodes = append(nodes, n.Name+":"+n.State)
	}
	return fmt.Sprintf("node=%s leader=%q config_version=%d raft=%s term=%d voters=%v nonvoters=%v quorate=%v nodes=[%s]",
		s.Node, s.Leader, s.ConfigVersion, s.Consensus.State, s.Consensus.Term, s.Consensus.Voters, s.Consensus.NonVoters,
		s.Quorum.Quorate, strings.Join(nodes, " "))
}

// Running returns the nodes whose agent runs.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// WaitConverged polls every running node until all report the same leader
// (not "") and the same config version of at least minVersion, and returns
// that leader and version. It fails the test on timeout.
func (c *Cluster) WaitConverged(minVersion uint64, timeout time.Duration) (leader string, version uint64) {
	c.T.Helper()
	deadline := time.Now().Add(timeout)
	var last []string
	for time.Now().Before(deadline) {
		last = last[:0]
		leader, version = "", 0
		agree := true
		for i, n := range c.Running() {
			s, err := n.Status()
			if err != nil {
				last = append(last, fmt.Sprintf("%s: %v", n.Name, err))
				agree = false
				continue
			}
			last = append(last, DescribeStatus(s))
			if i == 0 {
				leader, version = s.Leader, s.ConfigVersion
			}
			if s.Leader == "" || s.Leader != leader || s.ConfigVersion != version || s.ConfigVersion < minVersion {
				agree = false
			}
		}
		if agree && leader != "" {
			return leader, version
		}
		time.Sleep(100 * time.Millisecond)
	}
	var logs strings.Builder
	for _, n := range c.Running() {
		fmt.Fprintf(&logs, "--- %s log tail:\n%s\n", n.Name, tail(n.Log(), 25))
	}
	c.T.Fatalf("nodes did not converge on one leader and config version >= %d within %s:\n%s\n%s", minVersion, timeout, strings.Join(last, "\n"), logs.String())
	return "", 0
}

// CLI runs the haven binary with args (e.g. "config", "apply", FILE, "-c",
// c.ConfigPath, "--node", "a") and returns its stdout and stderr; err is
// the exit error, if any. It never inherits HAVEN_SOCKET.
func (c *Cluster) CLI(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Env = append(os.Environ(), "HAVEN_SOCKET=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// WipeData removes the node's data directory; the agent must be stopped.
func (n *Node) WipeData() {
	t := n.c.T
	t.Helper()
	if n.Running() {
		t.Fatalf("harness: wipe %s's data directory while its agent runs (pid %d)", n.Name, n.PID())
	}
	if err := os.RemoveAll(n.DataDir); err != nil {
		t.Fatal(err)
	}
}
