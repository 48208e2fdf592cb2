package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/storage"
)

// Errors callers act on.
var (
	// ErrInvalid: the command was refused before reaching the log (unknown type, bad body).
	ErrInvalid = errors.New("command refused before commit")
	// ErrNoLeader: no leader could be reached before the context ended; nothing was submitted.
	ErrNoLeader = errors.New("no raft leader reachable")
	// ErrUnknownOutcome: the command was submitted but leadership was lost or the
	// context ended before its result was known; it may or may not be committed.
	ErrUnknownOutcome = errors.New("command outcome unknown")
	// ErrClosed: the node is not running.
	ErrClosed = errors.New("consensus node is not running")
)

// Fencer fences a node. It returns nil only when the node is confirmed off.
type Fencer interface {
	Fence(ctx context.Context, node string) error
}

// Membership answers whether a node is alive (gossip's view).
type Membership interface {
	Alive(node string) bool
}

// Config configures a Node.
type Config struct {
	// Cluster is the configuration: node list, votes, two_node, policies, timing.
	Cluster *model.Cluster
	// Node is this node's name in Cluster.Nodes.
	Node string
	// Key is the cluster key (used for the data directory's cluster id).
	Key []byte
	// DataDir is this node's data directory (default storage.PathFor(cluster.data_dir, Node)).
	DataDir string
	// Link carries raft and haven RPC (TCPLink, or an InmemNetwork link in tests).
	Link Link
	// State is the replicated state machine.
	State *state.State
	// Address maps a node to its raft address (default: primary address and raft port).
	Address func(model.Node) raft.ServerAddress
	// Fencer confirms fences for fence-to-win (required when stonith is on in a two_node cluster).
	Fencer Fencer
	// Membership tells the leader which missing servers are alive and may be
	// (re-)added (nil: every node is assumed alive).
	Membership Membership
	// OnLeader, when set, is called in its own goroutine each time this node
	// becomes leader, after a barrier; ctx is cancelled when leadership is lost.
	OnLeader func(ctx context.Context)
	// Logger receives consensus and raft logs.
	Logger *slog.Logger
	// Snapshot tuning (zero: raft defaults).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// ReconcileInterval is how often the leader aligns the raft configuration
	// with the voter plan and a forced-alone node checks its peer (default 1s).
	ReconcileInterval time.Duration
	// NoSync disables fsync of the raft log: tests and benchmarks only.
	NoSync bool
	// ContactFresh, when set, says whether peer confirmed term recently by
	// other means (the agent: acked a lease renewal of that term within
	// half a raft heartbeat timeout); the leader then answers its heartbeat
	// to peer locally instead of sending it (contact.go). Nil: every
	// heartbeat goes out.
	ContactFresh func(peer string, term uint64) bool
}

// DefaultAddress is a node's raft address: its primary address and raft port.
func DefaultAddress(n model.Node) raft.ServerAddress {
	_, port, _ := n.Ports()
	host := ""
	if len(n.Addresses) > 0 {
		host = n.Addresses[0]
	}
	return raft.ServerAddress(net.JoinHostPort(host, strconv.Itoa(port)))
}

// Node is one member of the raft cluster. New does no I/O; Run opens the data
// directory, bootstraps or restarts raft and blocks; Close stops it.
type Node struct {
	cfg  Config
	log  *slog.Logger
	self model.Node

	recoverMu sync.Mutex // serializes raft restarts (recover alone, wipe) and maintenance
	peerSeen  bool       // fence-to-win: the peer was alive at least once since start (under recoverMu)
	stopping  bool       // Run is ending: no raft restarts any more (under recoverMu)
	// leaderSeen: since this process started, raft had a leader (this node
	// or a peer). fence-to-win requires it, like votequorum's wait_for_all.
	leaderSeen atomic.Bool

	mu       sync.Mutex
	plan     VoterPlan
	cluster  *model.Cluster
	r        *raft.Raft
	ct       *contactTransport // the current raft instance's transport (Contact, HeartbeatCounts)
	dir      *storage.Dir
	stopR    chan struct{} // closed when the current raft instance stops
	leadStop context.CancelFunc
	runCtx   context.Context
	closed   bool
	// QuietHeartbeats' generation (only the newest restores the timing), and
	// its arguments (a failed leadership transfer quiets again).
	quietGen   uint64
	quietCtx   context.Context
	quietEvery time.Duration

	// pushCh asks the commit pusher (pushCommits) to tell followers about
	// the leader's newest commit now.
	pushCh chan struct{}

	ready     chan struct{}
	readyOnce sync.Once
	cancelRun context.CancelFunc
	runDone   chan struct{}
	closeOnce sync.Once
}

// New checks the configuration and computes the voter plan. No I/O.
func New(cfg Config) (*Node, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("consensus: Config.Cluster is nil")
	}
	if cfg.Link == nil || cfg.State == nil {
		return nil, errors.New("consensus: Config.Link and Config.State are required")
	}
	self, ok := cfg.Cluster.Node(cfg.Node)
	if !ok {
		return nil, fmt.Errorf("consensus: node %q is not in the configuration's node list", cfg.Node)
	}
	if len(cfg.Key) < MinKeyLen {
		return nil, fmt.Errorf("consensus: cluster key is %d bytes; expected at least %d", len(cfg.Key), MinKeyLen)
	}
	if t := cfg.Cluster.EffectiveTiming(); len(t.Contradictions()) > 0 {
		return nil, fmt.Errorf("consensus: timing: %v", t.Contradictions())
	}
	plan, err := SelectVoters(cfg.Cluster)
	if err != nil {
		return nil, err
	}
	if plan.FenceToWin && cfg.Cluster.StonithEnabled() && cfg.Fencer == nil {
		return nil, errors.New("consensus: two_node with stonith needs a Fencer for fence-to-win")
	}
	if cfg.Address == nil {
		cfg.Address = DefaultAddress
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = storage.PathFor(cfg.Cluster.Cluster.DataDir, cfg.Node)
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = time.Second
	}
	return &Node{
		cfg: cfg, log: cfg.Logger.With("node", cfg.Node), self: *self,
		plan: plan, cluster: cfg.Cluster,
		ready: make(chan struct{}), runDone: make(chan struct{}), pushCh: make(chan struct{}, 1),
	}, nil
}

// Plan returns the current voter plan.
func (n *Node) Plan() VoterPlan {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.plan
}

// servers is the raft configuration of the plan, in file order.
func (n *Node) servers() []raft.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []raft.Server
	for _, nd := range n.cluster.Nodes {
		s := raft.Server{ID: raft.ServerID(nd.Name), Address: n.cfg.Address(nd), Suffrage: raft.Nonvoter}
		if n.plan.IsVoter(nd.Name) {
			s.Suffrage = raft.Voter
		}
		out = append(out, s)
	}
	return out
}

func (n *Node) raftConfig(notify chan bool) *raft.Config {
	t := n.cfg.Cluster.EffectiveTiming()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.Node)
	rc.HeartbeatTimeout = t.RaftHeartbeat.D()
	rc.ElectionTimeout = t.RaftElection.D()
	rc.LeaderLeaseTimeout = t.RaftLeaderLease.D()
	// Followers learn commits from the barrier pushCommits appends after
	// each burst of applies (and after configuration changes), not from the
	// CommitTimeout's empty AppendEntries: those cost an RPC per follower
	// every 50 ms while idle (15 % of an idle coordinator's CPU, measured by
	// test/bench idle). One second keeps them as a backstop.
	rc.CommitTimeout = time.Second
	if n.cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	}
	if n.cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = n.cfg.SnapshotInterval
	}
	if n.cfg.TrailingLogs > 0 {
		rc.TrailingLogs = n.cfg.TrailingLogs
	}
	rc.NotifyCh = notify
	rc.Logger = newHCLog(n.log, "raft")
	return rc
}

// Ready is closed once raft is running (after Run opened the data directory).
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Run opens the data directory, bootstraps a fresh cluster from the node list
// (identical on every node; only on fresh state) or restarts from the log,
// serves peers' requests, and keeps the raft configuration aligned with the
// voter plan while leader. It blocks until ctx ends, then shuts raft down.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	n.mu.Lock()
	if n.closed || n.cancelRun != nil {
		n.mu.Unlock()
		cancel()
		return ErrClosed
	}
	n.cancelRun, n.runCtx = cancel, ctx
	n.mu.Unlock()
	defer close(n.runDone)
	defer cancel()

	clusterID, err := ClusterID(n.cfg.Key)
	if err != nil {
		return err
	}
	dir, err := storage.Open(storage.Options{
		Path:     n.cfg.DataDir,
		Identity: storage.Identity{Cluster: n.cfg.Cluster.Cluster.Name, Node: n.cfg.Node, ClusterID: clusterID},
		NoSync:   n.cfg.NoSync,
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.dir = dir
	n.mu.Unlock()
	defer dir.Close()

	if err := n.bootstrap(); err != nil {
		return err
	}
	if err := n.startRaft(); err != nil {
		return err
	}
	n.cfg.Link.Serve(n.handle)
	n.readyOnce.Do(func() { close(n.ready) })
	n.log.Info("consensus running", "data_dir", dir.Path(), "voters", n.Plan().Voters, "non_voters", n.Plan().NonVoters, "fence_to_win", n.Plan().FenceToWin)

	pushDone := make(chan struct{})
	go func() { defer close(pushDone); n.pushCommits(ctx) }()
	defer func() { <-pushDone }()

	tk := time.NewTicker(n.cfg.ReconcileInterval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			n.cfg.Link.Serve(nil)
			// Wait for a recovery in progress (PeerDown from another
			// goroutine) and keep later ones from restarting raft.
			n.recoverMu.Lock()
			n.stopping = true
			n.stopRaft()
			n.recoverMu.Unlock()
			return nil
		case <-tk.C:
			n.maintain(ctx)
		}
	}
}

// bootstrap writes the initial configuration on fresh state. A node that was
// wiped to rejoin (identity Joined) never bootstraps: it waits for the leader.
func (n *Node) bootstrap() error {
	has, err := n.dir.HasState()
	if err != nil {
		return err
	}
	if has || n.dir.Identity().Joined {
		return nil
	}
	conf := raft.Configuration{Servers: n.servers()}
	rc := n.raftConfig(nil)
	if err := raft.BootstrapCluster(rc, n.dir.LogStore(), n.dir.StableStore(), n.dir.SnapshotStore(), n.cfg.Link.Transport(), conf); err != nil {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	n.log.Info("bootstrapped a fresh raft cluster from the node list", "servers", len(conf.Servers))
	return n.dir.MarkBootstrapped()
}

func (n *Node) startRaft() error {
	notify := make(chan bool, 16)
	ct := newContactTransport(n.cfg.Link.Transport(), n.cfg.ContactFresh)
	r, err := raft.NewRaft(n.raftConfig(notify), fsm{n.cfg.State}, n.dir.LogStore(), n.dir.StableStore(), n.dir.SnapshotStore(), ct)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	stop := make(chan struct{})
	n.mu.Lock()
	n.r, n.stopR, n.ct = r, stop, ct
	n.mu.Unlock()
	go n.watchLeadership(r, notify, stop)
	return nil
}

// stopRaft shuts the current raft instance down (leader context cancelled first).
func (n *Node) stopRaft() {
	n.mu.Lock()
	r, stop := n.r, n.stopR
	n.r, n.stopR = nil, nil
	n.mu.Unlock()
	if r == nil {
		return
	}
	close(stop)
	n.endLeadership()
	if err := r.Shutdown().Error(); err != nil {
		n.log.Warn("raft shutdown", "err", err)
	}
}

func (n *Node) raft() *raft.Raft {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.r
}

func (n *Node) watchLeadership(r *raft.Raft, notify <-chan bool, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case leader := <-notify:
			if leader {
				n.leaderSeen.Store(true)
				n.beginLeadership(r)
			} else {
				n.unquiet(r) // a follower's timer reads the configured timeout again
				n.endLeadership()
			}
		}
	}
}

func (n *Node) beginLeadership(r *raft.Raft) {
	n.mu.Lock()
	if n.leadStop != nil {
		n.leadStop()
	}
	base := n.runCtx
	n.mu.Unlock()
	ctx, cancel := context.WithCancel(base)
	n.mu.Lock()
	n.leadStop = cancel
	n.mu.Unlock()
	n.log.Info("became raft leader")
	go func() {
		if err := r.Barrier(0).Error(); err != nil {
			n.log.Warn("leader barrier failed", "err", err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		n.reconcile(ctx)
		if n.cfg.OnLeader != nil {
			n.cfg.OnLeader(ctx)
		}
	}()
}

func (n *Node) endLeadership() {
	n.mu.Lock()
	stop := n.leadStop
	n.leadStop = nil
	n.mu.Unlock()
	if stop != nil {
		stop()
		n.log.Info("raft leadership ended")
	}
}

// IsLeader reports whether this node is the raft leader now.
func (n *Node) IsLeader() bool {
	r := n.raft()
	return r != nil && r.State() == raft.Leader
}

// Leader returns the current leader's node name ("" when unknown).
func (n *Node) Leader() string {
	r := n.raft()
	if r == nil {
		return ""
	}
	_, id := r.LeaderWithID()
	return string(id)
}

// Status reports this node's consensus state.
func (n *Node) Status() Status {
	st := Status{Node: n.cfg.Node, State: "Shutdown", Applied: n.cfg.State.Index()}
	r := n.raft()
	if r == nil {
		return st
	}
	st.State = r.State().String()
	_, id := r.LeaderWithID()
	st.Leader = string(id)
	st.Term, _ = strconv.ParseUint(r.Stats()["term"], 10, 64)
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				st.Voters = append(st.Voters, string(s.ID))
			} else {
				st.NonVoters = append(st.NonVoters, string(s.ID))
			}
		}
	}
	plan := n.Plan()
	st.Alone = plan.FenceToWin && len(plan.Voters) > 1 && len(st.Voters) == 1 && st.Voters[0] == n.cfg.Node
	return st
}

// Close stops Run (if running) and waits for it. Safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		cancel := n.cancelRun
		n.closed = true
		n.mu.Unlock()
		if cancel != nil {
			cancel()
			<-n.runDone
		}
	})
	return nil
}

// TransferLeadership hands leadership to another voter before a planned stop
// (SIGTERM, upgrade), so the cluster does not wait for an election timeout.
// It is a no-op on a follower. Call it before Close; a crash skips it and
// the followers elect a leader after their timeouts.
func (n *Node) TransferLeadership(ctx context.Context) error {
	r := n.raft()
	if r == nil || r.State() != raft.Leader {
		return nil
	}
	again := n.unquiet(r) // raft times a transfer with ElectionTimeout
	f := r.LeadershipTransfer()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			again()
			return fmt.Errorf("transfer leadership: %w", err)
		}
		n.log.Info("leadership transferred before stopping")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("transfer leadership: %w", ctx.Err())
	}
}

// Voters returns the names of the raft voters of the current plan.
func (n *Node) Voters() []string { return append([]string(nil), n.Plan().Voters...) }

// addressLocked returns the raft address of the configured node name
// (empty when it is not configured). Call with n.mu held.
func (n *Node) addressLocked(name string) raft.ServerAddress {
	for _, nd := range n.cluster.Nodes {
		if nd.Name == name {
			return n.cfg.Address(nd)
		}
	}
	return ""
}

// TransferLeadershipTo hands leadership to the voter name (the coordinator
// moves there). It is a no-op on a follower.
func (n *Node) TransferLeadershipTo(ctx context.Context, name string) error {
	r := n.raft()
	if r == nil || r.State() != raft.Leader {
		return nil
	}
	n.mu.Lock()
	addr := n.addressLocked(name)
	n.mu.Unlock()
	if addr == "" {
		return fmt.Errorf("transfer leadership to %s: not in the configuration", name)
	}
	again := n.unquiet(r) // raft times a transfer with ElectionTimeout
	f := r.LeadershipTransferToServer(raft.ServerID(name), addr)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			again()
			return fmt.Errorf("transfer leadership to %s: %w", name, err)
		}
		n.log.Info("leadership transferred", "to", name)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("transfer leadership to %s: %w", name, ctx.Err())
	}
}

// VerifyLeader returns nil once a quorum of voters confirmed that this node
// is still the leader (a heartbeat round), and an error otherwise. A leader
// that was paused (SIGSTOP, a stall) learns here that it was deposed.
func (n *Node) VerifyLeader(ctx context.Context) error {
	r := n.raft()
	if r == nil || r.State() != raft.Leader {
		return raft.ErrNotLeader
	}
	f := r.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
