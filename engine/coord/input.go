package coord

import (
	"strings"
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
	// Leases says when a lost node's resources may be recovered.
	Leases *lease.Table
	// Stonith: fencing is on and a fencer is available. A lost node's
	// resources are then recovered only after its fence is confirmed (the
	// fence record marks them stopped), never on the lease alone; and a node
	// with a blocked instance (a failed stop) is fenced.
	Stonith bool
}

// Decision is BuildInput's result.
type Decision struct {
	Input scheduler.Input
	// Lapsed lists, per lost node whose lease has certainly lapsed (or that
	// was fenced), the instances the state still shows active there: the
	// coordinator records them stopped before recovering them elsewhere.
	Lapsed map[string][]string
	// Unclean lists lost nodes that may still run resources (lease not
	// certainly lapsed): their resources are not recovered yet.
	Unclean []string
	// LeaseLost lists nodes gossip still sees alive whose lease has
	// certainly lapsed (lease.Table.Lapsed): they count as lost.
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
//     has certainly lapsed (no ack for a whole bound: lease.Table.Lapsed)
//     even while gossip sees it: it stopped its resources, and it cannot
//     start any before its lease is renewed. Failover then waits for the
//     lease alone, not for gossip's failure detector, and a node cut off
//     from the lease wire only (a firewall dropping its UDP) has its
//     resources recovered elsewhere instead of left stopped. The lease
//     sender triggers a computation when a lease lapses or comes back
//     (lease.SenderConfig.OnChange).
//   - If the state shows resources active on an offline node and its
//     lease may still hold, it is unclean (its resources are not
//     recovered) until lease.Table.SafeToRecover.
//   - Observed states: started, starting and stopping count as running,
//     failed as failed, blocked as running with the resource unmanaged
//     (nothing moves it until cleanup).
//   - Fail counts travel with their last failure time (the scheduler applies
//     failure_timeout); a held instance (on_fail stop) gets target role
//     Stopped while its failure counts.
func BuildInput(in Input, now time.Time) Decision {
	v, c := in.View, in.Cluster
	out := Decision{Lapsed: map[string][]string{}, Fence: map[string]string{}}
	recheck := func(t time.Time) {
		if t.After(now) && (out.RecheckAt.IsZero() || t.Before(out.RecheckAt)) {
			out.RecheckAt = t
		}
	}
	si := scheduler.Input{Cluster: c, Nodes: map[string]scheduler.NodeStatus{}, Quorate: in.Quorate,
		Admin: scheduler.Admin{TargetRole: map[string]string{}}}
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
				if state.Active(ns.Resources[id].State) {
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
