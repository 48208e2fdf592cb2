package coord

import (
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

// Input is what BuildInput derives the scheduler's input from.
type Input struct {
	// View is the replicated state; Cluster its committed configuration.
	View    state.Data
	Cluster *model.Cluster
	// Self is the coordinator's node name (always alive).
	Self string
	// Alive reports whether gossip sees a node alive; Quorate the weighted
	// quorum of this partition.
	Alive   func(node string) bool
	Quorate bool
	// Leases says when a lost node's resources may be recovered (nil: no
	// evidence, so a lost node's resources are held, as in a preview).
	Leases *lease.Table
	// Stonith: fencing is on and a fencer is available (the scheduler's
	// classify stage then fences lost nodes instead of trusting leases).
	Stonith bool
	// Voters are the raft voters; with Leases they let the plan hand the
	// coordinator role over (a handoff action).
	Voters []string
}

// Decision is Decide's result: the plan and what the coordinator must
// do about lost nodes before committing it.
type Decision struct {
	Input scheduler.Input
	Plan  model.Plan
	Why   scheduler.Explanation
	// Lapsed lists, per lost node whose lease has certainly lapsed (or that
	// was fenced), the instances the state still shows active there: the
	// coordinator records them stopped before recovering them elsewhere.
	Lapsed map[string][]string
	// Unclean lists lost nodes that may still run resources: their
	// resources are not recovered yet.
	Unclean []string
	// LeaseLost lists nodes gossip still sees alive whose lease has
	// certainly lapsed: they count as lost.
	LeaseLost []string
	// RecheckAt is the earliest instant the decision changes by itself (a
	// lease certainly lapsing, a failure expiring, a preference expiring).
	RecheckAt time.Time
	// FailureAfterPlan: a failure was recorded after the committed
	// placement's base index; a placement must be committed even if unchanged.
	FailureAfterPlan bool
	// Fence lists the nodes the plan fences, each with the reason.
	Fence map[string]string
	// Handoff is the voter the plan hands the coordinator role to, if any.
	Handoff, HandoffWhy string
}

// Decide is the coordinator's decision at now: BuildInput, then the pure
// scheduler (whose classify stage says which lost node may have its
// resources recovered, and which must be fenced first), then what that
// means for the coordinator. Pure apart from reading the lease table.
func Decide(in Input, now time.Time) Decision {
	dec := BuildInput(in, now)
	si := dec.Input
	plan, why := scheduler.Compute(si, now)
	dec.Plan, dec.Why = plan, why
	dec.Lapsed, dec.Fence = map[string][]string{}, map[string]string{}
	for _, ns := range plan.Nodes {
		switch ns.State {
		case model.NodeLostLeaseLapsed, model.NodeFenced:
			if len(ns.Active) > 0 {
				dec.Lapsed[ns.Node] = ns.Active
			}
		case model.NodeLostUnclean:
			if len(ns.Active) > 0 {
				dec.Unclean = append(dec.Unclean, ns.Node)
			}
		}
		if ns.State != model.NodeOnline && ns.State != model.NodeStandby && ns.State != model.NodeMaintenance &&
			ns.State != model.NodeUnclean && si.Nodes[ns.Node].Online {
			dec.LeaseLost = append(dec.LeaseLost, ns.Node)
		}
	}
	for _, a := range plan.Actions {
		switch a.Action {
		case model.ActionFence:
			dec.Fence[a.Node] = a.Reason
		case model.ActionHandoff:
			dec.Handoff, dec.HandoffWhy = a.Node, a.Reason
		}
	}
	if t := plan.RecheckAt; !t.IsZero() && (dec.RecheckAt.IsZero() || t.Before(dec.RecheckAt)) {
		dec.RecheckAt = t
	}
	return dec
}

// BuildInput maps the replicated state, the membership view and the lease
// table onto the scheduler's input: facts only, no decision. Which node is
// lost, which lost node's resources may start elsewhere and which must be
// fenced first is the scheduler's classify stage (engine/scheduler
// classify.go), so `haven simulate` and the golden cases see it too.
//
//   - Every node's gossip liveness (self always alive), administrative
//     state, fence request, attributes, the newest fence attempt, and — when
//     a lease table leads — its lease snapshot: RecoverAt (after it the
//     node's lease has certainly lapsed), LapseAt (after it the node counts
//     as lost even while gossip sees it: no ack for a whole bound with a
//     renewal unanswered, so a node cut off from the lease wire only has its
//     resources recovered instead of left stopped), Fenced, and Answering
//     (acked within a quarter lease: a handoff target must). Self gets no
//     snapshot, and a witness only Answering: it holds no resources.
//   - Observed states: started, starting and stopping count as running
//     (starting and stopping pending), failed as failed, blocked as running
//     with the resource unmanaged (nothing moves it until cleanup) and the
//     instance blocked. A stopped instance with failures on a node with a
//     fence request counts as failed under stonith: the node's own report of
//     the stop is not trusted until the fence.
//   - Fail counts travel with their last failure time (the scheduler applies
//     failure_timeout); a held instance (on_fail stop) gets target role
//     Stopped while its failure counts.
//
// Only Input, RecheckAt and FailureAfterPlan of the result are set; Decide
// fills the rest from the plan.
func BuildInput(in Input, now time.Time) Decision {
	v, c := in.View, in.Cluster
	var out Decision
	recheck := func(t time.Time) {
		if t.After(now) && (out.RecheckAt.IsZero() || t.Before(out.RecheckAt)) {
			out.RecheckAt = t
		}
	}
	si := scheduler.Input{Cluster: c, Nodes: map[string]scheduler.NodeStatus{}, Quorate: in.Quorate,
		Admin: scheduler.Admin{TargetRole: map[string]string{}}, Stonith: in.Stonith,
		// Always: without a lease table (a preview) a lost node has no
		// evidence of a lapse, and its resources are held, as the
		// coordinator would hold them.
		Leases: true}
	if in.Leases != nil && len(in.Voters) > 0 {
		si.Coordinator = &scheduler.Coordinator{Self: in.Self, Voters: append([]string(nil), in.Voters...)}
	}
	primOf := func(instance string) string {
		p, sfx := model.SplitInstance(instance)
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
	lastFence := map[string]*scheduler.FenceAttempt{}
	for _, f := range v.Fencing {
		lastFence[f.Node] = &scheduler.FenceAttempt{At: f.Time, OK: f.OK, Error: f.Error}
	}
	unmanaged := map[string]bool{}
	for _, n := range c.Nodes {
		ns := v.Nodes[n.Name]
		alive := n.Name == in.Self || (in.Alive != nil && in.Alive(n.Name))
		st := scheduler.NodeStatus{Online: alive, LastFence: lastFence[n.Name]}
		if in.Leases != nil && n.Name != in.Self {
			st.Lease = leaseSnapshot(in.Leases, n.Name, now, alive)
			if n.IsWitness() {
				// Renewed only to show it answers (a handoff target
				// must): it holds no resources, so no lapse evidence.
				st.Lease = scheduler.LeaseSnapshot{Answering: st.Lease.Answering}
			}
		}
		if ns != nil {
			st.Standby, st.Maintenance, st.FenceRequested = ns.Standby, ns.Maintenance, ns.FenceRequested
			if len(ns.Attributes) > 0 {
				st.Attributes = map[string]string{}
				for k, val := range ns.Attributes {
					st.Attributes[k] = val
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
			case state.Started:
				ob.State = scheduler.StateRunning
			case state.Starting, state.Stopping:
				ob.State, ob.Pending = scheduler.StateRunning, true
			case state.Failed:
				ob.State = scheduler.StateFailed
			case state.Stopped:
				if o.FailCount > 0 && ns.FenceRequested != "" && in.Stonith {
					ob.State = scheduler.StateFailed
				}
			case state.Blocked:
				ob.State, ob.Blocked = scheduler.StateRunning, true
				unmanaged[prim] = true
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

// leaseSnapshot reads what the lease table says about node as plain times.
func leaseSnapshot(t *lease.Table, node string, now time.Time, alive bool) scheduler.LeaseSnapshot {
	var s scheduler.LeaseSnapshot
	at, ok := t.RecoverAt(node)
	switch {
	case !ok:
		// Not leading: no evidence at all.
	case at.IsZero():
		s.Fenced = true
	default:
		s.RecoverAt = at
	}
	if lap, ok := t.LapseAt(node); ok {
		s.LapseAt = lap
	}
	if a, ok := t.LastAck(node); ok && alive && now.Sub(a) <= t.Config().Lease/4 {
		s.Answering = true
	}
	return s
}
