package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

func TestCluster_BootstrapAndApplyFromAnyNode(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	leader := c.leader()
	var last uint64
	for _, from := range []string{"a", "b", "c"} {
		r := c.mustApply(from, attr(t, "a", "from", from))
		if r.Index <= last {
			t.Fatalf("index %d not after %d", r.Index, last)
		}
		last = r.Index
	}
	c.converged(last)
	for _, n := range []string{"a", "b", "c"} {
		if got := c.attrOn(n, "a", "from"); got != "c" {
			t.Fatalf("node %s sees from=%q; want c", n, got)
		}
		if l := c.nodes[n].node.Leader(); l != leader {
			t.Fatalf("node %s thinks the leader is %q; want %s", n, l, leader)
		}
	}
	// Barrier from a follower makes its reads linearizable.
	for n := range c.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		if err := c.nodes[n].node.Barrier(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if c.nodes[n].state.Index() < last {
			t.Fatalf("after Barrier node %s is at %d < %d", n, c.nodes[n].state.Index(), last)
		}
	}
}

// Every replica ends with byte-identical snapshots: Apply is deterministic.
func TestCluster_ReplicasIdentical(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	c.leader()
	var last uint64
	for i := 0; i < 30; i++ {
		from := []string{"a", "b", "c"}[i%3]
		cmd, _ := state.NewCommand(state.CmdReport, time.Now(), from, state.Report{Node: from, Resource: "web", State: state.Failed,
			Failure: &state.Failure{ID: fmt.Sprint(i / 2), Op: "monitor"}})
		last = c.mustApply(from, cmd).Index
	}
	c.converged(last)
	ref, _ := c.nodes["a"].state.Snapshot()
	for _, n := range []string{"b", "c"} {
		s, _ := c.nodes[n].state.Snapshot()
		if !bytes.Equal(ref, s) {
			t.Fatalf("snapshot of %s differs from a's", n)
		}
	}
}

func TestCluster_LeaderLossAndRejoin(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	old := c.leader()
	c.mustApply(old, attr(t, "a", "k", "1"))
	c.stop(old)
	var rest []string
	for _, n := range []string{"a", "b", "c"} {
		if n != old {
			rest = append(rest, n)
		}
	}
	newLeader := c.leader(rest...)
	if newLeader == old {
		t.Fatal("stopped node still leads")
	}
	r := c.mustApply(rest[0], attr(t, "a", "k", "2"))
	c.start(old)
	c.converged(r.Index)
	if got := c.attrOn(old, "a", "k"); got != "2" {
		t.Fatalf("restarted %s sees k=%q; want 2", old, got)
	}
}

func TestCluster_PartitionMinorityCannotCommit(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	old := c.leader()
	c.mustApply(old, attr(t, "a", "k", "before"))
	var majority []string
	for _, n := range []string{"a", "b", "c"} {
		if n != old {
			majority = append(majority, n)
		}
	}
	c.net.Partition(raft.ServerAddress(old))
	// The isolated node cannot commit, whether or not it still believes it leads.
	_, err := c.apply(old, attr(t, "a", "k", "minority"), 2*time.Second)
	if err == nil {
		t.Fatal("isolated minority committed a command")
	}
	if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("minority apply: %v", err)
	}
	// The majority elects a leader and commits.
	c.leader(majority...)
	r := c.mustApply(majority[0], attr(t, "a", "k", "majority"))
	c.net.Heal()
	c.converged(r.Index)
	c.eventually("the old leader to take the majority's value", func() bool {
		return c.attrOn(old, "a", "k") == "majority"
	})
	for n := range c.nodes {
		if v := c.attrOn(n, "a", "k"); v != "majority" {
			t.Fatalf("%s has k=%q; the minority's write must be gone", n, v)
		}
	}
}

func TestCluster_WipedNodeCatchesUpFromSnapshot(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.tune = func(cfg *Config) {
		cfg.SnapshotThreshold = 16
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 50 * time.Millisecond
	}
	c.startAll()
	leader := c.leader()
	victim := "a"
	if victim == leader {
		victim = "b"
	}
	c.stop(victim)
	var last uint64
	for i := 0; i < 120; i++ {
		last = c.mustApply(leader, attr(t, "b", "i", fmt.Sprint(i))).Index
	}
	// Lose the whole data directory: the node bootstraps as fresh and the
	// leader, whose log was compacted, must send it a snapshot.
	if err := os.RemoveAll(filepath.Join(c.root, victim)); err != nil {
		t.Fatal(err)
	}
	c.start(victim)
	c.converged(last, victim)
	if got := c.attrOn(victim, "b", "i"); got != "119" {
		t.Fatalf("wiped node sees i=%q; want 119", got)
	}
	snaps, _ := os.ReadDir(filepath.Join(c.root, victim, "raft", "snapshots"))
	if len(snaps) == 0 {
		t.Fatal("wiped node caught up without installing a snapshot; lower the thresholds")
	}
	ref, _ := c.nodes[leader].state.Snapshot()
	c.eventually("identical state on the wiped node", func() bool {
		s, _ := c.nodes[victim].state.Snapshot()
		return bytes.Equal(ref, s)
	})
}

func TestCluster_StaleSetConfigRejected(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	c.leader()
	set := func(base uint64, text string) state.Command {
		cmd, _ := state.NewCommand(state.CmdSetConfig, time.Now(), "op", state.SetConfig{Base: base, YAML: []byte(text)})
		return cmd
	}
	c.mustApply("a", set(0, "v1"))
	_, err := c.apply("b", set(0, "v1-concurrent"), waitFor)
	if !errors.Is(err, state.ErrStale) {
		t.Fatalf("second apply on base 0: %v; want ErrStale", err)
	}
	r := c.mustApply("c", set(1, "v2"))
	c.converged(r.Index)
	for n := range c.nodes {
		if v, y := c.nodes[n].state.ConfigVersion(); v != 2 || string(y) != "v2" {
			t.Fatalf("%s: version %d %q", n, v, y)
		}
	}
}

func TestCluster_UnknownCommandRefusedBeforeCommit(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	leader := c.leader()
	r := c.mustApply(leader, attr(t, "a", "k", "v"))
	c.converged(r.Index)
	follower := "a"
	if follower == leader {
		follower = "b"
	}
	lastIndex := func() uint64 { return c.nodes[leader].node.raft().LastIndex() }
	before := lastIndex()
	bogus := state.Command{Type: "resource.explode", Version: 1, Time: time.Now(), Body: []byte(`{}`)}
	if _, err := c.apply(follower, bogus, 5*time.Second); !errors.Is(err, ErrInvalid) {
		t.Fatalf("apply unknown command: %v; want ErrInvalid", err)
	}
	// A follower that skipped the check (another version) is stopped by the leader.
	raw, _ := bogus.Encode()
	resp, err := c.nodes[follower].node.cfg.Link.Call(context.Background(), raft.ServerAddress(leader), Request{Op: OpApply, From: follower, Cmd: raw})
	if err != nil || resp.Result != nil || resp.Error == "" {
		t.Fatalf("leader accepted a forwarded unknown command: %+v %v", resp, err)
	}
	if after := lastIndex(); after != before {
		t.Fatalf("log grew from %d to %d", before, after)
	}
}

// A two-node cluster with a witness is a normal three-voter raft: either data
// node may be down and applies continue.
func TestTwoNodeWithWitness_EitherDataNodeDown(t *testing.T) {
	c := newCluster(t, func(m *model.Cluster) { m.Nodes[2].Role = model.RoleWitness }, "n1", "n2", "w")
	if p, err := SelectVoters(c.model); err != nil || len(p.Voters) != 3 || p.FenceToWin {
		t.Fatalf("plan %+v %v", p, err)
	}
	c.startAll()
	c.leader()
	for i, down := range []string{"n1", "n2"} {
		up := map[string]string{"n1": "n2", "n2": "n1"}[down]
		c.stop(down)
		c.leader(up, "w")
		r := c.mustApply(up, attr(t, up, "round", fmt.Sprint(i)))
		c.start(down)
		c.converged(r.Index)
		if got := c.attrOn(down, up, "round"); got != fmt.Sprint(i) {
			t.Fatalf("round %d: %s sees %q", i, down, got)
		}
	}
}

// Invariant 2 of DESIGN §9: a restart of the whole cluster loses nothing.
func TestCluster_FullRestartKeepsState(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.tune = func(cfg *Config) {
		cfg.SnapshotThreshold = 8
		cfg.TrailingLogs = 2
		cfg.SnapshotInterval = 50 * time.Millisecond
	}
	c.startAll()
	c.leader()
	var last uint64
	for i := 0; i < 40; i++ {
		last = c.mustApply([]string{"a", "b", "c"}[i%3], attr(t, "c", "i", fmt.Sprint(i))).Index
	}
	c.converged(last)
	before, _ := c.nodes["a"].state.Snapshot()
	for _, n := range []string{"a", "b", "c"} {
		c.stop(n)
	}
	c.startAll()
	c.leader()
	c.converged(last)
	for _, n := range []string{"a", "b", "c"} {
		c.eventually("state of "+n+" identical after restart", func() bool {
			s, _ := c.nodes[n].state.Snapshot()
			return bytes.Equal(before, s)
		})
	}
	r := c.mustApply("b", attr(t, "c", "after", "restart"))
	c.converged(r.Index)
}

// A node added to the file joins as the plan says once the committed
// configuration reaches the running nodes (UpdateCluster).
func TestCluster_NodeAddedToConfiguration(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	c.leader()
	grown := *c.model
	grown.Nodes = append(append([]model.Node(nil), c.model.Nodes...), model.Node{Name: "d"})
	plan, err := SelectVoters(&grown)
	if err != nil || !reflect.DeepEqual(plan.NonVoters, []string{"d"}) {
		t.Fatalf("plan for four nodes: %+v %v", plan, err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := c.nodes[n].node.UpdateCluster(&grown); err != nil {
			t.Fatal(err)
		}
	}
	c.model = &grown
	c.start("d")
	leader := c.leader("a", "b", "c")
	c.eventually("d in the leader's raft configuration as a non-voter", func() bool {
		st := c.nodes[leader].node.Status()
		return reflect.DeepEqual(st.NonVoters, []string{"d"}) && len(st.Voters) == 3
	})
	r := c.mustApply("d", attr(t, "d", "joined", "yes"))
	c.converged(r.Index)
	// Moving an address live is refused.
	moved := grown
	moved.Nodes = append([]model.Node(nil), grown.Nodes...)
	moved.Nodes[0].RaftPort = 9999
	if err := c.nodes["b"].node.UpdateCluster(&moved); err == nil || !strings.Contains(err.Error(), "cannot change live") {
		t.Fatalf("address change: %v", err)
	}
}

// OnLeader runs on the leader after a barrier (its state holds every
// committed entry) and its context ends when leadership is lost.
func TestCluster_OnLeaderContextEndsWithLeadership(t *testing.T) {
	type call struct {
		node    string
		applied uint64
		ctx     context.Context
	}
	calls := make(chan call, 16)
	c := newCluster(t, nil, "a", "b", "c")
	var mu sync.Mutex
	states := map[string]*state.State{}
	c.tune = func(cfg *Config) {
		name := cfg.Node
		mu.Lock()
		states[name] = cfg.State
		mu.Unlock()
		cfg.OnLeader = func(ctx context.Context) {
			mu.Lock()
			st := states[name]
			mu.Unlock()
			calls <- call{node: name, applied: st.Index(), ctx: ctx}
			<-ctx.Done()
		}
	}
	c.startAll()
	leader := c.leader()
	r := c.mustApply(leader, attr(t, "a", "k", "v"))
	var first call
	select {
	case first = <-calls:
	case <-time.After(waitFor):
		t.Fatal("OnLeader not called")
	}
	if first.node != leader {
		t.Fatalf("OnLeader ran on %s; leader is %s", first.node, leader)
	}
	c.net.Partition(raft.ServerAddress(leader))
	select {
	case <-first.ctx.Done():
	case <-time.After(waitFor):
		t.Fatal("leader context not cancelled after the leader was cut off")
	}
	var rest []string
	for _, n := range []string{"a", "b", "c"} {
		if n != leader {
			rest = append(rest, n)
		}
	}
	next := c.leader(rest...)
	select {
	case second := <-calls:
		if second.node != next {
			t.Fatalf("second OnLeader on %s; new leader is %s", second.node, next)
		}
		if second.applied < r.Index {
			t.Fatalf("new leader's OnLeader saw state index %d < committed %d: no barrier first", second.applied, r.Index)
		}
	case <-time.After(waitFor):
		t.Fatal("OnLeader not called on the new leader")
	}
	c.net.Heal()
}

func TestCluster_TransferLeadershipBeforeStop(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.startAll()
	old := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.nodes[old].node.TransferLeadership(ctx); err != nil {
		t.Fatal(err)
	}
	c.eventually("another node leads", func() bool {
		for n, tn := range c.nodes {
			if n != old && tn.node.IsLeader() {
				return true
			}
		}
		return false
	})
	// A follower's transfer is a no-op.
	if err := c.nodes[old].node.TransferLeadership(ctx); err != nil {
		t.Fatalf("follower transfer: %v", err)
	}
	c.stop(old)
	c.mustApply(c.leader(), attr(t, "a", "k", "v"))
}

// A node that lost only its raft folder (meta.json kept, marked bootstrapped)
// does not bootstrap again: it waits for the leader and catches up.
func TestCluster_RaftFolderLostNoRebootstrap(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	logs := &syncBuffer{}
	c.logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c.startAll()
	leader := c.leader()
	victim := "a"
	if victim == leader {
		victim = "b"
	}
	r := c.mustApply(leader, attr(t, "c", "k", "v"))
	c.converged(r.Index)
	const boot = "bootstrapped a fresh raft cluster"
	if n := strings.Count(logs.String(), boot); n != 3 {
		t.Fatalf("%d bootstraps logged at cold start; want 3", n)
	}
	c.stop(victim)
	if err := os.RemoveAll(filepath.Join(c.root, victim, "raft")); err != nil {
		t.Fatal(err)
	}
	tn := c.start(victim)
	c.eventually("the victim to catch up", func() bool { return tn.state.Index() >= r.Index })
	if n := strings.Count(logs.String(), boot); n != 3 {
		t.Fatalf("the victim bootstrapped again (%d bootstraps logged)", n)
	}
	if got := c.attrOn(victim, "c", "k"); got != "v" {
		t.Fatalf("victim sees k=%q", got)
	}
}
