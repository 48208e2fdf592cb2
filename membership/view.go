package membership

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/havenha/haven/engine/quorum"
)

// linkDelegate receives memberlist's callbacks for one link. memberlist
// calls most of them while holding its own locks: they only update the view
// under m.mu and never call back into memberlist.
type linkDelegate struct {
	m    *Membership
	link int
}

// NodeMeta implements memberlist.Delegate.
func (d *linkDelegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	meta := d.m.meta
	d.m.mu.Unlock()
	b, err := meta.Encode()
	if err != nil || len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate: the only user message is the
// leave notice (leave.go).
func (d *linkDelegate) NotifyMsg(b []byte) { d.m.noticeLeave(b) }

// GetBroadcasts implements memberlist.Delegate.
func (d *linkDelegate) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (d *linkDelegate) LocalState(bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (d *linkDelegate) MergeRemoteState([]byte, bool) {}

// NotifyAlive implements memberlist.AliveDelegate: refuse nodes that are not
// configured, belong to another cluster, or gossip from an address other
// than the configured one for this link.
func (d *linkDelegate) NotifyAlive(n *memberlist.Node) error {
	if err := d.m.admit(d.link, n); err != nil {
		d.m.refuse(d.link, n, err)
		return err
	}
	return nil
}

// NotifyMerge implements memberlist.MergeDelegate: a push/pull from a peer
// whose view holds a node we would refuse is refused whole.
func (d *linkDelegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := d.m.admit(d.link, n); err != nil {
			d.m.refuse(d.link, n, err)
			return fmt.Errorf("merge refused: %w", err)
		}
	}
	return nil
}

// NotifyJoin implements memberlist.EventDelegate.
func (d *linkDelegate) NotifyJoin(n *memberlist.Node) { d.m.observe(d.link, n, true, false) }

// NotifyUpdate implements memberlist.EventDelegate.
func (d *linkDelegate) NotifyUpdate(n *memberlist.Node) { d.m.observe(d.link, n, true, false) }

// NotifyLeave implements memberlist.EventDelegate. It cannot tell a leave
// from a death: memberlist v0.6.0 never sets the State of the Node it
// passes (see leave.go); the leave notice and the Leaving flag do.
func (d *linkDelegate) NotifyLeave(n *memberlist.Node) {
	d.m.observe(d.link, n, false, n.State == memberlist.StateLeft)
}

var errRefused = errors.New("refused")

func (m *Membership) admit(link int, n *memberlist.Node) error {
	if n.Name == m.self.Name {
		if link < len(m.links) && n.Addr != nil && n.Addr.String() != m.links[link].addr {
			return fmt.Errorf("%w: %s at %s claims this node's name", errRefused, n.Name, addrOf(n))
		}
		return nil
	}
	m.mu.Lock()
	p, ok := m.peers[n.Name]
	var want net.IP
	if ok && link < len(p.ip) {
		want = p.ip[link]
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: node %q at %s is not in the configuration", errRefused, n.Name, addrOf(n))
	}
	if link >= len(p.node.Addresses) {
		return fmt.Errorf("%w: node %s at %s has no link %d in the configuration", errRefused, n.Name, addrOf(n), link)
	}
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		return fmt.Errorf("%w: node %s at %s: %v", errRefused, n.Name, addrOf(n), err)
	}
	if meta.Cluster != m.cfg.Cluster.Cluster.Name {
		return fmt.Errorf("%w: node %s at %s belongs to cluster %q; expected %q", errRefused, n.Name, addrOf(n), meta.Cluster, m.cfg.Cluster.Cluster.Name)
	}
	if want != nil && n.Addr != nil && !want.Equal(n.Addr) {
		return fmt.Errorf("%w: node %s gossips from %s; the configuration gives %s for link %d", errRefused, n.Name, addrOf(n), want, link)
	}
	return nil
}

func addrOf(n *memberlist.Node) string {
	if n.Addr == nil {
		return "?"
	}
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// refuse logs a refused node once per address and minute.
func (m *Membership) refuse(link int, n *memberlist.Node, err error) {
	key := n.Name + "|" + addrOf(n)
	now := time.Now()
	m.mu.Lock()
	last, seen := m.refused[key]
	if !seen || now.Sub(last) > time.Minute {
		m.refused[key] = now
	}
	if len(m.refused) > 4096 {
		m.refused = map[string]time.Time{}
	}
	m.mu.Unlock()
	if !seen || now.Sub(last) > time.Minute {
		m.log.Warn("node refused", "node", n.Name, "remote", addrOf(n), "link", link, "reason", err.Error())
	}
}

// observe records a link's view of a node and emits the events its
// reachability implies.
func (m *Membership) observe(link int, n *memberlist.Node, up, announcedLeave bool) {
	if n.Name == m.self.Name {
		return
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[n.Name]
	if !ok || link >= len(p.up) {
		return
	}
	if meta, err := DecodeMeta(n.Meta); err == nil {
		if meta.Votes != p.node.VotesOrDefault() && meta.Votes != p.driftVotes {
			p.driftVotes = meta.Votes
			m.log.Warn("configuration differs between nodes: a peer announces other votes; this node counts the votes of its own file",
				"node", p.node.Name, "announced_votes", meta.Votes, "configured_votes", p.node.VotesOrDefault())
		}
		if p.haveMeta && meta != p.meta && up && p.online {
			p.meta = meta
			m.emitLocked(Event{Kind: EventUpdate, Node: p.node.Name, Link: -1, Meta: meta, At: now})
		}
		p.meta, p.haveMeta = meta, true
	}
	wasOnline, wasUp := p.online, p.up[link]
	p.up[link] = up
	if wasUp && !up {
		close(m.linkDown)
		m.linkDown = make(chan struct{})
	}
	online := false
	for _, u := range p.up {
		online = online || u
	}
	p.online = online
	switch {
	case online && !wasOnline:
		p.seen, p.left, p.since = true, false, now
		p.leavingInstance = ""
		m.log.Info("node joined", "node", p.node.Name, "link", link, "votes", p.node.VotesOrDefault())
		m.emitLocked(Event{Kind: EventJoin, Node: p.node.Name, Link: -1, Meta: p.meta, At: now})
	case !online && wasOnline:
		p.since = now
		if announcedLeave || p.meta.Leaving || (p.leavingInstance != "" && p.leavingInstance == p.meta.Instance) {
			p.left = true
			m.log.Info("node left", "node", p.node.Name)
			m.emitLocked(Event{Kind: EventLeave, Node: p.node.Name, Link: -1, Meta: p.meta, At: now})
		} else {
			p.left = false
			m.log.Warn("node dead", "node", p.node.Name, "link", link)
			m.emitLocked(Event{Kind: EventDead, Node: p.node.Name, Link: -1, Meta: p.meta, At: now})
		}
	case online && wasUp && !up:
		m.log.Warn("link down; node still reachable on another link", "node", p.node.Name, "link", link)
		m.emitLocked(Event{Kind: EventLinkDown, Node: p.node.Name, Link: link, Meta: p.meta, At: now})
	case online && wasOnline && !wasUp && up:
		m.log.Info("link up", "node", p.node.Name, "link", link)
		m.emitLocked(Event{Kind: EventLinkUp, Node: p.node.Name, Link: link, Meta: p.meta, At: now})
	}
	m.recomputeLocked(now)
}

func (m *Membership) voteInputsLocked() []quorum.Vote {
	return quorum.Votes(m.cfg.Cluster, func(name string) bool {
		if p, ok := m.peers[name]; ok {
			return p.online
		}
		return name == m.self.Name
	})
}

func (m *Membership) recomputeLocked(now time.Time) {
	peerDone := false
	for _, p := range m.peers {
		peerDone = peerDone || (p.online && p.meta.DoneWaiting)
	}
	prev := m.quorum
	r := m.calc.Update(m.voteInputsLocked(), peerDone)
	m.quorum = r
	if r.Quorate != prev.Quorate || r.TotalVotes != prev.TotalVotes || r.Quorum != prev.Quorum || r.Waiting != prev.Waiting {
		lvl := m.log.Info
		if !r.Quorate {
			lvl = m.log.Warn
		}
		lvl("quorum", "quorate", r.Quorate, "total_votes", r.TotalVotes, "quorum", r.Quorum,
			"highest_expected", r.HighestExpected, "waiting_for_all", r.Waiting)
		m.emitLocked(Event{Kind: EventQuorum, Link: -1, At: now})
	}
	if q := !r.Waiting; q != m.meta.DoneWaiting {
		m.meta.DoneWaiting = q
		select {
		case m.metaCh <- struct{}{}:
		default:
		}
	}
}

func (m *Membership) emitLocked(e Event) {
	e.Quorum = m.quorum
	select {
	case m.eventCh <- e:
	default:
		m.dropped++
		if m.dropped == 1 || m.dropped%100 == 0 {
			m.log.Warn("membership events dropped: the reader is behind", "dropped", m.dropped)
		}
	}
}

// Quorum returns the current quorum result.
func (m *Membership) Quorum() quorum.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.quorum
}

// Online reports whether gossip sees configured node alive now (this node
// always):
// Status's Online for one node, without building the snapshot (the
// coordinator asks for every node each lease round).
func (m *Membership) Online(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if node == m.self.Name {
		return true
	}
	if _, ok := m.cfg.Cluster.Node(node); !ok {
		return false
	}
	p, ok := m.peers[node]
	return ok && p.online
}

// Status returns a snapshot of every configured node and the quorum.
func (m *Membership) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{Node: m.self.Name, Cluster: m.cfg.Cluster.Cluster.Name, Quorum: m.quorum}
	s.Quorum.Flags = append([]string(nil), m.quorum.Flags...)
	for _, n := range m.cfg.Cluster.Nodes {
		port, _, _ := n.Ports()
		ms := MemberStatus{Name: n.Name, Votes: n.VotesOrDefault(), Role: roleOf(n)}
		if n.Name == m.self.Name {
			ms.Local, ms.Online, ms.State, ms.Meta = true, true, StateOnline, m.meta
			for i, a := range n.Addresses {
				ms.Links = append(ms.Links, LinkStatus{Link: i, Address: net.JoinHostPort(a, strconv.Itoa(port)), Up: i < len(m.links) && m.links[i].ml != nil})
			}
		} else {
			p := m.peers[n.Name]
			ms.Online, ms.Meta, ms.Since = p.online, p.meta, p.since
			switch {
			case p.online:
				ms.State = StateOnline
			case p.left:
				ms.State = StateLeft
			case p.seen:
				ms.State = StateDead
			default:
				ms.State = StateUnseen
			}
			for i, a := range n.Addresses {
				ms.Links = append(ms.Links, LinkStatus{Link: i, Address: net.JoinHostPort(a, strconv.Itoa(port)), Up: p.up[i]})
			}
		}
		s.Members = append(s.Members, ms)
	}
	return s
}
