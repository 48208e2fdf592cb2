package controller

// Node composes everything one cluster node runs for resources: the
// reconciler (under a lease), the Desired builder over the replicated state,
// the Reporter over the log, and — while this node is the raft leader and
// its partition is quorate — the leader loop with its coordinator and lease
// sender.
//
// Wiring (cmd/haven/run.go), given the consensus node `cn`, the state `st`,
// membership `mb` and the API server:
//
//	node, err := controller.NewNode(controller.NodeConfig{
//		Name:    name,
//		State:   st,
//		Log:     cn,                       // consensus.Node: Apply(ctx, state.Command) and Barrier(ctx)
//		Members: membersView{mb},          // Alive(node) from mb.Status().Members[i].Online,
//		                                   // Quorate() from mb.Quorum().Quorate
//		Term:    func() uint64 { return cn.Status().Term },
//		Renewer: wire,                     // *controller.LeaseWire (UDP datagrams), or any Renewer
//		Types:   agent.Builtin().Lookup,   // plus vip/iscsi types registered by run.go
//		DataDir: filepath.Join(dataDir, "resources"),
//		Lease:   cluster.EffectiveTiming().Lease.D(),
//		NoQuorumDelay: cluster.EffectiveTiming().NoQuorumDelay.D(),
//		Clock:   controller.SystemClock{},
//		Logger:  log,
//		Fencer:  fencer,                   // optional: Fence(ctx, node) error, nil only when confirmed off
//	})
//	consensus.Config.OnLeader = node.Lead      // blocks while leading; ctx ends with leadership
//	on every membership event:  node.MembershipChanged()
//	lease wire: wire.SetGrant(node.GrantLease); go wire.Run(ctx)   // Renewal in, token out
//	status: node.Status() (leading, mode and why, lease, unclean nodes, this node's instances);
//	        also node.Instances(), node.Leading(), node.Unclean()
//	        (lost nodes not recovered yet: "unclean" in status); resources, states and
//	        fail counts come from st.View().Nodes[NODE].Resources[INSTANCE]
//	go node.Run(ctx)   // after cn is Ready; returns when ctx ends (resources keep running)
//	shutdown: cancel ctx, then node.Close() (safe twice), before closing cn.
//
// `haven resource cleanup` needs nothing more on the nodes: the applied
// resource.cleanup command is seen in the state's event log and handed to the
// reconciler (group and clone ids are expanded to their members there). The
// state machine cannot expand a group id (it does not parse the
// configuration): the API should commit one cleanup per member primitive.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// Log is the replicated log as a Node uses it (consensus.Node implements
// it): Apply commits a command through the leader and returns its result
// (Result.Index is the log index); Barrier returns once this node applied
// everything committed before the call.
type Log interface {
	Apply(ctx context.Context, c state.Command) (state.Result, error)
	Barrier(ctx context.Context) error
}

// Membership is the gossip view a Node needs. Safe for concurrent use.
type Membership interface {
	// Alive reports whether node is a live member of this partition.
	Alive(node string) bool
	// Quorate reports whether this partition has weighted quorum.
	Quorate() bool
}

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
	Renewer Renewer
	// Types builds resource agents.
	Types model.TypeLookup
	// DataDir holds each instance's private folder.
	DataDir string
	// Lease is the resource lease length (timing.lease).
	Lease time.Duration
	// LeaseMargin is the coordinator's margin on top of lease × (1 + 5%)
	// before it recovers a lost node's resources: the time that node has to
	// stop them. Default lease/10 (at least 20ms).
	LeaseMargin time.Duration
	// LeaseTakeover: see LeaseTableConfig.Takeover (0: none).
	LeaseTakeover time.Duration
	// NoQuorumDelay is how long a node without quorum waits before applying
	// no_quorum_policy from its own view (timing.no_quorum_delay; the lease
	// usually acts first). Default: Lease.
	NoQuorumDelay time.Duration
	// Clock is the time source; Logger gets one line per decision.
	Clock  Clock
	Logger *slog.Logger
	// LeaderInterval bounds the time between two schedulings (default 10s).
	LeaderInterval time.Duration
	// Resync is the reconciler's re-evaluation period (default 1s).
	Resync time.Duration
	// OnStopOverdue: see ReconcilerConfig (arm a watchdog with it).
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
	// it runs resources and a live voter runs none (see HandoffTarget).
	Handoff Handoff
	// StopDeadline: see ReconcilerConfig. Default: the time between a lost
	// node's own lapse and the instant the coordinator may recover its
	// resources (lease × drift + margin), so the watchdog acts before any
	// other node can start them.
	StopDeadline time.Duration
	// Fencer, when not nil and stonith is on, fences lost nodes (and nodes
	// with a failed stop) before their resources are recovered; without it
	// a lost node's resources are recovered once its lease has certainly
	// lapsed.
	Fencer Fencer
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
		errs = append(errs, errors.New("node: Renewer is nil; expected the lease transport (e.g. a LeaseWire)"))
	}
	if c.Lease <= 0 {
		errs = append(errs, fmt.Errorf("node: Lease %s is not positive; expected timing.lease", c.Lease))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("node: Clock is nil; expected SystemClock{} or a FakeClock"))
	}
	return errors.Join(errs...)
}

// Node is one cluster node's resource engine. See the comment at the top of
// node.go for the wiring.
type Node struct {
	cfg    NodeConfig
	log    *slog.Logger
	rec    *Reconciler
	holder *LeaseHolder
	table  *LeaseTable

	memMu sync.Mutex
	memCh chan struct{} // closed and replaced on every membership change

	leadMu  sync.Mutex
	leader  *LeaderLoop
	leading bool

	attrMu    sync.Mutex
	attrs     map[string]string
	attrCh    chan struct{}
	unclean   map[string]bool // under leadMu: lost nodes logged as unclean
	leaseLost map[string]bool // under leadMu: live nodes logged as lost on their lease

	fenceMu   sync.Mutex
	fencing   map[string]bool      // attempts in flight
	fenceNext map[string]time.Time // no new attempt before (after a failure)
	warned    map[string]bool

	verifyMu   sync.Mutex
	verifiedAt time.Time // start of the last leadership confirmation (verifySelf)
	// quietRefused: QuietHeartbeats was refused once already (logged once).
	quietRefused bool

	// leaseMu guards leaseEnforce and leaseDeadline (OnLease bookkeeping).
	leaseMu       sync.Mutex
	leaseEnforce  bool
	leaseDeadline time.Time

	handoffMu   sync.Mutex
	handoffAt   time.Time // last handoff attempt
	handoffBusy bool

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
	if cfg.NoQuorumDelay <= 0 {
		cfg.NoQuorumDelay = cfg.Lease
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Name), memCh: make(chan struct{}),
		attrs: map[string]string{}, attrCh: make(chan struct{}, 1), unclean: map[string]bool{},
		closeCh: make(chan struct{}), fencing: map[string]bool{}, fenceNext: map[string]time.Time{}, warned: map[string]bool{}}
	var err error
	if n.holder, err = NewLeaseHolder(cfg.Lease, cfg.Clock, nil); err != nil {
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
	tc := DefaultLeaseTableConfig(cfg.Lease)
	if cfg.LeaseMargin > 0 {
		tc.Margin = cfg.LeaseMargin
	}
	tc.Takeover = max(cfg.LeaseTakeover, 0)
	if n.table, err = NewLeaseTable(tc); err != nil {
		return nil, err
	}
	stopDeadline := cfg.StopDeadline
	if stopDeadline <= 0 {
		stopDeadline = max(tc.Bound()-tc.Lease, 20*time.Millisecond)
	}
	n.rec, err = NewReconciler(ReconcilerConfig{
		Node: cfg.Name, Types: cfg.Types, DataDir: cfg.DataDir, Logger: cfg.Logger, Clock: cfg.Clock,
		Reporter: ReporterFunc(n.report), Lease: n.holder, Resync: cfg.Resync,
		SetAttribute: n.setAttribute, OnStopOverdue: cfg.OnStopOverdue, AnnounceStarts: true,
		StopDeadline: stopDeadline,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Reconciler returns the node's reconciler (for status).
func (n *Node) Reconciler() *Reconciler { return n.rec }

// Instances returns this node's instances as the reconciler sees them.
func (n *Node) Instances() []InstanceStatus { return n.rec.Status() }

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
	Instances []InstanceStatus `json:"instances"`
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
func (n *Node) LeaseHolder() *LeaseHolder { return n.holder }

// LeaseTable returns the coordinator's lease table (meaningful while leading).
func (n *Node) LeaseTable() *LeaseTable { return n.table }

// Leading reports whether the leader loop runs here now.
func (n *Node) Leading() bool {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	return n.leading
}

// GrantLease handles a lease renewal received from the coordinator and
// returns the token for its ack (the API's lease endpoint calls it).
func (n *Node) GrantLease(r Renewal) (uint64, error) { return n.holder.Grant(r) }

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

// enforceLease arms (with the current deadline) or disarms OnLease's
// watchdog when whether a lapse stops this node's resources changes.
func (n *Node) enforceLease(on bool) {
	if n.cfg.OnLease == nil {
		return
	}
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	if on == n.leaseEnforce {
		return
	}
	n.leaseEnforce = on
	switch {
	case !on:
		n.cfg.OnLease(time.Time{})
	case n.leaseDeadline.After(n.cfg.Clock.Now()):
		// A deadline already past is not armed: the lease lapsed and the
		// reconciler stops the resources itself; arming it would make the
		// guard kill them at once.
		n.cfg.OnLease(n.leaseDeadline)
	}
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

// Close stops Run and Lead. Safe twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.closeCh) })
	_ = n.holder.Close()
	return n.rec.Close()
}

// apply commits one command.
func (n *Node) apply(ctx context.Context, typ string, at time.Time, body any) error {
	_, err := n.applyIndex(ctx, typ, at, body)
	return err
}

func (n *Node) applyIndex(ctx context.Context, typ string, at time.Time, body any) (uint64, error) {
	c, err := state.NewCommand(typ, at, n.cfg.Name, body)
	if err != nil {
		return 0, err
	}
	res, err := n.cfg.Log.Apply(ctx, c)
	if err != nil {
		return 0, err
	}
	return res.Index, res.Err()
}

// report is the reconciler's Reporter: an observed.report command whose
// failure ID is the observation's ID (a retried report counts once).
func (n *Node) report(ctx context.Context, o Observation) (uint64, error) {
	r := state.Report{Node: o.Node, Resource: o.Instance, State: string(o.State), Reason: o.Reason, Seen: o.Index}
	if o.State == StateFailed {
		if o.OnFail == OnFailIgnore {
			// It still runs; the failure changes nothing (on_fail ignore).
			r.State, r.Reason = state.Started, "monitor failure ignored (on_fail ignore): "+o.Reason
		} else {
			r.Failure = &state.Failure{ID: o.ID, Op: o.Op, Reason: o.Reason, Fatal: o.Op == OpStart, OnFail: o.OnFail}
		}
	}
	c, err := state.NewCommand(state.CmdReport, n.cfg.Clock.Now(), n.cfg.Name, r)
	if err != nil {
		return 0, err
	}
	res, err := n.cfg.Log.Apply(ctx, c)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("report %s %s on %s: %w", o.Instance, o.State, o.Node, err)
	}
	var out state.ReportOutcome
	if len(res.Value) > 0 && json.Unmarshal(res.Value, &out) == nil && out.FailureIgnored {
		// A stale failure the state did not count: no placement will be
		// computed from it, so the reconciler must not wait for one (0).
		return 0, nil
	}
	return res.Index, nil
}

// setAttribute records a node attribute set by an agent (ping's pingd);
// a goroutine of Run commits it. Never blocks.
func (n *Node) setAttribute(name, value string) {
	n.attrMu.Lock()
	n.attrs[name] = value
	n.attrMu.Unlock()
	select {
	case n.attrCh <- struct{}{}:
	default:
	}
}

// pushAttributes commits changed attributes until ctx ends.
func (n *Node) pushAttributes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.attrCh:
		}
		for {
			n.attrMu.Lock()
			want := map[string]string{}
			for k, v := range n.attrs {
				want[k] = v
			}
			n.attrMu.Unlock()
			set := map[string]string{}
			if ns := n.cfg.State.View().Nodes[n.cfg.Name]; ns != nil {
				for k, v := range want {
					if ns.Attributes[k] != v {
						set[k] = v
					}
				}
			} else {
				set = want
			}
			if len(set) == 0 {
				break
			}
			err := n.apply(ctx, state.CmdNodeAttrs, n.cfg.Clock.Now(), state.NodeAttrs{Node: n.cfg.Name, Set: set})
			if err == nil {
				n.log.Info("node attributes recorded", "set", set)
				break
			}
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("node attributes not recorded; retrying", "err", err)
			t := n.cfg.Clock.NewTimer(500 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}
}

// Run drives the reconciler from the replicated state until ctx ends or
// Close; it returns after the reconciler has (resources keep running).
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-n.closeCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	errCh := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); errCh <- n.rec.Run(ctx) }()
	go func() { defer wg.Done(); n.pushAttributes(ctx) }()

	lastEvent := n.cfg.State.View().EventSeq // cleanups before this run concern no local state
	var noQuorumSince time.Time
	var wake Timer
	for {
		_, stateCh := n.cfg.State.Watch()
		memCh := n.memWatch()
		v := n.cfg.State.View()
		c, _, perr := n.cfg.State.Cluster()
		now := n.cfg.Clock.Now()
		quorate := n.cfg.Members.Quorate()
		var noQuorumFor time.Duration
		if quorate {
			noQuorumSince = time.Time{}
		} else {
			if noQuorumSince.IsZero() {
				noQuorumSince = now
			}
			noQuorumFor = now.Sub(noQuorumSince)
		}
		if wake != nil {
			wake.Stop()
			wake = nil
		}
		var wakeC <-chan time.Time
		if !quorate && noQuorumFor < n.cfg.NoQuorumDelay {
			wake = n.cfg.Clock.NewTimer(n.cfg.NoQuorumDelay - noQuorumFor)
			wakeC = wake.C()
		}
		if c != nil && perr != nil {
			n.log.Error("committed configuration does not parse; keeping the previous desired state", "err", perr)
		} else {
			d := BuildDesired(DesiredInput{Node: n.cfg.Name, View: v, Cluster: c, Quorate: quorate,
				NoQuorumFor: noQuorumFor, NoQuorumDelay: n.cfg.NoQuorumDelay})
			if n.stopping.Load() {
				d.Mode = ModeStopAll
			}
			n.rec.Set(d)
			n.enforceLease(c != nil && d.Mode != ModeMaintenance && d.NoQuorumPolicy != model.NoQuorumFreeze && d.NoQuorumPolicy != model.NoQuorumIgnore)
			lastEvent = n.cleanups(v, c, d, lastEvent)
		}
		n.trigger()
		select {
		case <-ctx.Done():
			if wake != nil {
				wake.Stop()
			}
			cancel()
			return <-errCh
		case <-stateCh:
		case <-memCh:
		case <-wakeC:
		}
	}
}

// cleanups hands every resource.cleanup applied since seq to the reconciler:
// the instances of the named primitive, or of every member of the named
// group or clone.
func (n *Node) cleanups(v state.Data, c *model.Cluster, d Desired, seq uint64) uint64 {
	for _, e := range v.Events {
		if e.Seq <= seq {
			continue
		}
		seq = e.Seq
		if e.Type != state.EventCleanup || (e.Node != "" && e.Node != n.cfg.Name) {
			continue
		}
		prims := map[string]bool{e.Resource: true}
		if c != nil {
			id := e.Resource
			if cl, ok := c.Clone(id); ok {
				id = cl.Resource
				prims[id] = true
			}
			if g, ok := c.Group(id); ok {
				for _, m := range g.Resources {
					prims[m] = true
				}
			}
		}
		found := false
		for _, list := range [][]Instance{d.Instances, d.Others} {
			for _, in := range list {
				if p, _ := split(in.ID); prims[in.ID] || prims[p] {
					n.log.Info("cleanup applied in the cluster: clearing local failure state", "instance", in.ID, "cleanup", e.Resource)
					n.rec.Cleanup(in.ID)
					found = true
				}
			}
		}
		if !found {
			n.rec.Cleanup(e.Resource)
		}
	}
	if len(v.Events) > 0 && v.Events[len(v.Events)-1].Seq > seq {
		seq = v.Events[len(v.Events)-1].Seq
	}
	return seq
}

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
	sender, err := NewLeaseSender(LeaseSenderConfig{
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
	loop, err := NewLeaderLoop(LeaderConfig{Coordinator: coordinator{n}, Clock: n.cfg.Clock, Logger: n.log,
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
		n.leaseLost = nil // the next term's table starts afresh
		n.leadMu.Unlock()
	}()
	go func() {
		// Watch quorum: losing it ends the loop (and the renewals) at once.
		// Membership events (MembershipChanged) and state changes (a new
		// configuration may change votes or no_quorum_policy) wake it; the
		// timer, quorumBackstop leases, only guards against a change that
		// came without either. (It was one lease until the eighth session:
		// a wake-up a second on an idle coordinator, whose wake-ups are its
		// CPU.)
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
func (n *Node) liveMembers() []string {
	c, _, _ := n.cfg.State.Cluster()
	out := []string{n.cfg.Name}
	if c == nil {
		return out
	}
	for _, nd := range c.Nodes {
		if nd.Name != n.cfg.Name && !nd.IsWitness() && n.cfg.Members.Alive(nd.Name) {
			out = append(out, nd.Name)
		}
	}
	sort.Strings(out)
	return out
}

// selfRenewer grants this node's own lease in-process.
type selfRenewer struct{ n *Node }

func (s selfRenewer) Renew(ctx context.Context, node string, r Renewal) (uint64, error) {
	if node == s.n.cfg.Name {
		if err := s.n.verifySelf(ctx); err != nil {
			return 0, fmt.Errorf("own lease not renewed: leadership not confirmed: %w", err)
		}
		return s.n.GrantLease(r)
	}
	return s.n.cfg.Renewer.Renew(ctx, node, r)
}

// verifySelf confirms leadership with a quorum (NodeConfig.VerifyLeader)
// unless a confirmation started within the last lease/16: once per round
// of lease/8 (the confirmations pace raft's heartbeats, QuietHeartbeats),
// not twice for a first contact's immediate echo.
func (n *Node) verifySelf(ctx context.Context) error {
	if n.cfg.VerifyLeader == nil {
		return nil
	}
	n.verifyMu.Lock()
	defer n.verifyMu.Unlock()
	now := n.cfg.Clock.Now()
	if !n.verifiedAt.IsZero() && now.Sub(n.verifiedAt) < n.cfg.Lease/16 && !now.Before(n.verifiedAt) {
		return nil
	}
	if err := n.cfg.VerifyLeader(ctx); err != nil {
		n.verifiedAt = time.Time{}
		return err
	}
	n.verifiedAt = now // the start of the confirmation: conservative
	return nil
}

// Unclean returns the lost nodes whose resources the coordinator does not
// recover yet because their lease may still hold (for `haven status`'s
// "unclean" node state; empty when this node does not coordinate).
func (n *Node) Unclean() []string { return n.leadingSet(&n.unclean) }

// LeaseLost returns the nodes gossip sees that this coordinator treats as
// lost because their lease certainly lapsed ("no-lease"; empty when this
// node does not coordinate).
func (n *Node) LeaseLost() []string { return n.leadingSet(&n.leaseLost) }

func (n *Node) leadingSet(set *map[string]bool) []string {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	if !n.leading {
		return nil
	}
	return sortedKeys(*set)
}

// noteUnclean logs each lost node once when it becomes unclean.
func (n *Node) noteUnclean(nodes []string) {
	n.noteSet(&n.unclean, nodes, func(u string) {
		n.log.Warn("node lost while its lease may hold: its resources are not recovered until the lease has certainly lapsed", "lost", u)
	}, nil)
}

// noteLeaseLost logs once each node gossip sees alive that the coordinator
// treats as lost because its lease certainly lapsed, and its return.
func (n *Node) noteLeaseLost(nodes []string) {
	n.noteSet(&n.leaseLost, nodes, func(u string) {
		n.log.Warn("node acked no lease renewal for a whole bound: treated as lost although gossip sees it (is UDP on its api_port blocked, or is it frozen?)", "peer", u)
	}, func(u string) {
		n.log.Info("node acks lease renewals again: no longer treated as lost", "peer", u)
	})
}

// noteSet replaces *set with nodes (under leadMu), calling added for each
// node new to it and, when not nil, gone for each node no longer in it.
func (n *Node) noteSet(set *map[string]bool, nodes []string, added, gone func(string)) {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	now := map[string]bool{}
	for _, u := range nodes {
		now[u] = true
		if !(*set)[u] {
			added(u)
		}
	}
	if gone != nil {
		for _, u := range sortedKeys(*set) {
			if !now[u] {
				gone(u)
			}
		}
	}
	*set = now
}
