package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/quorum"
)

// Config configures a Membership.
type Config struct {
	// Cluster is the configuration; NodeName must be one of its nodes.
	Cluster  *model.Cluster
	NodeName string
	// Keys come from the cluster key file (LoadKeyFile); Gossip is used.
	Keys Keys
	// Version is gossiped in the metadata.
	Version string
	Logger  *slog.Logger
	// JoinInterval is the pause between rounds of joins to configured peers
	// not seen on a link (default 1s).
	JoinInterval time.Duration
	// LeaveTimeout bounds the graceful leave on shutdown (default 3s).
	LeaveTimeout time.Duration
}

// Event kinds.
const (
	EventJoin     = "join"      // a node became reachable
	EventUpdate   = "update"    // a node's metadata changed
	EventLeave    = "leave"     // a node left gracefully
	EventDead     = "dead"      // a node was declared dead
	EventLinkDown = "link-down" // one link to a node that is still reachable failed
	EventLinkUp   = "link-up"   // a link to a reachable node came back
	EventQuorum   = "quorum"    // the quorum result changed
)

// Event is one change of the membership view.
type Event struct {
	Kind string
	Node string // empty for EventQuorum
	Link int    // link index for link events, else -1
	Meta Meta
	At   time.Time
	// Quorum is the result after the change.
	Quorum quorum.Result
}

// Member states in a Status.
const (
	StateOnline = "online"
	StateDead   = "dead"
	StateLeft   = "left"
	StateUnseen = "unseen" // not seen since this process started
)

// LinkStatus is one link of a member as this node sees it.
type LinkStatus struct {
	Link    int
	Address string // ip:port
	Up      bool
}

// MemberStatus is one configured node as this node sees it.
type MemberStatus struct {
	Name   string
	Votes  int
	Role   string
	Local  bool
	Online bool
	State  string
	Links  []LinkStatus
	Meta   Meta
	// Since is when State last changed (zero if never).
	Since time.Time
}

// Status is a consistent snapshot of the view.
type Status struct {
	Node    string
	Cluster string
	Quorum  quorum.Result
	Members []MemberStatus
}

type peer struct {
	node     model.Node
	ip       []net.IP // resolved per link; nil if not resolved
	up       []bool   // per link
	meta     Meta
	haveMeta bool
	online   bool
	left     bool
	seen     bool
	// leavingInstance is the instance named by the peer's leave notice.
	leavingInstance string
	since           time.Time
	// driftVotes is the last differing vote count warned about.
	driftVotes int
}

type link struct {
	index int
	addr  string
	port  int
	ml    *memberlist.Memberlist
}

// Membership is the node's view of who is alive, over one memberlist per
// link, and the votequorum result for its partition.
type Membership struct {
	cfg    Config
	log    *slog.Logger
	self   model.Node
	timing model.Timing

	mu      sync.Mutex
	links   []*link
	peers   map[string]*peer
	calc    *quorum.Calculator
	quorum  quorum.Result
	meta    Meta
	refused map[string]time.Time

	eventCh chan Event
	dropped int
	// linkDown is closed (and replaced) when a peer's link goes down: it
	// wakes the join loops, which set no timer while every peer is up.
	linkDown chan struct{}
	metaCh   chan struct{}
	readyCh  chan struct{}
	stopOnce sync.Once
	stopped  bool
}

// New validates the configuration and prepares a Membership. It does no I/O.
func New(cfg Config) (*Membership, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("membership: no cluster configuration")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JoinInterval <= 0 {
		cfg.JoinInterval = time.Second
	}
	if cfg.LeaveTimeout <= 0 {
		cfg.LeaveTimeout = 3 * time.Second
	}
	if len(cfg.Keys.Gossip) != 32 {
		return nil, errors.New("membership: no gossip key; expected keys derived from the cluster key file")
	}
	self, ok := cfg.Cluster.Node(cfg.NodeName)
	if !ok {
		return nil, fmt.Errorf("membership: node %q is not in the configuration; expected one of %v", cfg.NodeName, nodeNames(cfg.Cluster))
	}
	if len(self.Addresses) == 0 {
		return nil, fmt.Errorf("membership: node %s has no addresses; expected at least one", self.Name)
	}
	t := cfg.Cluster.EffectiveTiming()
	if bad := t.Contradictions(); len(bad) > 0 {
		return nil, fmt.Errorf("membership: timing: %s", bad[0])
	}
	m := &Membership{
		cfg: cfg, log: cfg.Logger.With("component", "membership"), self: *self, timing: t,
		peers: map[string]*peer{}, refused: map[string]time.Time{},
		eventCh: make(chan Event, 256), metaCh: make(chan struct{}, 1), readyCh: make(chan struct{}), linkDown: make(chan struct{}),
	}
	for _, n := range cfg.Cluster.Nodes {
		if n.Name == self.Name {
			continue
		}
		m.peers[n.Name] = &peer{node: n, up: make([]bool, len(n.Addresses)), ip: make([]net.IP, len(n.Addresses))}
	}
	_, raftPort, apiPort := self.Ports()
	m.meta = Meta{
		Cluster: cfg.Cluster.Cluster.Name, Votes: self.VotesOrDefault(), Role: roleOf(*self),
		RaftAddr: net.JoinHostPort(self.Addresses[0], strconv.Itoa(raftPort)),
		APIAddr:  net.JoinHostPort(self.Addresses[0], strconv.Itoa(apiPort)),
		Version:  cfg.Version, Instance: newInstanceID(),
	}
	if _, err := m.meta.Encode(); err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	m.calc = quorum.New(quorum.ConfigFor(cfg.Cluster))
	m.quorum = m.calc.Update(m.voteInputsLocked(), false)
	m.meta.DoneWaiting = !m.quorum.Waiting
	return m, nil
}

func roleOf(n model.Node) string {
	if n.Role == "" {
		return model.RoleMember
	}
	return n.Role
}

func nodeNames(c *model.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// EventCh delivers membership events. It is buffered; when the reader falls
// behind, events are dropped (and counted in the log) rather than stalling
// failure detection. Status is always current.
func (m *Membership) EventCh() <-chan Event { return m.eventCh }

// Ready is closed once every link is bound and gossiping.
func (m *Membership) Ready() <-chan struct{} { return m.readyCh }

// LocalName is this node's name.
func (m *Membership) LocalName() string { return m.self.Name }

// Run binds one memberlist per link, joins the configured peers (retrying in
// the background until they answer, and again whenever one is missing), and
// blocks until ctx ends; then it leaves gracefully and shuts down.
func (m *Membership) Run(ctx context.Context) error {
	if err := m.start(ctx); err != nil {
		m.shutdown()
		return err
	}
	close(m.readyCh)
	m.log.Info("membership started", "links", len(m.links), "profile", m.cfg.Cluster.ProfileName(),
		"probe_interval", m.timing.ProbeInterval, "probe_timeout", m.timing.ProbeTimeout,
		"gossip_interval", m.timing.GossipInterval, "suspicion_mult", m.timing.SuspicionMult)
	var wg sync.WaitGroup
	for _, l := range m.links {
		wg.Add(1)
		go func() { defer wg.Done(); m.joinLoop(ctx, l) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); m.metaLoop(ctx) }()
	<-ctx.Done()
	wg.Wait()
	m.leave()
	m.shutdown()
	return nil
}

// Close stops gossip at once, without a graceful leave. Safe twice; Run's
// context is the graceful path.
func (m *Membership) Close() error {
	m.shutdown()
	return nil
}

func (m *Membership) start(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	gossipPort, _, _ := m.self.Ports()
	for i, a := range m.self.Addresses {
		ip, err := resolve(rctx, a)
		if err != nil {
			return fmt.Errorf("gossip link %d address %s of %s: %w", i, a, m.self.Name, err)
		}
		m.links = append(m.links, &link{index: i, addr: ip.String(), port: gossipPort})
	}
	for _, p := range m.peers {
		for i, a := range p.node.Addresses {
			ip, err := resolve(rctx, a)
			if err != nil {
				m.log.Warn("cannot resolve a peer's address; its address will not be checked", "node", p.node.Name, "address", a, "err", err)
				continue
			}
			p.ip[i] = ip
		}
	}
	for _, l := range m.links {
		mc := m.memberlistConfig(l)
		tr, err := newBoundTransport(l.addr, l.port, mc)
		if err != nil {
			return fmt.Errorf("gossip link %d on %s: %w", l.index, net.JoinHostPort(l.addr, strconv.Itoa(l.port)), err)
		}
		mc.Transport = tr
		ml, err := memberlist.Create(mc)
		if err != nil {
			_ = tr.Shutdown()
			return fmt.Errorf("gossip link %d on %s: %w", l.index, net.JoinHostPort(l.addr, strconv.Itoa(l.port)), err)
		}
		m.mu.Lock()
		l.ml = ml
		m.mu.Unlock()
	}
	return nil
}

func resolve(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	return ips[0].IP, nil
}

// memberlistConfig maps the timing profile onto memberlist for one link.
func (m *Membership) memberlistConfig(l *link) *memberlist.Config {
	t := m.timing
	c := memberlist.DefaultLANConfig()
	c.Name = m.self.Name
	c.BindAddr, c.BindPort = l.addr, l.port
	c.AdvertiseAddr, c.AdvertisePort = l.addr, l.port
	c.SecretKey = m.cfg.Keys.Gossip
	c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	// The label is authenticated with the key: traffic of another cluster
	// (even one sharing the key) is discarded before decoding.
	c.Label = "haven/" + m.cfg.Cluster.Cluster.Name
	c.ProbeInterval = t.ProbeInterval.D()
	c.ProbeTimeout = t.ProbeTimeout.D()
	c.GossipInterval = t.GossipInterval.D()
	c.SuspicionMult = t.SuspicionMult
	// Lifeguard stays on: AwarenessMaxMultiplier (8) stretches a loaded
	// node's own probe timeouts instead of letting it accuse healthy peers.
	c.TCPTimeout = min(max(10*t.ProbeInterval.D(), time.Second), 10*time.Second)
	c.DeadNodeReclaimTime = 0
	// Gossip packets are about a hundred bytes: LZW saves nothing on them,
	// and a compressor per packet sent was the largest source of garbage
	// on an idle agent (docs/bench/idle.md). Peers read either form.
	c.EnableCompression = false
	d := &linkDelegate{m: m, link: l.index}
	c.Delegate, c.Events, c.Alive, c.Merge = d, d, d, d
	bridge := newLogBridge(m.cfg.Logger, l.index, nil)
	c.Logger = bridge.logger()
	return c
}

// joinLoop joins configured peers not seen on this link, every
// JoinInterval while any is missing, for as long as the node runs: this is
// both the cold-start join and the repair of a partition memberlist has
// given up on. While every peer is up on the link it sets no timer: it
// waits for a peer's link to go down (observe closes linkDown), so a
// settled cluster costs no wake-up a second on every node.
func (m *Membership) joinLoop(ctx context.Context, l *link) {
	for {
		addrs, down := m.missing(l.index)
		if len(addrs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-down:
			}
			continue
		}
		for _, addr := range addrs {
			if ctx.Err() != nil {
				return
			}
			if _, err := l.ml.Join([]string{addr}); err != nil {
				m.log.Debug("join attempt failed", "link", l.index, "peer", addr, "err", err)
			}
		}
		t := time.NewTimer(m.cfg.JoinInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// missing lists the addresses of the configured peers not up on link, and
// the channel closed when a peer's link next goes down.
func (m *Membership) missing(link int) ([]string, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, n := range m.cfg.Cluster.Nodes {
		p, ok := m.peers[n.Name]
		if !ok || link >= len(p.node.Addresses) || p.up[link] {
			continue
		}
		port, _, _ := p.node.Ports()
		out = append(out, net.JoinHostPort(p.node.Addresses[link], strconv.Itoa(port)))
	}
	return out, m.linkDown
}

// metaLoop gossips metadata changes (quorate flag) on every link.
func (m *Membership) metaLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.metaCh:
			for _, l := range m.links {
				if err := l.ml.UpdateNode(m.cfg.LeaveTimeout); err != nil {
					m.log.Debug("metadata update not acknowledged", "link", l.index, "err", err)
				}
			}
		}
	}
}

// leave announces a graceful departure on every link: the leaving flag in
// the metadata, a leave notice to every peer over the stream (leave.go: the
// one that peers reliably get), then memberlist's leave.
func (m *Membership) leave() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.meta.Leaving = true
	instance := m.meta.Instance
	links := slices.Clone(m.links)
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range links {
		if l.ml == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// memberlist panics on Leave after its Shutdown (a link that
			// failed on its own); nothing is left to announce there.
			defer func() {
				if r := recover(); r != nil {
					m.log.Debug("link already shut down; no leave to announce", "link", l.index, "panic", r)
				}
			}()
			if err := l.ml.UpdateNode(m.cfg.LeaveTimeout); err != nil {
				m.log.Debug("leaving flag not acknowledged", "link", l.index, "err", err)
			}
			m.sendLeaveNotices(l.ml, instance, m.cfg.LeaveTimeout)
			if err := l.ml.Leave(m.cfg.LeaveTimeout); err != nil {
				m.log.Warn("graceful leave not acknowledged", "link", l.index, "err", err)
			}
		}()
	}
	wg.Wait()
	m.log.Info("left the cluster")
}

func (m *Membership) shutdown() {
	m.stopOnce.Do(func() {
		m.mu.Lock()
		m.stopped = true
		links := slices.Clone(m.links)
		m.mu.Unlock()
		for _, l := range links {
			if l.ml != nil {
				_ = l.ml.Shutdown()
			}
		}
	})
}
