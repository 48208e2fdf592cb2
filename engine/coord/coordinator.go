package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// Log is the replicated log as the coordinator uses it (consensus.Node
// implements it): Apply commits a command through the leader and returns
// its result; Barrier returns once this node applied everything committed
// before the call.
type Log interface {
	Apply(ctx context.Context, c state.Command) (state.Result, error)
	Barrier(ctx context.Context) error
}

// Membership is the gossip view the coordinator needs. Safe for concurrent
// use.
type Membership interface {
	// Alive reports whether node is a live member of this partition.
	Alive(node string) bool
	// Quorate reports whether this partition has weighted quorum.
	Quorate() bool
}

// Config configures a StateCoordinator.
type Config struct {
	// Name is this node's name: the coordinator's, stamped on what it
	// commits.
	Name string
	// State is the replicated state machine; Log commits to it.
	State *state.State
	Log   Log
	// Members is the membership and quorum view.
	Members Membership
	// Leases is the coordinator's lease table, the one its lease sender
	// records renewals and acks in: it says when a lost node's resources
	// may be recovered (BuildInput), and which voters answer renewals
	// (handoffs).
	Leases *lease.Table
	// Clock is the time source; Logger gets one line per decision.
	Clock  clock.Clock
	Logger *slog.Logger
	// Fencer, when not nil and stonith is on, fences lost nodes (and nodes
	// with a failed stop) before their resources are recovered; without it
	// a lost node's resources are recovered once its lease has certainly
	// lapsed.
	Fencer Fencer
	// Handoff, when not nil, moves the coordinator role off this node while
	// it runs resources and a live voter runs none (the plan's handoff action).
	Handoff Handoff
	// Trigger, when not nil, asks the leader loop for a new computation
	// (LeaderLoop.Trigger); it is called when a fence attempt ends. Never
	// blocks.
	Trigger func()
}

// Validate names every problem in c.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("coordinator: Name is empty; expected this node's name"))
	}
	if c.State == nil {
		errs = append(errs, errors.New("coordinator: State is nil; expected the replicated state machine"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("coordinator: Log is nil; expected the consensus node (Apply, Barrier)"))
	}
	if c.Members == nil {
		errs = append(errs, errors.New("coordinator: Members is nil; expected the membership view (Alive, Quorate)"))
	}
	if c.Leases == nil {
		errs = append(errs, errors.New("coordinator: Leases is nil; expected the coordinator's lease.Table"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("coordinator: Clock is nil; expected clock.System{} or a clock.Fake"))
	}
	return errors.Join(errs...)
}

// StateCoordinator implements Coordinator over the replicated state, the
// log, the membership view and the lease table: Propose builds the
// scheduler's input (BuildInput), starts the fences it asks for, runs the
// scheduler and considers a handoff; Commit records the result. One lives
// as long as its node, across terms. Safe for concurrent use.
type StateCoordinator struct {
	cfg Config
	log *slog.Logger

	setsMu    sync.Mutex
	unclean   map[string]bool // lost nodes logged as unclean
	leaseLost map[string]bool // live nodes logged as lost on their lease

	fenceMu   sync.Mutex
	fencing   map[string]bool      // attempts in flight
	fenceNext map[string]time.Time // no new attempt before (after a failure)
	warned    map[string]bool

	handoffMu   sync.Mutex
	handoffAt   time.Time // last handoff attempt
	handoffBusy bool
}

// New checks cfg; no I/O, no goroutines.
func New(cfg Config) (*StateCoordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &StateCoordinator{cfg: cfg, log: cfg.Logger.With("node", cfg.Name), unclean: map[string]bool{},
		fencing: map[string]bool{}, fenceNext: map[string]time.Time{}, warned: map[string]bool{}}, nil
}

// coordPlan is the Proposal payload of a StateCoordinator.
type coordPlan struct {
	plan   model.Plan
	lapsed map[string][]string
	forget []state.Forget
}

// Barrier is the log's Barrier.
func (co *StateCoordinator) Barrier(ctx context.Context) error { return co.cfg.Log.Barrier(ctx) }

// Propose computes the next proposal from the applied state at now.
func (co *StateCoordinator) Propose(ctx context.Context, now time.Time) (Proposal, error) {
	c, _, err := co.cfg.State.Cluster()
	if c == nil {
		return Proposal{}, nil // nothing committed yet: nothing to schedule
	}
	if err != nil {
		return Proposal{}, fmt.Errorf("committed configuration does not parse: %w", err)
	}
	v := co.cfg.State.View()
	stonith := c.StonithEnabled() && co.cfg.Fencer != nil
	if c.StonithEnabled() && co.cfg.Fencer == nil {
		co.warnOnce("stonith is on but this node has no fencer: lost nodes are recovered on the lease alone")
	}
	var voters []string
	if co.cfg.Handoff != nil {
		voters = co.cfg.Handoff.Voters()
	}
	dec := Decide(Input{View: v, Cluster: c, Self: co.cfg.Name, Alive: co.cfg.Members.Alive,
		Quorate: co.cfg.Members.Quorate(), Leases: co.cfg.Leases, Stonith: stonith, Voters: voters}, now)
	for _, node := range sortedKeys(dec.Fence) {
		if node != co.cfg.Name {
			co.fence(ctx, node, dec.Fence[node])
		}
	}
	co.noteUnclean(dec.Unclean)
	co.noteLeaseLost(dec.LeaseLost)
	p := Proposal{Base: v.Index, RecheckAt: dec.RecheckAt}
	forget := staleEntries(v, c)
	if len(dec.Lapsed) > 0 || len(forget) > 0 {
		p.Changed, p.Plan = true, coordPlan{lapsed: dec.Lapsed, forget: forget}
		for _, node := range sortedKeys(dec.Lapsed) {
			p.Why = append(p.Why, fmt.Sprintf("node %s lost and its lease has certainly lapsed: recording %s stopped there", node, strings.Join(dec.Lapsed[node], ", ")))
		}
		for _, f := range forget {
			p.Why = append(p.Why, fmt.Sprintf("forgetting %s %s: no longer in the configuration", f.Node, f.Resource))
		}
		return p, nil
	}
	plan, why := dec.Plan, dec.Why
	same := samePlan(plan, v.Placement)
	if same && !dec.FailureAfterPlan && v.Placement.BasedOn != 0 {
		if dec.Handoff != "" {
			if at := co.considerHandoff(dec.Handoff, dec.HandoffWhy, now); !at.IsZero() && (p.RecheckAt.IsZero() || at.Before(p.RecheckAt)) {
				p.RecheckAt = at
			}
		}
		return p, nil
	}
	p.Changed, p.Plan = true, coordPlan{plan: plan}
	for _, a := range plan.Actions {
		if a.Action == model.ActionFence || a.Action == model.ActionHandoff {
			continue // fences started above; a handoff waits for a committed, settled plan
		}
		line := fmt.Sprintf("%s %s", a.Action, instanceOrResource(a))
		if a.From != "" {
			line += " from " + a.From
		}
		if a.Node != "" {
			line += " on " + a.Node
		}
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		p.Why = append(p.Why, line)
	}
	for _, w := range why.Warnings {
		p.Why = append(p.Why, "warning: "+w)
	}
	if same {
		p.Why = append(p.Why, "placement unchanged; committed again so nodes see failures up to index "+fmt.Sprint(v.Index)+" were in view")
	}
	return p, nil
}

func instanceOrResource(a model.Action) string {
	if a.Instance != "" {
		return a.Instance
	}
	return a.Resource
}

// samePlan reports whether plan places everything as the committed
// placement does. Empty and absent lists are the same: the committed
// placement went through JSON with omitempty, so a plan with no primitive
// (an empty assignment list) comes back as nil — compared as they are, the
// coordinator of a cluster without resources committed the same empty plan
// again on every apply, forever.
func samePlan(plan model.Plan, committed state.Placement) bool {
	if !reflect.DeepEqual(normPlacement(plan.Placement), normPlacement(committed.Placement)) {
		return false
	}
	if len(plan.Assignments) == 0 && len(committed.Assignments) == 0 {
		return true
	}
	return reflect.DeepEqual(plan.Assignments, committed.Assignments)
}

func normPlacement(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// staleEntries lists reports of resources and nodes no longer configured.
func staleEntries(v state.Data, c *model.Cluster) []state.Forget {
	var out []state.Forget
	for _, n := range sortedKeys(v.Nodes) {
		if _, ok := c.Node(n); !ok {
			out = append(out, state.Forget{Node: n})
			continue
		}
		for _, id := range sortedKeys(v.Nodes[n].Resources) {
			p, _ := model.SplitInstance(id)
			_, ok1 := c.Resource(id)
			_, ok2 := c.Resource(p)
			if !ok1 && !ok2 && !state.Active(v.Nodes[n].Resources[id].State) {
				out = append(out, state.Forget{Node: n, Resource: id})
			}
		}
	}
	return out
}

// Commit records p: the lapsed nodes' instances as stopped and the
// forgotten entries (then ErrStalePlan, to recompute from them), or the
// placement.
func (co *StateCoordinator) Commit(ctx context.Context, p Proposal) error {
	cp, ok := p.Plan.(coordPlan)
	if !ok {
		return fmt.Errorf("commit: proposal payload is %T; expected the node coordinator's plan", p.Plan)
	}
	now := co.cfg.Clock.Now()
	if len(cp.lapsed) > 0 || len(cp.forget) > 0 {
		for _, node := range sortedKeys(cp.lapsed) {
			for _, id := range cp.lapsed[node] {
				r := state.Report{Node: node, Resource: id, State: state.Stopped, Lapsed: true,
					Reason: "node lost; its lease certainly lapsed (recorded by the coordinator " + co.cfg.Name + ")"}
				if err := co.apply(ctx, state.CmdReport, now, r); err != nil {
					return fmt.Errorf("record %s stopped on lost node %s: %w", id, node, err)
				}
			}
		}
		for _, f := range cp.forget {
			if err := co.apply(ctx, state.CmdForget, now, f); err != nil {
				return fmt.Errorf("forget %s %s: %w", f.Node, f.Resource, err)
			}
		}
		return ErrStalePlan // recompute from the state these made
	}
	body := state.SetPlacement{BasedOn: p.Base, Placement: cp.plan.Placement, Assignments: cp.plan.Assignments}
	err := co.apply(ctx, state.CmdSetPlacement, now, body)
	if errors.Is(err, state.ErrStale) {
		return fmt.Errorf("%w: %v", ErrStalePlan, err)
	}
	return err
}

// apply commits one command.
func (co *StateCoordinator) apply(ctx context.Context, typ string, at time.Time, body any) error {
	c, err := state.NewCommand(typ, at, co.cfg.Name, body)
	if err != nil {
		return err
	}
	res, err := co.cfg.Log.Apply(ctx, c)
	if err != nil {
		return err
	}
	return res.Err()
}

func (co *StateCoordinator) trigger() {
	if co.cfg.Trigger != nil {
		co.cfg.Trigger()
	}
}

// Unclean returns the lost nodes whose resources are not recovered yet
// because their lease may still hold, as of the last Propose.
func (co *StateCoordinator) Unclean() []string { return co.set(&co.unclean) }

// LeaseLost returns the nodes gossip sees that the last Propose treated as
// lost because their lease certainly lapsed.
func (co *StateCoordinator) LeaseLost() []string { return co.set(&co.leaseLost) }

// EndTerm forgets the nodes treated as lost on their lease: the next term's
// lease table starts afresh. Call it when the leader loop returns.
func (co *StateCoordinator) EndTerm() {
	co.setsMu.Lock()
	defer co.setsMu.Unlock()
	co.leaseLost = nil
}

func (co *StateCoordinator) set(set *map[string]bool) []string {
	co.setsMu.Lock()
	defer co.setsMu.Unlock()
	return sortedKeys(*set)
}

// noteUnclean logs each lost node once when it becomes unclean.
func (co *StateCoordinator) noteUnclean(nodes []string) {
	co.noteSet(&co.unclean, nodes, func(u string) {
		co.log.Warn("node lost while its lease may hold: its resources are not recovered until the lease has certainly lapsed", "lost", u)
	}, nil)
}

// noteLeaseLost logs once each node gossip sees alive that the coordinator
// treats as lost because its lease certainly lapsed, and its return.
func (co *StateCoordinator) noteLeaseLost(nodes []string) {
	co.noteSet(&co.leaseLost, nodes, func(u string) {
		co.log.Warn("node acked no lease renewal for a whole bound: treated as lost although gossip sees it (is UDP on its api_port blocked, or is it frozen?)", "peer", u)
	}, func(u string) {
		co.log.Info("node acks lease renewals again: no longer treated as lost", "peer", u)
	})
}

// noteSet replaces *set with nodes, calling added for each node new to it
// and, when not nil, gone for each node no longer in it.
func (co *StateCoordinator) noteSet(set *map[string]bool, nodes []string, added, gone func(string)) {
	co.setsMu.Lock()
	defer co.setsMu.Unlock()
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
