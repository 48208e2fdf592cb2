package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// deadline for every poll: generous, the machine is shared.
const waitFor = 60 * time.Second

// tlog routes slog to t.Log until the test ends.
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

func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	w := &tlog{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type fakeMembership struct {
	mu   sync.Mutex
	dead map[string]bool
}

func (m *fakeMembership) Alive(n string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.dead[n]
}

func (m *fakeMembership) set(n string, alive bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead == nil {
		m.dead = map[string]bool{}
	}
	m.dead[n] = !alive
}

type fakeFencer struct {
	mu     sync.Mutex
	fail   error
	fenced []string
}

func (f *fakeFencer) Fence(_ context.Context, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.fenced = append(f.fenced, node)
	return nil
}

type tnode struct {
	name   string
	node   *Node
	state  *state.State
	cancel context.CancelFunc
	done   chan error
	link   Link
}

type tcluster struct {
	t       testing.TB
	net     *InmemNetwork
	model   *model.Cluster
	root    string
	nodes   map[string]*tnode
	members map[string]*fakeMembership
	fencer  *fakeFencer
	logger  *slog.Logger
	tune    func(*Config)
	// mkLink, when set, makes real links (TCP) instead of in-memory ones;
	// addrs then maps node names to their raft addresses.
	mkLink func(name string) Link
	addrs  map[string]raft.ServerAddress
}

func newCluster(t testing.TB, mutate func(*model.Cluster), names ...string) *tcluster {
	m := &model.Cluster{Cluster: model.Settings{Name: "test"}}
	for _, n := range names {
		m.Nodes = append(m.Nodes, model.Node{Name: n})
	}
	if mutate != nil {
		mutate(m)
	}
	c := &tcluster{t: t, net: NewInmemNetwork(), model: m, root: t.TempDir(), nodes: map[string]*tnode{},
		members: map[string]*fakeMembership{}, fencer: &fakeFencer{}, logger: testLogger(t, slog.LevelWarn)}
	t.Cleanup(func() {
		for name := range c.nodes {
			c.stop(name)
		}
	})
	return c
}

func (c *tcluster) startAll() {
	for _, n := range c.model.Nodes {
		c.start(n.Name)
	}
}

func (c *tcluster) start(name string) *tnode {
	c.t.Helper()
	var link Link
	addrOf := func(n model.Node) raft.ServerAddress {
		if n.RaftPort != 0 {
			return raft.ServerAddress(fmt.Sprintf("%s:%d", n.Name, n.RaftPort))
		}
		return raft.ServerAddress(n.Name)
	}
	if c.mkLink != nil {
		link = c.mkLink(name)
		addrOf = func(n model.Node) raft.ServerAddress { return c.addrs[n.Name] }
	} else {
		link = c.net.Link(raft.ServerAddress(name))
	}
	if c.members[name] == nil {
		c.members[name] = &fakeMembership{}
	}
	st := state.New(state.Options{})
	cfg := Config{
		Cluster: c.model, Node: name, Key: testKey, DataDir: filepath.Join(c.root, name), Link: link, State: st,
		Address:    addrOf,
		Fencer:     c.fencer,
		Membership: c.members[name],
		Logger:     c.logger.With("n", name),
		NoSync:     true, ReconcileInterval: 200 * time.Millisecond,
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &tnode{name: name, node: n, state: st, cancel: cancel, done: make(chan error, 1), link: link}
	go func() { tn.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-tn.done:
		c.t.Fatalf("node %s: Run: %v", name, err)
	case <-time.After(waitFor):
		c.t.Fatalf("node %s not ready", name)
	}
	c.nodes[name] = tn
	return tn
}

// stop shuts a node down like a crash of the process (its data directory stays).
func (c *tcluster) stop(name string) {
	tn := c.nodes[name]
	if tn == nil {
		return
	}
	delete(c.nodes, name)
	tn.cancel()
	if err := <-tn.done; err != nil {
		c.t.Errorf("node %s: Run: %v", name, err)
	}
	tn.node.Close()
	tn.node.Close() // safe twice
	tn.link.Close()
	tn.link.Close() // safe twice
}

func (c *tcluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leader waits for exactly one leader among the given running nodes (all when empty).
func (c *tcluster) leader(among ...string) string {
	c.t.Helper()
	if len(among) == 0 {
		for n := range c.nodes {
			among = append(among, n)
		}
	}
	var got string
	c.eventually("a leader among "+strings.Join(among, ","), func() bool {
		got = ""
		for _, n := range among {
			if tn := c.nodes[n]; tn != nil && tn.node.IsLeader() {
				if got != "" {
					return false
				}
				got = n
			}
		}
		return got != ""
	})
	return got
}

func attr(t testing.TB, node, k, v string) state.Command {
	c, err := state.NewCommand(state.CmdNodeAttrs, time.Now(), "test", state.NodeAttrs{Node: node, Set: map[string]string{k: v}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *tcluster) apply(from string, cmd state.Command, timeout time.Duration) (state.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.nodes[from].node.Apply(ctx, cmd)
}

func (c *tcluster) mustApply(from string, cmd state.Command) state.Result {
	c.t.Helper()
	r, err := c.apply(from, cmd, waitFor)
	if err != nil {
		c.t.Fatalf("apply from %s: %v", from, err)
	}
	return r
}

// converged waits until every running node has applied at least idx.
func (c *tcluster) converged(idx uint64, names ...string) {
	c.t.Helper()
	if len(names) == 0 {
		for n := range c.nodes {
			names = append(names, n)
		}
	}
	for _, n := range names {
		tn := c.nodes[n]
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		err := tn.state.WaitIndex(ctx, idx)
		cancel()
		if err != nil {
			c.t.Fatalf("node %s: %v", n, err)
		}
	}
}

func (c *tcluster) attrOn(node, onNode, key string) string {
	v := c.nodes[node].state.View()
	if ns := v.Nodes[onNode]; ns != nil {
		return ns.Attributes[key]
	}
	return ""
}
