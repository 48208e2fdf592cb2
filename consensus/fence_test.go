package consensus

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/model"
)

func twoNode(stonith bool, policy string) func(*model.Cluster) {
	return func(m *model.Cluster) {
		m.Cluster.TwoNode = true
		m.Cluster.Stonith = &stonith
		m.Cluster.NoQuorumPolicy = policy
	}
}

func (c *tcluster) voters(name string) []string {
	return c.nodes[name].node.Status().Voters
}

func TestFenceToWin_FencedPeerRecoversAndRejoins(t *testing.T) {
	c := newCluster(t, twoNode(true, model.NoQuorumStop), "n1", "n2")
	c.startAll()
	c.leader()
	c.mustApply("n1", attr(t, "n1", "k", "before"))

	c.stop("n2")
	// Without the peer, raft (two voters) cannot commit.
	if _, err := c.apply("n1", attr(t, "n1", "k", "stuck"), 1500*time.Millisecond); err == nil {
		t.Fatal("a lone node of a two-voter raft committed before fence-to-win")
	}
	c.members["n1"].set("n2", false)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.nodes["n1"].node.PeerDown(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	c.fencer.mu.Lock()
	got := append([]string(nil), c.fencer.fenced...)
	c.fencer.mu.Unlock()
	if !reflect.DeepEqual(got, []string{"n2"}) {
		t.Fatalf("fenced %v; want [n2]", got)
	}
	if !c.nodes["n1"].node.Status().Alone {
		t.Fatalf("status after recovery: %+v", c.nodes["n1"].node.Status())
	}
	r := c.mustApply("n1", attr(t, "n1", "k", "alone"))
	v := c.nodes["n1"].state.View()
	if len(v.Fencing) != 1 || v.Fencing[0].Node != "n2" || !v.Fencing[0].OK {
		t.Fatalf("fencing history %+v", v.Fencing)
	}

	// The fenced peer boots again: the survivor re-adds it as a voter.
	c.start("n2")
	c.members["n1"].set("n2", true)
	if err := c.nodes["n1"].node.PeerUp(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	c.eventually("n2 back as a voter", func() bool { return len(c.voters("n1")) == 2 })
	c.converged(r.Index, "n2")
	if got := c.attrOn("n2", "n1", "k"); got != "alone" {
		t.Fatalf("rejoined peer sees k=%q", got)
	}
	// And the pair is a normal two-voter raft again.
	r = c.mustApply("n2", attr(t, "n1", "k", "together"))
	c.converged(r.Index)
}

func TestFenceToWin_FenceFailsNoRecovery(t *testing.T) {
	c := newCluster(t, twoNode(true, model.NoQuorumStop), "n1", "n2")
	c.startAll()
	c.leader()
	c.fencer.mu.Lock()
	c.fencer.fail = errors.New("BMC unreachable")
	c.fencer.mu.Unlock()
	c.stop("n2")
	c.members["n1"].set("n2", false)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err := c.nodes["n1"].node.PeerDown(ctx, "n2")
	if err == nil || !errors.Is(err, c.fencer.fail) {
		t.Fatalf("PeerDown = %v; want the fencing error", err)
	}
	st := c.nodes["n1"].node.Status()
	if st.Alone || len(st.Voters) != 2 {
		t.Fatalf("recovered although the fence failed: %+v", st)
	}
	if _, err := c.apply("n1", attr(t, "n1", "k", "x"), 1500*time.Millisecond); err == nil {
		t.Fatal("committed without the peer and without a confirmed fence")
	}
}

func TestFenceToWin_RefusedWithoutFencingOrIgnore(t *testing.T) {
	c := newCluster(t, twoNode(false, model.NoQuorumStop), "n1", "n2")
	_, err := New(Config{Cluster: c.model, Node: "n1", Key: testKey, Link: c.net.Link("n1"), State: nil})
	if err == nil {
		t.Fatal("New accepted a config without State")
	}
	if _, err := SelectVoters(c.model); !errors.Is(err, ErrNoVoterSet) {
		t.Fatalf("SelectVoters = %v; want a refusal suggesting a witness", err)
	}
}

// With no_quorum_policy ignore and no fencing, a partition lets both nodes
// continue alone; on heal the lower node name wins and the other discards
// its divergent log and catches up.
func TestFenceToWin_IgnoreDivergenceLowerNameWins(t *testing.T) {
	c := newCluster(t, twoNode(false, model.NoQuorumIgnore), "n1", "n2")
	c.startAll()
	c.leader()
	c.mustApply("n2", attr(t, "n1", "k", "shared"))

	c.net.Partition(raft.ServerAddress("n1"))
	c.members["n1"].set("n2", false)
	c.members["n2"].set("n1", false)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, p := range [][2]string{{"n1", "n2"}, {"n2", "n1"}} {
		if err := c.nodes[p[0]].node.PeerDown(ctx, p[1]); err != nil {
			t.Fatal(err)
		}
	}
	r1 := c.mustApply("n1", attr(t, "n1", "side", "n1"))
	c.mustApply("n2", attr(t, "n1", "side", "n2"))
	c.mustApply("n2", attr(t, "n1", "only-n2", "yes"))
	if len(c.fencer.fenced) != 0 {
		t.Fatal("fenced without stonith")
	}

	c.net.Heal()
	c.members["n1"].set("n2", true)
	c.members["n2"].set("n1", true)
	// Membership reports both up; the maintenance loop resolves it.
	c.eventually("n2 rejoined n1 as a voter", func() bool {
		return len(c.voters("n1")) == 2 && c.nodes["n1"].node.IsLeader()
	})
	c.converged(r1.Index, "n2")
	c.eventually("n2 holds n1's history", func() bool { return c.attrOn("n2", "n1", "side") == "n1" })
	if got := c.attrOn("n2", "n1", "only-n2"); got != "" {
		t.Fatalf("n2 kept its divergent write only-n2=%q", got)
	}
	if got := c.attrOn("n2", "n1", "k"); got != "shared" {
		t.Fatalf("n2 lost the common history: k=%q", got)
	}
	r := c.mustApply("n2", attr(t, "n1", "after", "heal"))
	c.converged(r.Index)
}

// Membership alone drives fence-to-win: the maintenance loop fences the peer
// it saw alive before and that is now declared dead.
func TestFenceToWin_AutomaticFromMembership(t *testing.T) {
	c := newCluster(t, twoNode(true, model.NoQuorumStop), "n1", "n2")
	c.startAll()
	c.leader()
	c.mustApply("n1", attr(t, "n1", "k", "before"))
	c.stop("n2")
	c.members["n1"].set("n2", false)
	c.eventually("n1 alone after fencing n2", func() bool { return c.nodes["n1"].node.Status().Alone })
	c.fencer.mu.Lock()
	fenced := append([]string(nil), c.fencer.fenced...)
	c.fencer.mu.Unlock()
	if !reflect.DeepEqual(fenced, []string{"n2"}) {
		t.Fatalf("fenced %v; want [n2]", fenced)
	}
	c.mustApply("n1", attr(t, "n1", "k", "alone"))
	c.start("n2")
	c.members["n1"].set("n2", true)
	c.eventually("n2 re-added by the maintenance loop", func() bool { return len(c.voters("n1")) == 2 })
	r := c.mustApply("n2", attr(t, "n1", "k", "together"))
	c.converged(r.Index)
}

// After a cold start without its peer, a node does not fence it and continue
// alone (votequorum's wait_for_all): its log may lack what the peer committed
// while running alone.
func TestFenceToWin_WaitForAllAfterColdStart(t *testing.T) {
	c := newCluster(t, twoNode(true, model.NoQuorumStop), "n1", "n2")
	c.startAll()
	c.leader()
	c.mustApply("n1", attr(t, "n1", "k", "v"))
	c.stop("n1")
	c.stop("n2")
	c.members["n1"].set("n2", false)
	c.start("n1")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err := c.nodes["n1"].node.PeerDown(ctx, "n2")
	if err == nil || !strings.Contains(err.Error(), "wait_for_all") {
		t.Fatalf("PeerDown after a cold start alone = %v; want a wait_for_all refusal", err)
	}
	c.fencer.mu.Lock()
	defer c.fencer.mu.Unlock()
	if len(c.fencer.fenced) != 0 {
		t.Fatalf("fenced %v after a cold start alone", c.fencer.fenced)
	}
}
