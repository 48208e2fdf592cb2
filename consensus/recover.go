package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// CheckChange reports whether the committed configuration old may be replaced
// by next while the cluster runs, as far as consensus is concerned: next must
// have a valid voter set, and no node may change its raft address (that needs
// the node removed and added back). `haven config apply` calls it before
// committing; UpdateCluster applies the same rule. address is nil for
// DefaultAddress. The cluster key is not in the model: a key change shows as
// a different ClusterID(key) and needs the same full restart as a new name.
func CheckChange(old, next *model.Cluster, address func(model.Node) raft.ServerAddress) (VoterPlan, error) {
	if address == nil {
		address = DefaultAddress
	}
	plan, err := SelectVoters(next)
	if err != nil {
		return VoterPlan{}, err
	}
	if old == nil {
		return plan, nil
	}
	for _, nd := range next.Nodes {
		if prev, ok := old.Node(nd.Name); ok && address(*prev) != address(nd) {
			return VoterPlan{}, fmt.Errorf("node %s's raft address changes from %s to %s; that cannot change live: remove the node and apply, stop it and clear its data directory, then add it back with the new address and apply", nd.Name, address(*prev), address(nd))
		}
	}
	if old.Cluster.Name != next.Cluster.Name {
		return VoterPlan{}, fmt.Errorf("cluster name changes from %q to %q; that cannot change live: every data directory records the name — stop all nodes, move their data directories aside, and start the cluster afresh", old.Cluster.Name, next.Cluster.Name)
	}
	return plan, nil
}

// UpdateCluster installs a newly committed configuration: the voter plan is
// recomputed and the leader aligns raft's configuration on its next pass.
// Changes CheckChange refuses are refused here too.
func (n *Node) UpdateCluster(c *model.Cluster) error {
	if _, ok := c.Node(n.cfg.Node); !ok {
		return fmt.Errorf("node %s is no longer in the configuration; stop its agent instead of removing it live", n.cfg.Node)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	plan, err := CheckChange(n.cluster, c, n.cfg.Address)
	if err != nil {
		return err
	}
	n.cluster, n.plan = c, plan
	return nil
}

// promoteLag is how many state entries a non-voter may trail the leader by
// and still be promoted to voter.
const promoteLag = 16

func (n *Node) alive(name string) bool {
	return n.cfg.Membership == nil || n.cfg.Membership.Alive(name)
}

func (n *Node) peerOf() (string, bool) {
	plan := n.Plan()
	if !plan.FenceToWin {
		return "", false
	}
	for _, v := range plan.Voters {
		if v != n.cfg.Node {
			return v, true
		}
	}
	return "", false
}

func (n *Node) addrOf(name string) (raft.ServerAddress, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd, ok := n.cluster.Node(name)
	if !ok {
		return "", false
	}
	return n.cfg.Address(*nd), true
}

func (n *Node) peerStatus(ctx context.Context, name string) (*Status, error) {
	addr, ok := n.addrOf(name)
	if !ok {
		return nil, fmt.Errorf("node %s is not in the configuration", name)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := n.cfg.Link.Call(ctx, addr, Request{Op: OpStatus, From: n.cfg.Node})
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, fmt.Errorf("status of %s: %s", name, resp.Error)
	}
	return resp.Status, nil
}

// maintain runs on every tick: the leader reconciles the raft configuration;
// a node forced alone checks whether its peer is back and who wins.
func (n *Node) maintain(ctx context.Context) {
	n.recoverMu.Lock()
	defer n.recoverMu.Unlock()
	if n.stopping {
		return
	}
	if n.IsLeader() {
		n.reconcile(ctx)
	}
	if n.Leader() != "" {
		n.leaderSeen.Store(true)
	}
	peer, ok := n.peerOf()
	if !ok {
		return
	}
	alive := n.alive(peer)
	if alive {
		n.peerSeen = true
	}
	alone := n.Status().Alone
	switch {
	case alone && alive:
		n.resolveDivergence(ctx, peer)
	case !alone && !alive && n.peerSeen && n.cfg.Membership != nil:
		// Membership declared the peer dead after having seen it (two_node's
		// wait_for_all: a peer never seen since start is booting, not dead).
		// A failed fence is retried on the next tick.
		if err := n.fenceToWin(ctx, peer); err != nil {
			n.log.Warn("fence-to-win not possible yet; retrying", "peer", peer, "err", err)
		}
	}
}

// reconcile makes the leader's raft configuration match the voter plan:
// adds missing servers that are alive (and not themselves forced alone),
// promotes and demotes, and removes servers no longer in the file.
func (n *Node) reconcile(ctx context.Context) {
	r := n.raft()
	if r == nil || r.State() != raft.Leader {
		return
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return
	}
	have := map[raft.ServerID]raft.Server{}
	for _, s := range f.Configuration().Servers {
		have[s.ID] = s
	}
	want := n.servers()
	wanted := map[raft.ServerID]bool{}
	timeout := 5 * time.Second
	for _, s := range want {
		wanted[s.ID] = true
		h, present := have[s.ID]
		if s.ID == raft.ServerID(n.cfg.Node) || (present && h.Suffrage == s.Suffrage) {
			continue
		}
		name := string(s.ID)
		if !n.alive(name) {
			continue // adding a dead voter would cost availability
		}
		var st *Status
		if !present || s.Suffrage == raft.Voter {
			var err error
			if st, err = n.peerStatus(ctx, name); err != nil {
				n.log.Debug("not adding or promoting an unreachable server", "server", name, "err", err)
				continue
			}
			if st.Alone {
				continue // it runs alone too: resolveDivergence decides who wipes
			}
		}
		var err error
		switch {
		case !present:
			// Every server starts as a non-voter and is promoted once it has
			// caught up: a voter that cannot keep up (or whose raft is broken
			// while its agent answers gossip) would stall every commit.
			err = r.AddNonvoter(s.ID, s.Address, 0, timeout).Error()
		case s.Suffrage == raft.Voter:
			if lag := int64(n.cfg.State.Index()) - int64(st.Applied); lag > promoteLag {
				n.log.Info("waiting for a server to catch up before making it a voter", "server", name, "lag", lag)
				continue
			}
			err = r.AddVoter(s.ID, s.Address, 0, timeout).Error()
		default:
			err = r.DemoteVoter(s.ID, 0, timeout).Error()
		}
		if err != nil {
			n.log.Warn("raft configuration change failed", "server", name, "suffrage", s.Suffrage, "err", err)
			return
		}
		n.log.Info("raft configuration aligned with the voter plan", "server", name, "suffrage", s.Suffrage.String())
		n.pushCommit()
	}
	for _, s := range f.Configuration().Servers {
		if !wanted[s.ID] {
			if err := r.RemoveServer(s.ID, 0, timeout).Error(); err != nil {
				n.log.Warn("removing a server no longer configured failed", "server", s.ID, "err", err)
				return
			}
			n.log.Info("removed raft server no longer in the configuration", "server", s.ID)
			n.pushCommit()
		}
	}
}

// PeerDown tells a two_node fence-to-win cluster that membership declared the
// peer dead. The survivor then fences it (stonith on) and, only once the fence
// is confirmed — or at once under no_quorum_policy ignore — forces a
// single-voter raft configuration and continues alone. Elsewhere it is a no-op:
// raft's majority already handles the loss. A failed fence leaves raft as it
// is (no leader, nothing committed) and returns the error.
func (n *Node) PeerDown(ctx context.Context, peer string) error {
	other, ok := n.peerOf()
	if !ok {
		return nil
	}
	if peer != other {
		return fmt.Errorf("fence-to-win: %s is not this node's peer (%s)", peer, other)
	}
	n.recoverMu.Lock()
	defer n.recoverMu.Unlock()
	return n.fenceToWin(ctx, peer)
}

// fenceToWin does PeerDown's work; the caller holds recoverMu.
func (n *Node) fenceToWin(ctx context.Context, peer string) error {
	if n.stopping || n.raft() == nil {
		return ErrClosed
	}
	st := n.Status()
	if st.Alone {
		return nil
	}
	if len(st.Voters) != 2 || (st.Voters[0] != n.cfg.Node && st.Voters[1] != n.cfg.Node) {
		return fmt.Errorf("fence-to-win: this node is not a voter of a two-voter configuration (voters %v); waiting to be added back by %s", st.Voters, peer)
	}
	if n.Leader() != "" {
		n.leaderSeen.Store(true)
	}
	if !n.leaderSeen.Load() {
		return fmt.Errorf("fence-to-win: not continuing alone: this node has not been part of a working cluster since it started (wait_for_all), so its log may miss what %s committed alone; start %s", peer, peer)
	}
	n.mu.Lock()
	stonith, policy := n.cluster.StonithEnabled(), n.cluster.NoQuorumPolicy()
	n.mu.Unlock()
	fenced := false
	switch {
	case stonith:
		n.log.Warn("fence-to-win: peer declared dead; fencing it before continuing alone", "peer", peer)
		if err := n.cfg.Fencer.Fence(ctx, peer); err != nil {
			n.log.Error("fence-to-win: fencing failed; not recovering alone", "peer", peer, "err", err)
			return fmt.Errorf("fence-to-win: fencing %s failed: %w; not continuing alone while it may still run", peer, err)
		}
		fenced = true
	case policy == model.NoQuorumIgnore:
		n.log.Warn("fence-to-win: peer declared dead and no_quorum_policy is ignore; continuing alone without fencing", "peer", peer)
	default:
		return fmt.Errorf("fence-to-win: %s is down but stonith is off and no_quorum_policy is %s; waiting for it", peer, policy)
	}
	if err := n.recoverAlone(); err != nil {
		return err
	}
	// Record what happened once this node leads its single-voter cluster.
	now := time.Now()
	var cmds []state.Command
	if fenced {
		c, _ := state.NewCommand(state.CmdFence, now, n.cfg.Node, state.Fence{Node: peer, Action: "off", OK: true, Device: "fence-to-win"})
		cmds = append(cmds, c)
	}
	c, _ := state.NewCommand(state.CmdEvent, now, n.cfg.Node, state.Note{Type: "consensus", Node: n.cfg.Node,
		Message: fmt.Sprintf("%s continues alone as the only raft voter after losing %s (fenced: %v)", n.cfg.Node, peer, fenced)})
	cmds = append(cmds, c)
	for _, c := range cmds {
		if _, err := n.Apply(ctx, c); err != nil {
			return fmt.Errorf("fence-to-win: recovered alone but recording it failed: %w", err)
		}
	}
	return nil
}

// recoverAlone stops raft, rewrites its configuration to this node as the
// only voter (raft.RecoverCluster) and restarts it.
func (n *Node) recoverAlone() error {
	n.stopRaft()
	n.mu.Lock()
	dir := n.dir
	n.mu.Unlock()
	conf := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(n.cfg.Node), Address: n.cfg.Address(n.self), Suffrage: raft.Voter}}}
	scratch := fsm{state.New(state.Options{})}
	if err := raft.RecoverCluster(n.raftConfig(nil), scratch, dir.LogStore(), dir.StableStore(), dir.SnapshotStore(), n.cfg.Link.Transport(), conf); err != nil {
		// Restart raft unchanged so the node keeps following if the peer returns.
		if serr := n.startRaft(); serr != nil {
			return errors.Join(fmt.Errorf("fence-to-win: recover alone: %w", err), serr)
		}
		return fmt.Errorf("fence-to-win: recover alone: %w", err)
	}
	n.log.Warn("fence-to-win: forced a single-voter raft configuration", "voter", n.cfg.Node)
	return n.startRaft()
}

// PeerUp tells the node that membership sees peer alive again. The leader
// re-adds it; two nodes that both ran alone resolve their divergence (the
// lower node name wins, the other wipes its raft state and catches up).
func (n *Node) PeerUp(ctx context.Context, peer string) error {
	n.recoverMu.Lock()
	defer n.recoverMu.Unlock()
	if other, ok := n.peerOf(); ok && other == peer {
		n.peerSeen = true
	}
	if other, ok := n.peerOf(); ok && other == peer && n.Status().Alone {
		if err := n.resolveDivergence(ctx, peer); err != nil {
			return err
		}
	}
	if n.IsLeader() {
		n.reconcile(ctx)
	}
	return nil
}

// resolveDivergence runs on a node forced alone whose peer is reachable. If
// the peer ran alone too, the node with the higher name discards its log.
func (n *Node) resolveDivergence(ctx context.Context, peer string) error {
	if n.stopping || n.raft() == nil {
		return ErrClosed
	}
	st, err := n.peerStatus(ctx, peer)
	if err != nil || !st.Alone {
		return nil // unreachable, or a returning peer the leader re-adds
	}
	if n.cfg.Node < peer {
		n.log.Warn("fence-to-win: both nodes ran alone; this node has the lower name and keeps its log", "peer", peer)
		return nil
	}
	n.log.Error("fence-to-win: both nodes ran alone (no_quorum_policy ignore); the lower-named peer wins, discarding this node's divergent raft state and rejoining",
		"peer", peer, "discarded_state_index", n.cfg.State.Index())
	return n.wipeAndRejoin()
}

// wipeAndRejoin discards this node's raft state and state machine and
// restarts raft empty, waiting for the leader to add it back.
func (n *Node) wipeAndRejoin() error {
	n.stopRaft()
	n.mu.Lock()
	dir := n.dir
	n.mu.Unlock()
	if err := dir.Wipe(); err != nil {
		return fmt.Errorf("wipe raft state: %w", err)
	}
	n.cfg.State.Reset()
	return n.startRaft()
}
