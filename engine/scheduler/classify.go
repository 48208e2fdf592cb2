package scheduler

import (
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
)

// classification is the classify stage's result.
type classification struct {
	// nodes is the input's node map with Online and Unclean decided.
	nodes map[string]NodeStatus
	// states is every configured node's class, by name.
	states []model.NodeState
	// fences are the fence actions, by node name.
	fences []model.Action
	// fencing names the nodes being fenced (their resources are held).
	fencing map[string]bool
	// recheck is the earliest instant a class changes by itself.
	recheck time.Time
}

// classify decides what each configured node is (stage "classify", before
// build): online, standby, maintenance, offline, unclean (live, must be
// fenced), lost-unclean, lost-lease-lapsed or fenced, with the reason. This
// is where failover is decided: a lost node's resources may start elsewhere
// only when it is lost-lease-lapsed (its lease has certainly lapsed, stonith
// off) or fenced; a lost-unclean node holds them, and with stonith it gets a
// fence action.
//
// A node is lost when it is not a live member, or (Input.Leases) when its
// lease snapshot's LapseAt has passed although gossip still sees it.
// Without Input.Leases a node that is not online is offline and runs nothing
// (Pacemaker's view of a cleanly stopped node), unless marked Unclean.
func classify(in Input, now time.Time) classification {
	out := classification{nodes: make(map[string]NodeStatus, len(in.Nodes)), fencing: map[string]bool{}}
	for name, st := range in.Nodes {
		out.nodes[name] = st
	}
	c := in.Cluster
	if c == nil {
		return out
	}
	active := map[string][]string{}  // node -> instances running or failed there
	blocked := map[string][]string{} // node -> instances blocked after a failed stop
	for _, o := range in.Resources {
		if o.State == StateRunning || o.State == StateFailed {
			active[o.Node] = append(active[o.Node], o.Resource)
		}
		if o.Blocked {
			blocked[o.Node] = append(blocked[o.Node], o.Resource)
		}
	}
	names := make([]string, 0, len(c.Nodes))
	witness := map[string]bool{}
	for _, n := range c.Nodes {
		if _, dup := witness[n.Name]; dup || n.Name == "" {
			continue
		}
		witness[n.Name] = n.IsWitness()
		names = append(names, n.Name)
	}
	sort.Strings(names)
	recheck := func(t time.Time) {
		if t.After(now) && (out.recheck.IsZero() || t.Before(out.recheck)) {
			out.recheck = t
		}
	}
	for _, name := range names {
		st := out.nodes[name]
		act := dedupeSorted(active[name])
		ns := model.NodeState{Node: name}
		fence := ""
		alive := st.Online
		leaseLost := false
		self := in.Coordinator != nil && in.Coordinator.Self == name
		if alive && in.Leases && !self && !witness[name] && !st.Lease.LapseAt.IsZero() && now.After(st.Lease.LapseAt) {
			alive, leaseLost = false, true
		}
		fenced := st.Lease.Fenced || (st.LastFence != nil && st.LastFence.OK)
		switch {
		case alive && st.FenceRequested != "" && in.Stonith:
			ns.State, ns.Reason = model.NodeUnclean, "fence requested: "+st.FenceRequested
			st.Unclean, fence = true, st.FenceRequested
		case alive && len(blocked[name]) > 0 && in.Stonith:
			why := strings.Join(dedupeSorted(blocked[name]), ", ") + " blocked after a failed stop"
			ns.State, ns.Reason = model.NodeUnclean, why
			st.Unclean, fence = true, why
		case alive && st.Unclean:
			ns.State, ns.Reason = model.NodeUnclean, "marked unclean"
		case alive && st.Maintenance:
			ns.State = model.NodeMaintenance
		case alive && (st.Standby || st.FenceRequested != ""):
			ns.State = model.NodeStandby
			if !st.Standby {
				// No fencer: keep it empty, as standby would.
				ns.Reason = "fence requested (" + st.FenceRequested + ") but stonith is off: kept empty"
				st.Standby = true
			}
		case alive:
			ns.State = model.NodeOnline
		case st.Unclean:
			ns.State, ns.Reason, ns.Active = model.NodeLostUnclean, "lost; marked unclean", act
			if in.Stonith && len(act) > 0 {
				fence = "node lost with " + strings.Join(act, ", ") + " active"
			}
		case len(act) == 0:
			ns.State = model.NodeOffline
			if fenced {
				ns.State = model.NodeFenced
			}
			if leaseLost {
				ns.Reason = "its lease lapsed although gossip sees it"
			}
		case in.Stonith:
			// Only a confirmed fence recovers them (the fence record marks
			// them stopped), never the lease alone.
			ns.State, ns.Active = model.NodeLostUnclean, act
			ns.Reason = lostWhy(leaseLost) + " with " + strings.Join(act, ", ") + " active: fence it first"
			st.Unclean, fence = true, "node lost with "+strings.Join(act, ", ")+" active"
		case !in.Leases:
			ns.State, ns.Reason = model.NodeOffline, "not a live member: counted as running nothing"
		case st.Lease.Fenced:
			ns.State, ns.Reason, ns.Active = model.NodeFenced, "fence confirmed: recorded stopped there", act
		case !st.Lease.RecoverAt.IsZero() && now.After(st.Lease.RecoverAt):
			ns.State, ns.Active = model.NodeLostLeaseLapsed, act
			ns.Reason = "lost: its lease certainly lapsed at " + st.Lease.RecoverAt.UTC().Format(time.RFC3339Nano) + ", so it stopped what it ran"
			if leaseLost {
				ns.Reason = "gossip sees it, but " + ns.Reason[len("lost: "):]
			}
		default:
			ns.State, ns.Active = model.NodeLostUnclean, act
			st.Unclean = true
			if st.Lease.RecoverAt.IsZero() {
				ns.Reason = lostWhy(leaseLost) + "; no lease evidence yet: its resources stay where they are"
			} else {
				ns.Reason = lostWhy(leaseLost) + "; its lease may hold until " + st.Lease.RecoverAt.UTC().Format(time.RFC3339Nano)
				// One tick past the bound: the test above is strict.
				recheck(st.Lease.RecoverAt.Add(time.Millisecond))
			}
		}
		if !alive {
			st.Online = false
		}
		if ns.State == model.NodeLostLeaseLapsed || ns.State == model.NodeFenced || ns.State == model.NodeOffline {
			st.Unclean = false
		}
		if fence != "" && !self {
			reason := fence
			if lf := st.LastFence; lf != nil && !lf.OK {
				reason += "; the last attempt (" + lf.At.UTC().Format(time.RFC3339) + ") failed: " + lf.Error
			}
			out.fences = append(out.fences, model.Action{Action: model.ActionFence, Node: name, Reason: reason})
			out.fencing[name] = true
		}
		out.nodes[name] = st
		out.states = append(out.states, ns)
	}
	return out
}

func lostWhy(leaseLost bool) string {
	if leaseLost {
		return "lost (its lease lapsed although gossip sees it)"
	}
	return "lost"
}

func dedupeSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}
