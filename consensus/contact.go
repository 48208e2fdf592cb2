package consensus

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Raft's heartbeats, fed by another channel of contact.
//
// hashicorp/raft's leader sends every follower a heartbeat each
// heartbeat/10–/5 (22 a second per follower on the lan profile), and that
// rate is fixed in the library. haven's coordinator already exchanges a
// lease renewal with every node each lease/8, authenticated and stamped with
// the raft term (the lease wire, leasewire). Two seams let that traffic
// stand in for most heartbeats without changing raft's timing:
//
//   - Follower side, Node.Contact: a renewal the node accepted from the
//     leader of term T is handed to raft's heartbeat handler as a heartbeat
//     of term T from that leader, so raft's contact timer is fed by it.
//   - Leader side, Config.ContactFresh: before a heartbeat goes out, the
//     transport asks whether that follower confirmed this term recently by
//     other means (an ack to a renewal of this term within a short window);
//     if so, and its last real heartbeat answer in this term was a success,
//     the heartbeat is answered locally with that answer. Otherwise the real
//     heartbeat goes out, as before.
//
// A follower that moved to a newer term refuses renewals of an older one (the
// agent checks CurrentTerm before granting), so "acked recently" means "had
// not moved past this term a moment ago": what raft's leader lease and
// VerifyLeader read from heartbeats, only up to the window older. The lease
// bound accounts for it (engine/DESIGN.md, "Leases").
//
// Why bother: with every heartbeat sent over TLS instead, an idle lan
// coordinator uses a quarter more CPU (docs/bench/idle.md).

// contactTransport wraps raft's transport: it keeps raft's heartbeat handler
// (for Contact) and answers heartbeats locally when ContactFresh says so.
type contactTransport struct {
	raft.Transport
	fresh func(peer string, term uint64) bool

	mu   sync.Mutex
	hb   func(raft.RPC)
	last map[raft.ServerID]raft.AppendEntriesResponse // last real heartbeat answer per follower

	real, local atomic.Uint64
}

func newContactTransport(t raft.Transport, fresh func(peer string, term uint64) bool) *contactTransport {
	return &contactTransport{Transport: t, fresh: fresh, last: map[raft.ServerID]raft.AppendEntriesResponse{}}
}

// SetHeartbeatHandler implements raft.Transport; the handler is kept for Contact.
func (t *contactTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	t.mu.Lock()
	t.hb = cb
	t.mu.Unlock()
	t.Transport.SetHeartbeatHandler(cb)
}

// RequestPreVote forwards pre-vote support.
func (t *contactTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if pv, ok := t.Transport.(raft.WithPreVote); ok {
		return pv.RequestPreVote(id, target, args, resp)
	}
	return raft.ErrUnsupportedProtocol
}

// isHeartbeat is the shape of raft's heartbeat (as NetworkTransport tests it).
func isHeartbeat(a *raft.AppendEntriesRequest) bool {
	return a.Term != 0 && a.PrevLogEntry == 0 && a.PrevLogTerm == 0 && len(a.Entries) == 0 && a.LeaderCommitIndex == 0
}

// AppendEntries implements raft.Transport.
func (t *contactTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	hb := isHeartbeat(args)
	if hb && t.fresh != nil && t.fresh(string(id), args.Term) {
		t.mu.Lock()
		last, ok := t.last[id]
		t.mu.Unlock()
		if ok && last.Success && last.Term == args.Term {
			*resp = last
			t.local.Add(1)
			return nil
		}
	}
	err := t.Transport.AppendEntries(id, target, args, resp)
	if hb {
		t.real.Add(1)
		t.mu.Lock()
		if err == nil {
			t.last[id] = *resp
		} else {
			delete(t.last, id)
		}
		t.mu.Unlock()
	}
	return err
}

// ErrNoContact is returned by Contact when raft is not running or refused
// the heartbeat (an older term, or raft shutting down).
var ErrNoContact = errors.New("raft took no contact")

// contact hands raft a heartbeat of term from leader (at addr) and reports
// whether raft accepted it.
func (t *contactTransport) contact(leader string, addr raft.ServerAddress, term uint64) error {
	t.mu.Lock()
	hb := t.hb
	t.mu.Unlock()
	if hb == nil {
		return fmt.Errorf("%w: raft is not running", ErrNoContact)
	}
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(leader), Addr: t.EncodePeer(raft.ServerID(leader), addr)},
		Term:      term,
		Leader:    t.EncodePeer(raft.ServerID(leader), addr),
	}
	ch := make(chan raft.RPCResponse, 1)
	hb(raft.RPC{Command: req, RespChan: ch})
	select {
	case r := <-ch:
		if a, ok := r.Response.(*raft.AppendEntriesResponse); r.Error == nil && ok && a.Success {
			return nil
		}
		return fmt.Errorf("%w: heartbeat of term %d from %s refused", ErrNoContact, term, leader)
	default: // raft is shutting down: it answered nothing
		return fmt.Errorf("%w: raft is shutting down", ErrNoContact)
	}
}

// HeartbeatCounts returns how many heartbeats this node's raft sent as leader
// over the network and how many were answered locally (ContactFresh), since
// raft last started.
func (n *Node) HeartbeatCounts() (real, local uint64) {
	n.mu.Lock()
	ct := n.ct
	n.mu.Unlock()
	if ct == nil {
		return 0, 0
	}
	return ct.real.Load(), ct.local.Load()
}

// Contact tells raft that leader, the leader of term, was heard from by
// other means (an authenticated lease renewal it sent): raft treats it as a
// heartbeat from that leader (its contact timer, its known leader, a newer
// term). It refuses this node's own name (a leader never hears from itself),
// an unknown node and an older term.
func (n *Node) Contact(leader string, term uint64) error {
	if leader == n.cfg.Node {
		return fmt.Errorf("%w: %s is this node", ErrNoContact, leader)
	}
	n.mu.Lock()
	ct, r, addr := n.ct, n.r, n.addressLocked(leader)
	n.mu.Unlock()
	if addr == "" {
		return fmt.Errorf("%w: %s is not in the configuration", ErrNoContact, leader)
	}
	if ct == nil || r == nil {
		return fmt.Errorf("%w: raft is not running", ErrNoContact)
	}
	if cur := r.CurrentTerm(); term < cur {
		return fmt.Errorf("%w: term %d is older than this node's term %d", ErrNoContact, term, cur)
	}
	return ct.contact(leader, addr, term)
}

// CurrentTerm returns raft's current term (0 when raft is not running).
func (n *Node) CurrentTerm() uint64 {
	n.mu.Lock()
	r := n.r
	n.mu.Unlock()
	if r == nil {
		return 0
	}
	return r.CurrentTerm()
}
