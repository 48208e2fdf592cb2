package main

// controller.go adapts the agent's components to engine/controller: the
// membership view and the lease wire (UDP on the API's port number).

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/leasewire"
	"github.com/havenha/haven/membership"
)

// newController builds this node's resource engine (no I/O, no goroutines).
// Lease renewals travel coordinator-to-node as datagrams on the lease wire
// (newLeaseWire); SetGrant is left to the caller.
func newController(startup *model.Cluster, name, dataDir string, st *state.State, mem *membership.Membership,
	cn *consensus.Node, wire *leasewire.Wire, grd *guard.Client, logger *slog.Logger) (*controller.Node, error) {
	t := startup.EffectiveTiming()
	cfg := controller.NodeConfig{
		Name: name, State: st, Log: cn, Members: membersView{mem},
		Term:    cn.CurrentTerm,
		Renewer: wire,
		Types:   builtinTypes().Lookup, DataDir: filepath.Join(dataDir, "resources"),
		Lease: t.Lease.D(), NoQuorumDelay: t.NoQuorumDelay.D(), LeaseTakeover: takeover(startup),
		Clock: clock.System{}, Logger: logger,
		Handoff: raftHandoff{cn}, VerifyLeader: cn.VerifyLeader, QuietHeartbeats: cn.QuietHeartbeats,
	}
	guardController(&cfg, grd, logger) // guard.go: the guard, armed with the lease (OnLease)
	return controller.NewNode(cfg)
}

// newLeaseWire binds this node's lease wire: UDP on its first address and
// the API's port number (the API itself is TCP). Each node's address comes
// from the committed configuration (the startup file until one is
// committed). Datagrams are authenticated with the key derived from the
// cluster key.
func newLeaseWire(startup *model.Cluster, self model.Node, st *state.State, key []byte, logger *slog.Logger) (*leasewire.Wire, error) {
	_, _, apiPort := self.Ports()
	bind := net.JoinHostPort(self.Addresses[0], strconv.Itoa(apiPort))
	conn, err := net.ListenPacket("udp", bind)
	if err != nil {
		return nil, fmt.Errorf("lease renewals use UDP on the API port: %w; is another agent using api_port %d on this host?", err, apiPort)
	}
	w, err := leasewire.New(leasewire.Config{
		Conn: conn, Key: key, Name: self.Name, Logger: logger,
		// No resend: a lost datagram is retried by the next round, lease/8
		// later (lease.Sender.Run).
		Addr: func(node string) (net.Addr, error) {
			c, _, err := st.Cluster()
			if err != nil || c == nil {
				c = startup
			}
			n, ok := c.Node(node)
			if !ok {
				return nil, fmt.Errorf("node %s is not in the configuration", node)
			}
			_, _, port := n.Ports()
			if ip, err := netip.ParseAddr(n.Addresses[0]); err == nil {
				// The usual case, without the resolver's allocations on every renewal.
				return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), nil
			}
			return net.ResolveUDPAddr("udp", net.JoinHostPort(n.Addresses[0], strconv.Itoa(port)))
		},
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

// contactWindow is how recent a node's ack to a lease renewal of the
// current term must be for the raft leader to answer its heartbeat to that
// node locally instead of sending it (consensus.Config.ContactFresh): half
// the raft heartbeat timeout. The follower's raft is fed by every renewal
// it accepts (grantAndContact), and by real heartbeats again from that
// window on, so it hears something within 0.7 of its timeout even when a
// round is late. A deposed leader keeps its confidence that much longer:
// the coordinator adds it to the wait for nodes it never heard from
// (lease.TableConfig.Takeover).
func contactWindow(c *model.Cluster) time.Duration { return c.EffectiveTiming().RaftHeartbeat.D() / 2 }

// takeover is how much longer than its election a new coordinator waits
// before it recovers the resources of a node it never heard from
// (lease.TableConfig.Takeover): the time a deposed coordinator
// may still renew leases. A follower's last ack at t0 lets the old leader
// answer heartbeats locally until t0 + window, and raft's leader lease
// keeps it leading until raft_leader_lease after that, so it renews until
// t0 + window + leader lease at the latest; the new coordinator cannot be
// elected before t0 + raft_heartbeat (the followers' timeout). The wait is
// the difference, never below one contact window, which is kept on top
// as slack (lan: 150 + 100 = 250 ms; fast: 75 + 25 = 100 ms).
func takeover(c *model.Cluster) time.Duration {
	t := c.EffectiveTiming()
	w := contactWindow(c)
	return w + max(0, w+t.RaftLeaderLease.D()-t.RaftHeartbeat.D())
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

// membersView answers controller.Membership from gossip.
type membersView struct{ mem *membership.Membership }

func (m membersView) Alive(node string) bool { return aliveView(m).Alive(node) }
func (m membersView) Quorate() bool          { return m.mem.Quorum().Quorate }

var _ controller.Membership = membersView{}

// raftHandoff moves the coordinator role over raft (coord.Handoff).
type raftHandoff struct{ cn *consensus.Node }

func (h raftHandoff) Voters() []string { return h.cn.Voters() }

func (h raftHandoff) TransferTo(ctx context.Context, name string) error {
	return h.cn.TransferLeadershipTo(ctx, name)
}
