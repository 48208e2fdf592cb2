package controller

// Node composes everything one cluster node runs for resources: the
// reconciler (engine/reconcile) under the node's lease (a lease.Holder), the
// Desired built from the replicated state, the Reporter over the log, and —
// while this node is the raft leader and its partition is quorate — the
// leader loop (engine/coord) with its coordinator and the lease sender.
//
// Wiring (package node, engine.go), given the consensus node `cn`, the state `st`,
// membership `mb` and the API server:
//
//	node, err := controller.NewNode(controller.NodeConfig{
//		Name:    name,
//		State:   st,
//		Log:     cn,                       // consensus.Node: Apply(ctx, state.Command) and Barrier(ctx)
//		Members: membersView{mb},          // Alive(node) from mb.Status().Members[i].Online,
//		                                   // Quorate() from mb.Quorum().Quorate
//		Term:    func() uint64 { return cn.Status().Term },
//		Renewer: wire,                     // *leasewire.Wire (UDP datagrams), or any lease.Renewer
//		Types:   agent.Builtin().Lookup,   // plus vip registered by cmd/haven
//		DataDir: filepath.Join(dataDir, "resources"),
//		Lease:   cluster.EffectiveTiming().Lease.D(),
//		NoQuorumDelay: cluster.EffectiveTiming().NoQuorumDelay.D(),
//		Clock:   clock.System{},
//		Logger:  log,
//		Fencer:  fencer,                   // optional coord.Fencer: Fence(ctx, node) error, nil only when confirmed off
//	})
//	consensus.Config.OnLeader = node.Lead      // blocks while leading; ctx ends with leadership
//	on every membership event:  node.MembershipChanged()
//	lease wire: wire.SetGrant(node.GrantLease); go wire.Run(ctx)   // lease.Renewal in, token out
//	status: node.Status() (leading, mode and why, lease, unclean nodes, this node's instances);
//	        also node.Instances(), node.Leading(), node.Unclean()
//	        (lost nodes not recovered yet: "unclean" in status); resources, states and
//	        fail counts come from st.View().Nodes[NODE].Resources[INSTANCE]
//	go node.Run(ctx)   // after cn is Ready; returns when ctx ends (resources keep running)
//	shutdown: cancel ctx, then node.Close() (safe twice), before closing cn.
//
// `haven resource cleanup` needs nothing more on the nodes: the applied
// resource.cleanup command is seen in the state's event log and handed to the
// reconciler (group and clone ids are expanded to their members there:
// reconcile.CleanupsSince). The state machine cannot expand a group id (it
// does not parse the configuration): the API should commit one cleanup per
// member primitive.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/coord"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/reconcile"
	"github.com/havenha/haven/engine/state"
)

// Log is the replicated log (consensus.Node implements it); the node and
// its coordinator share one.
type Log = coord.Log

// Membership is the gossip view (Alive, Quorate), shared with the
// coordinator.
type Membership = coord.Membership

// NodeConfig configures a Node.
type NodeConfig struct {
	// Name is this node's name in the configuration.
	Name string
	// State is the replicated state machine (applied by the log).
	State *state.State
	// Log commits commands.
	Log Log
	// Members is the membership and quorum view.
	Members Membership
	// Term returns the current raft term (stamped on lease renewals).
	Term func() uint64
	// Renewer sends lease renewals to other nodes (renewals to this node
	// are granted in-process).
	Renewer lease.Renewer
	// Types builds resource agents.
	Types model.TypeLookup
	// DataDir holds each instance's private folder.
	DataDir string
	// Lease is the resource lease length (timing.lease).
	Lease time.Duration
	// LeaseMargin is the coordinator's margin on top of lease × (1 + 5%)
	// before it recovers a lost node's resources: the time that node has to
	// stop them. Default model.LeaseMargin (lease/10, at least 20ms).
	LeaseMargin time.Duration
	// LeaseTakeover: see lease.TableConfig.Takeover (0: none).
	LeaseTakeover time.Duration
	// NoQuorumDelay is how long a node without quorum waits before applying
	// no_quorum_policy from its own view (timing.no_quorum_delay; the lease
	// usually acts first). Default model.EffectiveNoQuorumDelay: Lease.
	NoQuorumDelay time.Duration
	// Clock is the time source; Logger gets one line per decision.
	Clock  clock.Clock
	Logger *slog.Logger
	// LeaderInterval bounds the time between two schedulings (default 10s).
	LeaderInterval time.Duration
	// Resync is the reconciler's re-evaluation period (default 1s).
	Resync time.Duration
	// OnStopOverdue: see reconcile.Config (arm a watchdog with it).
	OnStopOverdue func(instances []string)
	// VerifyLeader, when not nil, confirms with a quorum that this node
	// still leads (raft VerifyLeader). The coordinator grants its own lease
	// only after such a confirmation started at most lease/8 earlier: a
	// coordinator resumed after a freeze (SIGSTOP, a stall) must not renew
	// itself in a term that ended meanwhile, while the new coordinator
	// recovers its resources elsewhere.
	VerifyLeader func(ctx context.Context) error
	// QuietHeartbeats, when not nil, is called as the lease rounds start
	// with the interval between them: the coordinator confirms its
	// leadership (VerifyLeader) once per round for its own lease, so raft
	// may rely on those confirmations instead of its own, much more
	// frequent, heartbeat timers while ctx lives (consensus.Node's
	// QuietHeartbeats; an error leaves raft at its own pace, and is logged
	// once).
	QuietHeartbeats func(ctx context.Context, every time.Duration) error
	// OnLease, when not nil, arms a watchdog with the instant this node's
	// resources must be stopped by: called (it must not block) with the
	// lease's new deadline each time the lease is extended, and with the
	// zero time when a lapse must not stop them (no_quorum_policy freeze or
	// ignore, maintenance: disarm). The guard tears down what the resources
	// hold if that instant passes without a newer one: a frozen agent
	// (SIGSTOP, a stall) cannot stop them itself.
	OnLease func(deadline time.Time)
	// Handoff, when not nil, moves the coordinator role off this node while
	// it runs resources and a live voter runs none (the plan's handoff action).
	Handoff coord.Handoff
	// StopDeadline: see reconcile.Config. Default model.StopDeadline: the
	// time between a lost node's own lapse and the instant the coordinator
	// may recover its resources (lease × drift + margin), so the watchdog
	// acts before any other node can start them.
	StopDeadline time.Duration
	// Fencer, when not nil and stonith is on, fences lost nodes (and nodes
	// with a failed stop) before their resources are recovered; without it
	// a lost node's resources are recovered once its lease has certainly
	// lapsed.
	Fencer coord.Fencer
}

// Validate names every problem in c.
func (c NodeConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("node: Name is empty; expected this node's name"))
	}
	if c.State == nil {
		errs = append(errs, errors.New("node: State is nil; expected the replicated state machine"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("node: Log is nil; expected the consensus node (Apply, Barrier)"))
	}
	if c.Members == nil {
		errs = append(errs, errors.New("node: Members is nil; expected the membership view (Alive, Quorate)"))
	}
	if c.Term == nil {
		errs = append(errs, errors.New("node: Term is nil; expected a func returning the raft term"))
	}
	if c.Renewer == nil {
		errs = append(errs, errors.New("node: Renewer is nil; expected the lease transport (e.g. a leasewire.Wire)"))
	}
	if c.Lease <= 0 {
		errs = append(errs, fmt.Errorf("node: Lease %s is not positive; expected timing.lease", c.Lease))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("node: Clock is nil; expected clock.System{} or a clock.Fake"))
	}
	return errors.Join(errs...)
}

// Node is one cluster node's resource engine. See the comment at the top of
// node.go for the wiring.
type Node struct {
	cfg    NodeConfig
	log    *slog.Logger
	rec    *reconcile.Reconciler
	holder *lease.Holder
	table  *lease.Table
	co     *coord.StateCoordinator

	memMu sync.Mutex
	memCh chan struct{} // closed and replaced on every membership change

	leadMu  sync.Mutex
	leader  *coord.LeaderLoop
	leading bool

	attrMu sync.Mutex
	attrs  map[string]string
	attrCh chan struct{}

	verifyMu   sync.Mutex
	verifiedAt time.Time // start of the last leadership confirmation (verifySelf)
	// quietRefused: QuietHeartbeats was refused once already (logged once).
	quietRefused bool

	// leaseMu guards leaseEnforce and leaseDeadline (OnLease bookkeeping).
	leaseMu       sync.Mutex
	leaseEnforce  bool
	leaseDeadline time.Time

	closeOnce sync.Once
	closeCh   chan struct{}
	// stopping: a graceful shutdown asked to stop every local resource
	// (StopResources); Desired is stop-all from then on.
	stopping atomic.Bool
}

// NewNode checks cfg and builds the parts; no I/O, no goroutines.
func NewNode(cfg NodeConfig) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.NoQuorumDelay = model.EffectiveNoQuorumDelay(cfg.NoQuorumDelay, cfg.Lease)
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Name), memCh: make(chan struct{}),
		attrs: map[string]string{}, attrCh: make(chan struct{}, 1), closeCh: make(chan struct{})}
	var err error
	if n.holder, err = lease.NewHolder(cfg.Lease, cfg.Clock, nil); err != nil {
		return nil, err
	}
	if cfg.OnLease != nil {
		n.holder.OnExtend(func(dl time.Time) {
			n.leaseMu.Lock()
			defer n.leaseMu.Unlock()
			n.leaseDeadline = dl
			if n.leaseEnforce {
				cfg.OnLease(dl)
			}
		})
	}
	tc := lease.DefaultTableConfig(cfg.Lease)
	if cfg.LeaseMargin > 0 {
		tc.Margin = cfg.LeaseMargin
	}
	tc.Takeover = max(cfg.LeaseTakeover, 0)
	if n.table, err = lease.NewTable(tc); err != nil {
		return nil, err
	}
	n.co, err = coord.New(coord.Config{Name: cfg.Name, State: cfg.State, Log: cfg.Log, Members: cfg.Members,
		Leases: n.table, Clock: cfg.Clock, Logger: cfg.Logger, Fencer: cfg.Fencer, Handoff: cfg.Handoff, Trigger: n.trigger})
	if err != nil {
		return nil, err
	}
	stopDeadline := cfg.StopDeadline
	if stopDeadline <= 0 {
		stopDeadline = model.StopDeadline(tc.Lease, tc.Margin)
	}
	n.rec, err = reconcile.New(reconcile.Config{
		Node: cfg.Name, Types: cfg.Types, DataDir: cfg.DataDir, Logger: cfg.Logger, Clock: cfg.Clock,
		Reporter: reconcile.ReporterFunc(n.report), Lease: n.holder, Resync: cfg.Resync,
		SetAttribute: n.setAttribute, OnStopOverdue: cfg.OnStopOverdue, AnnounceStarts: true,
		StopDeadline: stopDeadline,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Reconciler returns the node's reconciler (for status).
func (n *Node) Reconciler() *reconcile.Reconciler { return n.rec }

// Instances returns this node's instances as the reconciler sees them.
func (n *Node) Instances() []reconcile.InstanceStatus { return n.rec.Status() }

// NodeStatus is a snapshot of a Node for the API and `haven status`.
type NodeStatus struct {
	Node string `json:"node"`
	// Leading: the leader loop runs here (raft leader and quorate).
	Leading bool `json:"leading"`
	// Mode is the reconciler's effective mode and why.
	Mode    string `json:"mode"`
	ModeWhy string `json:"mode_why,omitempty"`
	// Lease: whether this node's resource lease holds now, and until when.
	LeaseValid bool      `json:"lease_valid"`
	LeaseUntil time.Time `json:"lease_until,omitempty"`
	// Unclean lists lost nodes whose resources are not recovered yet
	// (coordinator only).
	Unclean []string `json:"unclean,omitempty"`
	// LeaseLost lists nodes gossip sees that the coordinator treats as
	// lost because their lease certainly lapsed (coordinator only).
	LeaseLost []string `json:"lease_lost,omitempty"`
	// Instances are this node's instances as the reconciler sees them.
	Instances []reconcile.InstanceStatus `json:"instances"`
}

// Status returns a snapshot of this node's engine.
func (n *Node) Status() NodeStatus {
	m, why := n.rec.Mode()
	st := NodeStatus{Node: n.cfg.Name, Leading: n.Leading(), Mode: m.String(), ModeWhy: why,
		LeaseValid: n.holder.Valid(n.cfg.Clock.Now()), Unclean: n.Unclean(), LeaseLost: n.LeaseLost(), Instances: n.rec.Status()}
	if dl, ok := n.holder.Deadline(); ok {
		st.LeaseUntil = dl
	}
	return st
}

// LeaseHolder returns this node's lease.
func (n *Node) LeaseHolder() *lease.Holder { return n.holder }

// LeaseTable returns the coordinator's lease table (meaningful while leading).
func (n *Node) LeaseTable() *lease.Table { return n.table }

// Leading reports whether the leader loop runs here now.
func (n *Node) Leading() bool {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	return n.leading
}

// GrantLease handles a lease renewal received from the coordinator and
// returns the token for its ack (the API's lease endpoint calls it).
func (n *Node) GrantLease(r lease.Renewal) (uint64, error) { return n.holder.Grant(r) }

// MembershipChanged tells the node that liveness or quorum changed. Never blocks.
func (n *Node) MembershipChanged() {
	n.memMu.Lock()
	close(n.memCh)
	n.memCh = make(chan struct{})
	n.memMu.Unlock()
	n.trigger()
}

func (n *Node) memWatch() <-chan struct{} {
	n.memMu.Lock()
	defer n.memMu.Unlock()
	return n.memCh
}

func (n *Node) trigger() {
	n.leadMu.Lock()
	l := n.leader
	n.leadMu.Unlock()
	if l != nil {
		l.Trigger()
	}
}

// Close stops Run and Lead. Safe twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.closeCh) })
	_ = n.holder.Close()
	return n.rec.Close()
}

// Unclean returns the lost nodes whose resources the coordinator does not
// recover yet because their lease may still hold (for `haven status`'s
// "unclean" node state; empty when this node does not coordinate).
func (n *Node) Unclean() []string {
	if !n.Leading() {
		return nil
	}
	return n.co.Unclean()
}

// LeaseLost returns the nodes gossip sees that this coordinator treats as
// lost because their lease certainly lapsed ("no-lease"; empty when this
// node does not coordinate).
func (n *Node) LeaseLost() []string {
	if !n.Leading() {
		return nil
	}
	return n.co.LeaseLost()
}
