package controller

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/havenha/haven/engine/coord"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
)

// Lead runs the coordinator while ctx lasts (consensus Config.OnLeader):
// the leader loop and lease renewals run only while this partition is
// quorate (or no_quorum_policy is ignore), under a context cancelled when
// quorum is lost. It returns when ctx ends or on Close.
func (n *Node) Lead(ctx context.Context) {
	n.log.Info("raft leader: coordinating while quorate")
	defer n.log.Info("raft leadership ended: coordinator stopped")
	for {
		mem := n.memWatch()
		if n.mayLead() {
			n.leadOnce(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		t := n.cfg.Clock.NewTimer(n.cfg.Lease / 4)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.closeCh:
			t.Stop()
			return
		case <-mem:
		case <-t.C():
		}
		t.Stop()
	}
}

// mayLead reports whether the coordinator may schedule: quorate, or the
// committed policy is ignore.
func (n *Node) mayLead() bool {
	if n.cfg.Members.Quorate() {
		return true
	}
	c, _, _ := n.cfg.State.Cluster()
	return c != nil && c.NoQuorumPolicy() == model.NoQuorumIgnore
}

// quorumBackstop is how many leases the coordinator's quorum watch waits
// without a membership or state change before it checks quorum anyway.
const quorumBackstop = 10

// leadOnce runs the leader loop until ctx ends or quorum is lost.
func (n *Node) leadOnce(ctx context.Context) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sender, err := lease.NewSender(lease.SenderConfig{
		Table: n.table, Renewer: selfRenewer{n}, Clock: n.cfg.Clock, Logger: n.log,
		Term: n.cfg.Term(), Leader: n.cfg.Name, Nodes: n.liveMembers, Index: n.cfg.State.Index,
	})
	if err != nil {
		n.log.Error("lease sender", "err", err)
		return
	}
	if n.cfg.QuietHeartbeats != nil {
		if err := n.cfg.QuietHeartbeats(lctx, sender.Interval()); err != nil && !n.quietRefused {
			n.quietRefused = true
			n.log.Info("raft heartbeats keep raft's own pace", "reason", err)
		}
	}
	loop, err := coord.NewLeaderLoop(coord.LeaderConfig{Coordinator: n.co, Clock: n.cfg.Clock, Logger: n.log,
		Interval: n.cfg.LeaderInterval, Leases: sender})
	if err != nil {
		n.log.Error("leader loop", "err", err)
		return
	}
	n.leadMu.Lock()
	n.leader, n.leading = loop, true
	n.leadMu.Unlock()
	defer func() {
		n.leadMu.Lock()
		n.leader, n.leading = nil, false
		n.leadMu.Unlock()
		n.co.EndTerm() // the next term's table starts afresh
	}()
	go func() {
		// Watch quorum: losing it ends the loop (and the renewals) at once.
		// Membership events (MembershipChanged) and state changes (a new
		// configuration may change votes or no_quorum_policy) wake it; the
		// timer, quorumBackstop leases, only guards against a change that
		// came without either. (One lease would be a wake-up a second on an
		// idle coordinator, whose wake-ups are its CPU.)
		for {
			mem := n.memWatch()
			_, stateCh := n.cfg.State.Watch()
			if !n.mayLead() {
				n.log.Warn("quorum lost: coordinator stops scheduling and renewing leases")
				cancel()
				return
			}
			t := n.cfg.Clock.NewTimer(quorumBackstop * n.cfg.Lease)
			select {
			case <-lctx.Done():
				t.Stop()
				return
			case <-n.closeCh:
				t.Stop()
				cancel()
				return
			case <-mem:
			case <-stateCh:
			case <-t.C():
			}
			t.Stop()
		}
	}()
	_ = loop.Run(lctx)
}

// liveMembers lists the nodes to renew leases of: this node and every
// configured member gossip sees alive (a node gossip lost gets nothing).
// A witness runs no resources, but its acks show that it reaches the
// others on the lease wire, which a handoff target must (it renews
// everyone's lease once it coordinates).
func (n *Node) liveMembers() []string {
	c, _, _ := n.cfg.State.Cluster()
	out := []string{n.cfg.Name}
	if c == nil {
		return out
	}
	for _, nd := range c.Nodes {
		if nd.Name != n.cfg.Name && n.cfg.Members.Alive(nd.Name) {
			out = append(out, nd.Name)
		}
	}
	sort.Strings(out)
	return out
}

// selfRenewer grants this node's own lease in-process.
type selfRenewer struct{ n *Node }

func (s selfRenewer) Renew(ctx context.Context, node string, r lease.Renewal) (uint64, error) {
	if node == s.n.cfg.Name {
		if err := s.n.verifySelf(ctx); err != nil {
			return 0, fmt.Errorf("own lease not renewed: leadership not confirmed: %w", err)
		}
		return s.n.GrantLease(r)
	}
	return s.n.cfg.Renewer.Renew(ctx, node, r)
}

// verifySelf confirms leadership with a quorum (NodeConfig.VerifyLeader)
// unless a confirmation started within model.LeaderConfirmReuse (lease/16):
// once per round of lease/8 (the confirmations pace raft's heartbeats,
// QuietHeartbeats), not twice for a first contact's immediate echo.
func (n *Node) verifySelf(ctx context.Context) error {
	if n.cfg.VerifyLeader == nil {
		return nil
	}
	n.verifyMu.Lock()
	defer n.verifyMu.Unlock()
	now := n.cfg.Clock.Now()
	if !n.verifiedAt.IsZero() && now.Sub(n.verifiedAt) < model.LeaderConfirmReuse(n.cfg.Lease) && !now.Before(n.verifiedAt) {
		return nil
	}
	if err := n.cfg.VerifyLeader(ctx); err != nil {
		n.verifiedAt = time.Time{}
		return err
	}
	n.verifiedAt = now // the start of the confirmation: conservative
	return nil
}

// Coordinate is Run for a node that runs no resources (a witness): it
// only wakes the leader loop on every state and membership change, so a
// witness that coordinates reacts at once rather than on the loop's
// 10 s timer. It returns when ctx ends or Close is called.
func (n *Node) Coordinate(ctx context.Context) error {
	for {
		_, stateCh := n.cfg.State.Watch()
		memCh := n.memWatch()
		n.trigger()
		select {
		case <-ctx.Done():
			return nil
		case <-n.closeCh:
			return nil
		case <-stateCh:
		case <-memCh:
		}
	}
}
