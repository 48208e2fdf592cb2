package node

// engine.go adapts the node's components to engine/controller and
// consensus: the controller's configuration, the lease acks that stand in
// for raft heartbeats, and the small views each side needs.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/lease"
)

// newController builds this node's resource engine (no I/O, no goroutines).
// Renewals go out through the acks-recording transport; the caller gives
// the transport the grant (SetGrant).
func (n *Node) newController(cn *consensus.Node, renewer lease.Renewer) (*controller.Node, error) {
	t := n.cfg.Cluster.EffectiveTiming()
	cfg := controller.NodeConfig{
		Name: n.cfg.Name, State: n.st, Log: cn, Members: membersView{n.mem},
		Term:    cn.CurrentTerm,
		Renewer: renewer,
		Types:   n.cfg.Types, DataDir: filepath.Join(n.dataDir, "resources"),
		Lease: t.Lease.D(), NoQuorumDelay: t.NoQuorumDelay.D(), LeaseTakeover: t.Takeover(),
		Clock: clock.System{}, Logger: n.log, Fencer: n.cfg.Fencer,
		Handoff: raftHandoff{cn}, VerifyLeader: cn.VerifyLeader, QuietHeartbeats: cn.QuietHeartbeats,
		LeaderInterval: n.cfg.Tuning.LeaderInterval, Resync: n.cfg.Tuning.Resync,
	}
	guardController(&cfg, n.cfg.Guard, n.log) // guard.go: the guard, armed with the lease (OnLease)
	return controller.NewNode(cfg)
}

// grantAndContact answers a lease renewal: refused when its term is older
// than this node's raft term (so an ack tells the leader this node had not
// moved past its term: what ContactFresh relies on), granted by the node's
// lease holder, and then handed to raft as contact from the leader.
func grantAndContact(ctl *controller.Node, cn *consensus.Node, self string) func(lease.Renewal) (uint64, error) {
	return func(r lease.Renewal) (uint64, error) {
		if cur := cn.CurrentTerm(); r.Term < cur {
			return 0, fmt.Errorf("%w: term %d from %s is older than this node's raft term %d", lease.ErrStale, r.Term, r.Leader, cur)
		}
		tok, err := ctl.GrantLease(r)
		if err == nil && r.Leader != self {
			_ = cn.Contact(r.Leader, r.Term) // refused only for an older term or while raft restarts
		}
		return tok, err
	}
}

// acks records, per node, the newest ack to a lease renewal this node sent
// as coordinator, so raft's leader may answer its heartbeat to that node
// locally while the ack is fresh (consensus.Config.ContactFresh, within
// model's ContactWindow). It wraps any lease transport.
type acks struct {
	lease.Renewer

	mu   sync.Mutex
	last map[string]ackRecord
}

type ackRecord struct {
	term uint64
	at   time.Time
}

func newAcks(r lease.Renewer) *acks { return &acks{Renewer: r, last: map[string]ackRecord{}} }

// Renew implements lease.Renewer, recording each ack.
func (a *acks) Renew(ctx context.Context, node string, r lease.Renewal) (uint64, error) {
	tok, err := a.Renewer.Renew(ctx, node, r)
	if err == nil {
		a.mu.Lock()
		a.last[node] = ackRecord{term: r.Term, at: time.Now()}
		a.mu.Unlock()
	}
	return tok, err
}

// fresh reports whether node acked a renewal of term less than within ago:
// it had not moved past that term then.
func (a *acks) fresh(node string, term uint64, within time.Duration) bool {
	a.mu.Lock()
	r, ok := a.last[node]
	a.mu.Unlock()
	return ok && r.term == term && time.Since(r.at) < within
}

// membersView answers controller.Membership from gossip.
type membersView struct{ mem Membership }

func (m membersView) Alive(node string) bool { return m.mem.Online(node) }
func (m membersView) Quorate() bool          { return m.mem.Quorum().Quorate }

var _ controller.Membership = membersView{}

// aliveView answers consensus.Membership from gossip.
type aliveView struct{ mem Membership }

func (a aliveView) Alive(node string) bool { return a.mem.Online(node) }

// raftHandoff moves the coordinator role over raft (coord.Handoff).
type raftHandoff struct{ cn *consensus.Node }

func (h raftHandoff) Voters() []string { return h.cn.Voters() }

func (h raftHandoff) TransferTo(ctx context.Context, name string) error {
	return h.cn.TransferLeadershipTo(ctx, name)
}

// noFencer is the fencer until fencing exists (DESIGN.md §7): every fence
// fails, so fence-to-win never continues alone when stonith is on; with
// stonith off it proceeds only under no_quorum_policy ignore (consensus
// decides that without calling the fencer).
type noFencer struct{}

func (noFencer) Fence(_ context.Context, node string) error {
	return fmt.Errorf("cannot fence %s: this haven has no fence device support yet; confirm it is off and restart the survivor, or add a witness", node)
}

// compile-time checks of the adapters.
var (
	_ consensus.Membership = aliveView{}
	_ consensus.Fencer     = noFencer{}
)
