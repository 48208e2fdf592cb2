package scheduler

import (
	"sort"

	"github.com/havenha/haven/engine/model"
)

// handoff says where the coordinator role should move (stage "handoff",
// last), as an action, or nil to keep it.
//
// Losing the node that also coordinates costs a raft election before a new
// coordinator can even start waiting for the lost node's lease: about
// 0.3–0.7 s more failover on the lan profile. So while the coordinator runs
// resources and another live voter runs none (a witness, an idle node), the
// role moves there: the failure of a node running resources is then never
// also the coordinator's. Only a settled cluster hands off (no action in
// this plan, nothing starting or stopping, no node waiting for a fence or a
// lease), and only to a voter running nothing that answers the
// coordinator's lease renewals (a node whose lease wire is cut would renew
// no one), so the role never bounces: once there it stays while that node
// runs nothing. A witness is preferred, then the node name.
func handoff(in Input, plan model.Plan, cl classification) *model.Action {
	co := in.Coordinator
	if co == nil || in.Cluster == nil || len(plan.Actions) > 0 {
		return nil
	}
	for _, ns := range cl.states {
		if ns.State == model.NodeLostUnclean || ns.State == model.NodeUnclean {
			return nil
		}
	}
	running := map[string]int{}
	for _, o := range in.Resources {
		if o.Pending {
			return nil
		}
		if o.State == StateRunning || o.State == StateFailed {
			running[o.Node]++
		}
	}
	if running[co.Self] == 0 {
		return nil
	}
	var cands []string
	for _, name := range co.Voters {
		st := cl.nodes[name]
		if name == co.Self || running[name] > 0 || !st.Online || !st.Lease.Answering {
			continue
		}
		if _, ok := in.Cluster.Node(name); !ok {
			continue
		}
		cands = append(cands, name)
	}
	if len(cands) == 0 {
		return nil
	}
	witness := func(name string) bool { nd, _ := in.Cluster.Node(name); return nd.IsWitness() }
	sort.SliceStable(cands, func(i, j int) bool {
		if wi, wj := witness(cands[i]), witness(cands[j]); wi != wj {
			return wi
		}
		return cands[i] < cands[j]
	})
	return &model.Action{Action: model.ActionHandoff, Node: cands[0], From: co.Self,
		Reason: co.Self + " runs resources and " + cands[0] + " runs none: a failure of " + co.Self + " then costs no election"}
}
