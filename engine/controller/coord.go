package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

// CoordInput is what BuildInput derives the scheduler's input from.
type CoordInput struct {
	// View is the replicated state; Cluster its committed configuration.
	View    state.Data
	Cluster *model.Cluster
	// Self is the coordinator's node name (always alive).
	Self string
	// Alive reports whether gossip sees a node alive; Quorate the weighted
	// quorum of this partition.
	Alive   func(node string) bool
	Quorate bool
	// Leases says when a lost node's resources may be recovered.
	Leases *LeaseTable
	// Stonith: fencing is on and a fencer is available. A lost node's
	// resources are then recovered only after its fence is confirmed (the
	// fence record marks them stopped), never on the lease alone; and a node
	// with a blocked instance (a failed stop) is fenced.
	Stonith bool
}

// CoordDecision is BuildInput's result.
type CoordDecision struct {
	Input scheduler.Input
	// Lapsed lists, per lost node whose lease has certainly lapsed (or that
	// was fenced), the instances the state still shows active there: the
	// coordinator records them stopped before recovering them elsewhere.
	Lapsed map[string][]string
	// Unclean lists lost nodes that may still run resources (lease not
	// certainly lapsed): their resources are not recovered yet.
	Unclean []string
	// LeaseLost lists nodes gossip still sees alive whose lease has
	// certainly lapsed (LeaseTable.Lapsed): they count as lost.
	LeaseLost []string
	// RecheckAt is the earliest instant the input changes by itself (a lease
	// certainly lapsing, a failure expiring, a preference expiring).
	RecheckAt time.Time
	// FailureAfterPlan: a failure was recorded after the committed
	// placement's base index; a placement must be committed even if unchanged.
	FailureAfterPlan bool
	// Fence lists the nodes to fence (Stonith only), each with the reason.
	Fence map[string]string
}

// BuildInput maps the replicated state, the membership view and the lease
// table onto the scheduler's input. Pure apart from reading the lease table.
//
//   - A node gossip does not see is offline, and so is a node whose lease
//     has certainly lapsed (no ack for a whole bound: LeaseTable.Lapsed)
//     even while gossip sees it: it stopped its resources, and it cannot
//     start any before its lease is renewed. Failover then waits for the
//     lease alone, not for gossip's failure detector, and a node cut off
//     from the lease wire only (a firewall dropping its UDP) has its
//     resources recovered elsewhere instead of left stopped. The lease
//     sender triggers a computation when a lease lapses or comes back
//     (LeaseSenderConfig.OnChange).
//   - If the state shows resources active on an offline node and its
//     lease may still hold, it is unclean (its resources are not
//     recovered) until LeaseTable.SafeToRecover.
//   - Observed states: started, starting and stopping count as running,
//     failed as failed, blocked as running with the resource unmanaged
//     (nothing moves it until cleanup).
//   - Fail counts travel with their last failure time (the scheduler applies
//     failure_timeout); a held instance (on_fail stop) gets target role
//     Stopped while its failure counts.
func BuildInput(in CoordInput, now time.Time) CoordDecision {
	v, c := in.View, in.Cluster
	out := CoordDecision{Lapsed: map[string][]string{}, Fence: map[string]string{}}
	recheck := func(t time.Time) {
		if t.After(now) && (out.RecheckAt.IsZero() || t.Before(out.RecheckAt)) {
			out.RecheckAt = t
		}
	}
	si := scheduler.Input{Cluster: c, Nodes: map[string]scheduler.NodeStatus{}, Quorate: in.Quorate,
		Admin: scheduler.Admin{TargetRole: map[string]string{}}}
	primOf := func(instance string) string {
		p, sfx := split(instance)
		if sfx != "" {
			if _, ok := c.Resource(p); ok {
				return p
			}
		}
		return instance
	}
	failTimeout := func(prim string) time.Duration {
		ft := model.Duration(0)
		if r, ok := c.Resource(prim); ok {
			ft = r.Meta.FailureTimeout
		}
		for _, g := range c.Groups {
			for _, m := range g.Resources {
				if m == prim && ft == 0 {
					ft = g.Meta.FailureTimeout
				}
			}
		}
		return ft.D()
	}
	unmanaged := map[string]bool{}
	for _, n := range c.Nodes {
		ns := v.Nodes[n.Name]
		alive := n.Name == in.Self || (in.Alive != nil && in.Alive(n.Name))
		if alive && n.Name != in.Self && !n.IsWitness() && in.Leases != nil {
			if in.Leases.Lapsed(n.Name, now) {
				alive = false
				out.LeaseLost = append(out.LeaseLost, n.Name)
			}
		}
		st := scheduler.NodeStatus{Online: alive}
		if ns != nil {
			st.Standby, st.Maintenance = ns.Standby, ns.Maintenance
			if ns.FenceRequested != "" {
				if in.Stonith {
					// Nothing leaves or starts there until the fence.
					st.Unclean = true
					out.Fence[n.Name] = ns.FenceRequested
				} else {
					st.Standby = true // no fencer: keep it out like standby
				}
			}
			if len(ns.Attributes) > 0 {
				st.Attributes = map[string]string{}
				for k, val := range ns.Attributes {
					st.Attributes[k] = val
				}
			}
		}
		var act []string
		if ns != nil {
			for _, id := range sortedKeys(ns.Resources) {
				if active(ns.Resources[id].State) {
					act = append(act, id)
				}
			}
		}
		if !alive && len(act) > 0 && in.Stonith {
			// With stonith, only a confirmed fence recovers them.
			st.Unclean = true
			out.Unclean = append(out.Unclean, n.Name)
			out.Fence[n.Name] = "node lost with " + strings.Join(act, ", ") + " active"
		} else if !alive && len(act) > 0 {
			if in.Leases != nil && in.Leases.SafeToRecover(n.Name, now) {
				out.Lapsed[n.Name] = act
			} else {
				st.Unclean = true
				out.Unclean = append(out.Unclean, n.Name)
				if in.Leases != nil {
					if at, ok := in.Leases.RecoverAt(n.Name); ok && !at.IsZero() {
						// One tick past the bound: SafeToRecover is strict.
						recheck(at.Add(time.Millisecond))
					}
				}
			}
		}
		si.Nodes[n.Name] = st
		if ns == nil {
			continue
		}
		for _, id := range sortedKeys(ns.Resources) {
			o := ns.Resources[id]
			prim := primOf(id)
			ob := scheduler.Observed{Resource: id, Node: n.Name, State: scheduler.StateStopped}
			switch o.State {
			case state.Started, state.Starting, state.Stopping:
				ob.State = scheduler.StateRunning
			case state.Failed:
				ob.State = scheduler.StateFailed
			case state.Stopped:
				if o.FailCount > 0 && ns.FenceRequested != "" && in.Stonith {
					// The failure that asked for the fence: the node's own
					// report of the stop is not trusted until the fence.
					ob.State = scheduler.StateFailed
				}
			case state.Blocked:
				ob.State = scheduler.StateRunning
				unmanaged[prim] = true
				if in.Stonith && out.Fence[n.Name] == "" {
					out.Fence[n.Name] = id + " blocked after a failed stop"
				}
			}
			counting := o.FailCount > 0
			if o.FailCount > 0 {
				ob.FailCount, ob.LastFailure = model.Score(o.FailCount), o.LastFailure
				if ft := failTimeout(prim); ft > 0 && !o.LastFailure.IsZero() {
					exp := o.LastFailure.Add(ft)
					if !exp.After(now) {
						counting = false
					}
					recheck(exp.Add(time.Millisecond))
				}
				if o.LastFailureIndex > v.Placement.BasedOn {
					out.FailureAfterPlan = true
				}
			}
			if o.Held && counting {
				si.Admin.TargetRole[prim] = "Stopped"
			}
			if ob.State == scheduler.StateStopped && ob.FailCount == 0 {
				continue
			}
			si.Resources = append(si.Resources, ob)
		}
	}
	for _, id := range sortedKeys(v.Resources) {
		rs := v.Resources[id]
		if rs.TargetRole != "" {
			if _, held := si.Admin.TargetRole[id]; !held {
				si.Admin.TargetRole[id] = rs.TargetRole
			}
		}
		for _, p := range rs.Preferences {
			if !p.ActiveAt(now) {
				continue
			}
			if p.Expires != nil {
				recheck(*p.Expires)
			}
			score := model.Infinity
			if p.Kind == state.PrefBan {
				score = -model.Infinity
			}
			si.Admin.Preferences = append(si.Admin.Preferences, scheduler.Preference{Name: p.Kind, Resource: id, Node: p.Node, Score: score})
		}
	}
	si.Admin.Unmanaged = append(si.Admin.Unmanaged, sortedKeys(unmanaged)...)
	out.Input = si
	return out
}

// coordPlan is the Proposal payload of the Node's coordinator.
type coordPlan struct {
	plan   model.Plan
	lapsed map[string][]string
	forget []state.Forget
}

// coordinator implements Coordinator over the state, the log and the
// membership view.
type coordinator struct {
	n *Node
}

func (co coordinator) Barrier(ctx context.Context) error { return co.n.cfg.Log.Barrier(ctx) }

func (co coordinator) Propose(ctx context.Context, now time.Time) (Proposal, error) {
	n := co.n
	c, _, err := n.cfg.State.Cluster()
	if c == nil {
		return Proposal{}, nil // nothing committed yet: nothing to schedule
	}
	if err != nil {
		return Proposal{}, fmt.Errorf("committed configuration does not parse: %w", err)
	}
	v := n.cfg.State.View()
	stonith := c.StonithEnabled() && n.cfg.Fencer != nil
	if c.StonithEnabled() && n.cfg.Fencer == nil {
		n.warnOnce("stonith is on but this node has no fencer: lost nodes are recovered on the lease alone")
	}
	dec := BuildInput(CoordInput{View: v, Cluster: c, Self: n.cfg.Name, Alive: n.cfg.Members.Alive,
		Quorate: n.cfg.Members.Quorate(), Leases: n.table, Stonith: stonith}, now)
	for _, node := range sortedKeys(dec.Fence) {
		if node != n.cfg.Name {
			n.fence(ctx, node, dec.Fence[node])
		}
	}
	n.noteUnclean(dec.Unclean)
	n.noteLeaseLost(dec.LeaseLost)
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
	plan, why := scheduler.Compute(dec.Input, now)
	plan = holdForFence(plan, dec.Fence)
	same := samePlan(plan, v.Placement)
	if same && !dec.FailureAfterPlan && v.Placement.BasedOn != 0 {
		if len(dec.Unclean) == 0 {
			if at := n.considerHandoff(v, c, now); !at.IsZero() && (p.RecheckAt.IsZero() || at.Before(p.RecheckAt)) {
				p.RecheckAt = at
			}
		}
		return p, nil
	}
	p.Changed, p.Plan = true, coordPlan{plan: plan}
	for _, a := range plan.Actions {
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
			p, _ := split(id)
			_, ok1 := c.Resource(id)
			_, ok2 := c.Resource(p)
			if !ok1 && !ok2 && !active(v.Nodes[n].Resources[id].State) {
				out = append(out, state.Forget{Node: n, Resource: id})
			}
		}
	}
	return out
}

func (co coordinator) Commit(ctx context.Context, p Proposal) error {
	n := co.n
	cp, ok := p.Plan.(coordPlan)
	if !ok {
		return fmt.Errorf("commit: proposal payload is %T; expected the node coordinator's plan", p.Plan)
	}
	now := n.cfg.Clock.Now()
	if len(cp.lapsed) > 0 || len(cp.forget) > 0 {
		for _, node := range sortedKeys(cp.lapsed) {
			for _, id := range cp.lapsed[node] {
				r := state.Report{Node: node, Resource: id, State: state.Stopped, Lapsed: true,
					Reason: "node lost; its lease certainly lapsed (recorded by the coordinator " + n.cfg.Name + ")"}
				if err := n.apply(ctx, state.CmdReport, now, r); err != nil {
					return fmt.Errorf("record %s stopped on lost node %s: %w", id, node, err)
				}
			}
		}
		for _, f := range cp.forget {
			if err := n.apply(ctx, state.CmdForget, now, f); err != nil {
				return fmt.Errorf("forget %s %s: %w", f.Node, f.Resource, err)
			}
		}
		return ErrStalePlan // recompute from the state these made
	}
	body := state.SetPlacement{BasedOn: p.Base, Placement: cp.plan.Placement, Assignments: cp.plan.Assignments}
	err := n.apply(ctx, state.CmdSetPlacement, now, body)
	if errors.Is(err, state.ErrStale) {
		return fmt.Errorf("%w: %v", ErrStalePlan, err)
	}
	return err
}
