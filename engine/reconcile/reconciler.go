package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
)

// DefaultOpTimeout is the timeout of an operation when neither the resource
// nor its type gives one.
const DefaultOpTimeout = 20 * time.Second

// Config configures one node's reconciler.
type Config struct {
	// Node is this node's name.
	Node string
	// Types builds agents for resource types.
	Types model.TypeLookup
	// DataDir is the parent of every instance's private folder
	// (DataDir/<instance id>), created when the instance's agent is built.
	DataDir string
	// Logger gets one line per decision; nil discards.
	Logger *slog.Logger
	// Clock is the time source (clock.System{} in production).
	Clock clock.Clock
	// Reporter records observations in the cluster.
	Reporter Reporter
	// Lease, when not nil, gates running resources on a valid lease (see
	// lease.Holder); nil means leases are not enforced.
	Lease *lease.Holder
	// NoQuorumPolicy is stop (default), freeze or ignore: what a lapsed lease
	// does. Desired.NoQuorumPolicy overrides it when set.
	NoQuorumPolicy string
	// Resync is how often waiting starts are re-evaluated when nothing else
	// happens (an order's `first` may be observed started without a new
	// Desired). Default 1s.
	Resync time.Duration
	// ReportRetry is the longest pause before a failed report is retried:
	// retries start after 20ms and double up to it. Default 500ms.
	ReportRetry time.Duration
	// SetAttribute is passed to agents (AgentEnv.SetAttribute); may be nil.
	SetAttribute func(name, value string)
	// OnStopOverdue, when not nil, is called once (from the reconciler's
	// goroutine; it must not block) when a stop-all caused by a lapsed lease
	// has not stopped everything within StopDeadline, with the instances
	// that may still run (stopping, or blocked after a failed stop). The
	// adapter arms a watchdog with it: the node resets itself rather than
	// run a resource the coordinator is about to recover elsewhere.
	OnStopOverdue func(instances []string)
	// AnnounceStarts records every start in the log ("starting", committed)
	// before it runs, and runs it only from a Desired at or past that record
	// that still places the instance here. A cluster node needs it (see
	// startIntent); the adapter must then push a Desired for every applied
	// index. Off, starts run at once and "starting" is reported meanwhile.
	AnnounceStarts bool
	// StopDeadline is the time allowed to stop everything after a lease
	// lapses before OnStopOverdue is called. Default: the lease.
	StopDeadline time.Duration
}

// Validate names every problem in c.
func (c Config) Validate() error {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("reconciler: Node is empty; expected this node's name"))
	}
	if c.Types == nil {
		errs = append(errs, errors.New("reconciler: Types is nil; expected a model.TypeLookup such as the agent registry's"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("reconciler: DataDir is empty; expected the node's data directory for resource files"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("reconciler: Clock is nil; expected clock.System{} or a clock.Fake"))
	}
	if c.Reporter == nil {
		errs = append(errs, errors.New("reconciler: Reporter is nil; expected the adapter that records observations through the leader"))
	}
	switch c.NoQuorumPolicy {
	case "", model.NoQuorumStop, model.NoQuorumFreeze, model.NoQuorumIgnore:
	default:
		errs = append(errs, fmt.Errorf("reconciler: no_quorum_policy %q is unknown; expected stop, freeze or ignore", c.NoQuorumPolicy))
	}
	if c.Resync < 0 || c.ReportRetry < 0 {
		errs = append(errs, errors.New("reconciler: Resync and ReportRetry must not be negative; expected 0 (default) or more"))
	}
	return errors.Join(errs...)
}

// Reconciler converges this node's resource instances to the Desired value
// it was last given. See the package comment and docs/operations.md.
type Reconciler struct {
	cfg Config
	log *slog.Logger

	setMu    sync.Mutex
	pending  *Desired
	setCh    chan struct{}
	cleanups map[string]bool

	runMu   sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc

	statusMu sync.Mutex
	status   []InstanceStatus

	queue *reportQueue

	// Owned by the Run goroutine.
	desired    Desired
	insts      map[string]*inst
	opDone     chan opResult
	recordedCh chan recorded
	inflight   int
	seqOps     int // starts and stops in flight
	mode       Mode
	modeWhy    string
	// lapsedAt is when the current stop-all caused by the lease began
	// (zero otherwise); overdueSent whether OnStopOverdue was called for it.
	lapsedAt    time.Time
	overdueSent bool
	startedAt   time.Time
	opsCtx      context.Context
}

// inst is the reconciler's record of one instance on this node.
type inst struct {
	id       string
	res      model.Resource
	after    []string
	orderKey int
	wanted   bool // listed in Desired.Instances
	known    bool // listed in Desired.Instances or Desired.Others

	typ     model.AgentType
	agent   model.Agent
	rebuild bool // the definition changed: build a new agent once stopped
	state   State
	probed  bool // state is known (probe done)
	running bool // believed active here (started, or failed and not yet stopped)
	busy    string
	// cancelOp cancels the operation in flight; abandoned marks a monitor
	// cancelled because stop-all began (its result is ignored).
	cancelOp  func()
	abandoned bool
	nextMon   time.Time
	ignoring  bool // a monitor failure is being ignored (on_fail ignore)

	needsStop  bool   // stop it whatever Desired says (failure, definition change)
	stopWhy    string // why needsStop
	awaitSeq   uint64 // a failure report not yet recorded: start nothing
	awaitIndex uint64 // start only once the placement's base index >= awaitIndex
	hold       bool   // on_fail stop/standby/fence: not again until Desired drops it or cleanup
	// A start is announced before it runs: intentSeq is the queued
	// "starting" report not yet recorded, intentIndex the log index it was
	// recorded at. The start runs only from a Desired at or past that index
	// that still places the instance here (see startIntent).
	intentSeq   uint64
	intentIndex uint64
	blocked     bool
	blockWhy    string
	unmanaged   bool
}

// InstanceStatus is a snapshot of one instance on this node (for the API and tests).
type InstanceStatus struct {
	ID      string
	State   State // "" before the first probe
	Running bool
	Busy    string // the operation in flight, if any
	Blocked bool
	Held    bool   // kept stopped after a failure until the cluster decides
	Waiting uint64 // the placement base index (Desired.PlanIndex) a restart waits for (0: none)
}

// New checks cfg and returns a reconciler; no I/O, no goroutines.
func New(cfg Config) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync == 0 {
		cfg.Resync = time.Second
	}
	if cfg.ReportRetry == 0 {
		cfg.ReportRetry = 500 * time.Millisecond
	}
	return &Reconciler{
		cfg:        cfg,
		log:        cfg.Logger.With("node", cfg.Node),
		setCh:      make(chan struct{}, 1),
		cleanups:   map[string]bool{},
		queue:      newReportQueue(),
		insts:      map[string]*inst{},
		opDone:     make(chan opResult),
		recordedCh: make(chan recorded),
	}, nil
}

// Set replaces the desired state. It never blocks; only the newest value
// counts. Safe from any goroutine.
func (r *Reconciler) Set(d Desired) {
	r.setMu.Lock()
	r.pending = &d
	r.setMu.Unlock()
	r.kick()
}

// Cleanup forgets an instance's failures on this node (blocked, held, waiting
// for the cluster) and probes it again, like `pcs resource cleanup`. Safe
// from any goroutine.
func (r *Reconciler) Cleanup(instance string) {
	r.setMu.Lock()
	r.cleanups[instance] = true
	r.setMu.Unlock()
	r.kick()
}

func (r *Reconciler) kick() {
	select {
	case r.setCh <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of every instance the reconciler knows, by id.
func (r *Reconciler) Status() []InstanceStatus {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	return append([]InstanceStatus(nil), r.status...)
}

// Mode returns the effective mode and why (as of the last decision).
func (r *Reconciler) Mode() (Mode, string) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	return r.mode, r.modeWhy
}

// Close ends Run (if running) and makes later Runs return at once. Safe twice.
func (r *Reconciler) Close() error {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	r.closed = true
	if r.cancel != nil {
		r.cancel()
	}
	return nil
}

// Run converges until ctx ends or Close is called, then waits for every
// operation in flight (their contexts are cancelled) and returns. Resources
// keep running: a new reconciler probes and adopts them.
func (r *Reconciler) Run(ctx context.Context) error {
	r.runMu.Lock()
	if r.running {
		r.runMu.Unlock()
		return errors.New("reconciler: Run called twice; expected one Run per reconciler")
	}
	if r.closed {
		r.runMu.Unlock()
		return nil
	}
	r.running = true
	ctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	r.runMu.Unlock()
	defer cancel()

	r.startedAt = r.cfg.Clock.Now()
	r.queue.setPrefix(fmt.Sprintf("%s@%d", r.cfg.Node, r.startedAt.UnixNano()))
	opsCtx, cancelOps := context.WithCancel(context.Background())
	r.opsCtx = opsCtx
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.queue.run(ctx, r.cfg.Reporter, r.cfg.Clock, r.cfg.ReportRetry, r.log, r.recordedCh)
	}()
	defer wg.Wait()

	r.statusMu.Lock()
	r.mode = ModeRun
	r.statusMu.Unlock()
	var leaseCh <-chan struct{}
	if r.cfg.Lease != nil {
		leaseCh = r.cfg.Lease.ChangedCh()
	}
	r.log.Info("reconciler running", "lease", r.cfg.Lease != nil, "no_quorum_policy", r.policy())
	var wake clock.Timer
	overdue := 0
	for {
		r.takePending()
		r.step()
		var wakeC <-chan time.Time
		if wake != nil {
			wake.Stop()
			wake = nil
		}
		if at, ok := r.nextWake(); ok {
			// A due instant that step did not act on would wake the loop at
			// once, forever. That is a bug; never let it burn a CPU.
			if now := r.cfg.Clock.Now(); !at.After(now) {
				if overdue++; overdue > 100 {
					if overdue == 101 {
						r.log.Error("reconciler bug: a due wake-up is never acted on; pacing the loop", "at", at)
					}
					at = now.Add(100 * time.Millisecond)
				}
			} else {
				overdue = 0
			}
			wake = clock.TimerAt(r.cfg.Clock, at)
			wakeC = wake.C()
		}
		// Publish last: a caller that sees this status knows the timers are armed.
		r.publish()
		select {
		case <-ctx.Done():
			if wake != nil {
				wake.Stop()
			}
			cancelOps()
			for r.inflight > 0 {
				r.handleResult(<-r.opDone)
			}
			r.log.Info("reconciler stopped; resources keep running", "reason", context.Cause(ctx))
			return nil
		case <-r.setCh:
		case res := <-r.opDone:
			r.handleResult(res)
		case rec := <-r.recordedCh:
			r.handleRecorded(rec)
		case <-leaseCh:
		case <-wakeC:
		}
	}
}

// takePending applies the newest Set and any cleanups.
func (r *Reconciler) takePending() {
	r.setMu.Lock()
	d := r.pending
	r.pending = nil
	cl := r.cleanups
	r.cleanups = map[string]bool{}
	r.setMu.Unlock()
	if d != nil {
		r.applyDesired(*d)
	}
	for id := range cl {
		ri, ok := r.insts[id]
		if !ok {
			r.log.Info("cleanup of an instance this node does not know; nothing to do", "instance", id)
			continue
		}
		if ri.busy != "" || ri.intentSeq != 0 {
			// Apply once the operation in flight is done.
			r.setMu.Lock()
			r.cleanups[id] = true
			r.setMu.Unlock()
			continue
		}
		r.log.Info("cleanup: forgetting failures and probing again", "instance", id)
		ri.blocked, ri.blockWhy, ri.hold, ri.awaitSeq, ri.awaitIndex = false, "", false, 0, 0
		ri.needsStop, ri.stopWhy, ri.ignoring = false, "", false
		ri.probed, ri.state = false, ""
	}
}

func (r *Reconciler) applyDesired(d Desired) {
	if d.Index < r.desired.Index {
		// The adapter's newest view wins even if its index went back (a
		// replica that discarded a divergent log); say so.
		r.log.Warn("desired state index went back; following it", "index", d.Index, "previous", r.desired.Index)
	}
	r.desired = d
	for _, ri := range r.insts {
		ri.wanted, ri.known = false, false
	}
	add := func(in Instance, key int, wanted bool) {
		ri, ok := r.insts[in.ID]
		if !ok {
			ri = &inst{id: in.ID, res: in.Resource}
			r.insts[in.ID] = ri
		} else if ri.res.Type != in.Resource.Type || !reflect.DeepEqual(ri.res.Params, in.Resource.Params) {
			r.log.Info("resource definition changed; restarting it with the new one", "instance", in.ID)
			ri.rebuild = true
			if ri.running && !ri.untouchable() {
				ri.needsStop, ri.stopWhy = true, "its definition changed"
			}
		}
		if ri.unmanaged && !in.Unmanaged && ri.busy == "" && !ri.blocked {
			r.log.Info("managed again: probing it", "instance", in.ID)
			ri.probed = false
		}
		ri.unmanaged = in.Unmanaged
		ri.res, ri.after, ri.orderKey, ri.known = in.Resource, in.After, key, true
		ri.wanted = ri.wanted || wanted
	}
	for i, in := range d.Instances {
		add(in, i, true)
	}
	for i, in := range d.Others {
		if _, dup := r.insts[in.ID]; dup && r.insts[in.ID].wanted {
			continue
		}
		add(in, len(d.Instances)+i, false)
	}
	for id, ri := range r.insts {
		if !ri.known && ri.busy == "" && !ri.blocked && !ri.running && ri.intentSeq == 0 && ri.intentIndex == 0 {
			delete(r.insts, id) // gone from the configuration and not running here
		}
	}
	for _, id := range d.Blocked {
		if ri, ok := r.insts[id]; ok && !ri.probed && !ri.blocked && ri.busy == "" {
			ri.blocked, ri.blockWhy = true, "recorded as blocked on this node in the cluster state"
			ri.state, ri.probed = StateBlocked, true
			r.log.Warn("blocked: no actions on it here until cleanup", "instance", id, "reason", ri.blockWhy)
		}
	}
	// A hold ends when the cluster, knowing the failure, stops placing the
	// instance here.
	for _, ri := range r.insts {
		if ri.hold && ri.awaitSeq == 0 && r.planIndex() >= ri.awaitIndex && !ri.wanted {
			r.log.Info("failure hold released: the cluster no longer places it here", "instance", ri.id, "index", d.Index)
			ri.hold = false
		}
	}
}

func (r *Reconciler) handleRecorded(rec recorded) {
	for _, ri := range r.insts {
		if ri.intentSeq != 0 && ri.intentSeq == rec.seq {
			ri.intentSeq, ri.intentIndex = 0, max(rec.index, 1)
			r.log.Debug("start intent recorded", "instance", ri.id, "index", rec.index)
		}
		if ri.awaitSeq == rec.seq {
			ri.awaitSeq, ri.awaitIndex = 0, rec.index
			r.log.Info("failure recorded; waiting for a placement computed from it", "instance", ri.id, "index", rec.index)
			if ri.hold && r.planIndex() >= ri.awaitIndex && !ri.wanted {
				ri.hold = false
			}
		}
	}
}

// policy returns the effective no_quorum_policy.
func (r *Reconciler) policy() string {
	if p := r.desired.NoQuorumPolicy; p != "" {
		return p
	}
	if r.cfg.NoQuorumPolicy != "" {
		return r.cfg.NoQuorumPolicy
	}
	return model.NoQuorumStop
}

// effectiveMode combines Desired.Mode with the lease: a lapsed lease makes
// the node stop everything (policy stop; byLease is then true) or freeze
// (policy freeze). Before
// the first renewal, the node freezes for one lease after Run started (it
// adopts what runs but starts nothing), then applies the policy.
func (r *Reconciler) effectiveMode(now time.Time) (m Mode, why string, byLease bool) {
	m, why = r.desired.Mode, fmt.Sprintf("desired state at index %d", r.desired.Index)
	if m == ModeMaintenance {
		return m, why + ": maintenance, nothing is touched (the lease neither)", false
	}
	l := r.cfg.Lease
	pol := r.policy()
	if l != nil && m < ModeFreeze {
		if need := l.CatchUp(); r.desired.Index < need {
			// A lease (re)gained while this node's state may be stale
			// (it was cut off): act on nothing new until it caught up.
			m, why = ModeFreeze, fmt.Sprintf("state at index %d is behind the coordinator's index %d at the lease renewal; starting nothing until caught up", r.desired.Index, need)
		}
	}
	if l == nil || pol == model.NoQuorumIgnore {
		return m, why, false
	}
	if l.Valid(now) {
		return m, why, false
	}
	lm := ModeStopAll
	if pol == model.NoQuorumFreeze {
		lm = ModeFreeze
	}
	lwhy := ""
	if dl, ok := l.Deadline(); ok {
		lwhy = fmt.Sprintf("lease lapsed at %s (no renewal from a quorate coordinator), no_quorum_policy %s", dl.Format(time.RFC3339Nano), pol)
	} else if now.Before(r.startedAt.Add(l.Lease())) {
		lm, lwhy = ModeFreeze, "no lease yet: starting nothing until the coordinator renews it"
	} else {
		lwhy = fmt.Sprintf("no lease received within %s of start, no_quorum_policy %s", l.Lease(), pol)
	}
	if lm > m {
		return lm, lwhy, lm == ModeStopAll
	}
	return m, why, false
}

func (r *Reconciler) stopDeadline() time.Duration {
	if r.cfg.StopDeadline > 0 {
		return r.cfg.StopDeadline
	}
	if r.cfg.Lease != nil {
		return r.cfg.Lease.Lease()
	}
	return DefaultOpTimeout
}

// checkOverdue calls OnStopOverdue once when a lease-caused stop-all has not
// finished within its deadline.
func (r *Reconciler) checkOverdue(now time.Time, leaseStop bool) {
	if !leaseStop {
		r.lapsedAt, r.overdueSent = time.Time{}, false
		return
	}
	if r.lapsedAt.IsZero() {
		r.lapsedAt = now
	}
	if r.overdueSent || r.cfg.OnStopOverdue == nil || now.Before(r.lapsedAt.Add(r.stopDeadline())) {
		return
	}
	r.overdueSent = true // decided once per lapse
	var left []string
	for _, ri := range r.sorted() {
		if ri.running && !ri.unmanaged {
			left = append(left, ri.id)
		}
	}
	if len(left) == 0 {
		return
	}
	r.log.Error("stop after the lease lapsed is overdue; asking the watchdog to reset this node", "since", r.lapsedAt, "instances", left)
	r.cfg.OnStopOverdue(left)
}

// nextWake returns when the loop must look again without an event.
func (r *Reconciler) nextWake() (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(t time.Time) {
		if !found || t.Before(best) {
			best, found = t, true
		}
	}
	if r.mode == ModeMaintenance {
		return best, false
	}
	for _, ri := range r.insts {
		// No monitors run in stop-all: waking for them would spin.
		if r.mode != ModeStopAll && ri.monitored() {
			if _, iv := r.monitorOp(ri); iv > 0 {
				consider(ri.nextMon)
			}
		}
	}
	now := r.cfg.Clock.Now()
	if l := r.cfg.Lease; l != nil {
		if _, ok := l.Deadline(); !ok {
			if g := r.startedAt.Add(l.Lease()); now.Before(g) {
				consider(g)
			}
		}
	}
	if !r.lapsedAt.IsZero() && !r.overdueSent && r.cfg.OnStopOverdue != nil {
		consider(r.lapsedAt.Add(r.stopDeadline()))
	}
	if r.mode == ModeRun && r.waitingOnOrder() {
		consider(now.Add(r.cfg.Resync))
	}
	return best, found
}

func (r *Reconciler) publish() {
	out := make([]InstanceStatus, 0, len(r.insts))
	for _, ri := range r.insts {
		busy := ri.busy
		if busy == "" && r.mode == ModeRun && (ri.intentSeq != 0 || ri.intentIndex != 0) {
			// An announced start not run yet. Outside run mode it never
			// runs (abandonIntents records it stopped once the announcement
			// is recorded): nothing is busy, and a graceful shutdown
			// (StopResources) must not wait for a record that may need a
			// leader the stopping cluster no longer has.
			busy = "start-intent"
		}
		out = append(out, InstanceStatus{ID: ri.id, State: ri.state, Running: ri.running, Busy: busy,
			Blocked: ri.blocked, Held: ri.hold, Waiting: ri.awaitIndex})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	r.statusMu.Lock()
	r.status = out
	r.statusMu.Unlock()
}

// buildAgent returns the instance's agent, building it on first use. After
// a definition change the old agent serves until the instance is stopped.
func (r *Reconciler) buildAgent(ri *inst) (model.Agent, error) {
	if ri.agent != nil && (!ri.rebuild || ri.running) {
		return ri.agent, nil
	}
	t, ok := r.cfg.Types(ri.res.Type)
	if !ok {
		return nil, fmt.Errorf("resource type %q is not known on node %s; expected a built-in type or ocf:PROVIDER:AGENT", ri.res.Type, r.cfg.Node)
	}
	dir := filepath.Join(r.cfg.DataDir, strings.NewReplacer("/", "_", "\x00", "_").Replace(ri.id))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data folder for %s: %w", ri.id, err)
	}
	a, err := t.New(ri.res, model.AgentEnv{Node: r.cfg.Node, DataDir: dir, Logger: r.log.With("instance", ri.id), SetAttribute: r.cfg.SetAttribute})
	if err != nil {
		return nil, fmt.Errorf("build %s agent for %s: %w", ri.res.Type, ri.id, err)
	}
	ri.typ, ri.agent, ri.rebuild = t, a, false
	return a, nil
}
