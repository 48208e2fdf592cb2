package scheduler

import "github.com/havenha/haven/engine/model"

// holdForFence keeps an instance that a plan takes off a node being fenced
// without a new node until the fence is confirmed (stage "fence hold",
// after transition): the plan stops it there ("stop web on n1") and the plan
// computed after the fence (whose record marks it stopped and clears the
// request) places it elsewhere. A lost node's reports cannot make such an
// instance look stopped early, but a node fenced for a failure (on_fail
// fence) is still up and does report its own stop; starting the instance
// elsewhere on the strength of that report would recover it before the
// fence.
func holdForFence(plan model.Plan, fencing map[string]bool) model.Plan {
	if len(fencing) == 0 {
		return plan
	}
	held := map[string]string{} // instance -> the node being fenced
	for i, a := range plan.Actions {
		if a.Action != model.ActionMove || !fencing[a.From] {
			continue
		}
		held[actionInstance(a)] = a.From
		a.Action, a.Node, a.From = model.ActionStop, a.From, ""
		a.Reason += "; recovered once the fence is confirmed"
		plan.Actions[i] = a
	}
	if len(held) == 0 {
		return plan
	}
	out := plan
	out.Assignments = make([]model.Assignment, len(plan.Assignments))
	onNode := map[string]bool{} // primitive + node still assigned
	for i, a := range plan.Assignments {
		id := a.Resource
		if a.Instance != "" {
			id = a.Instance
		}
		if from, ok := held[id]; ok && a.Node != "" && a.Node != from {
			a.Node, a.Reason = "", "waiting for the fence of "+from
		}
		out.Assignments[i] = a
		if a.Node != "" {
			onNode[a.Resource+"\x00"+a.Node] = true
		}
	}
	// Only primitives' lists follow their assignments; groups and clones map
	// to where their members run and are left as they are.
	prims := map[string]bool{}
	for _, a := range plan.Assignments {
		prims[a.Resource] = true
	}
	out.Placement = make(map[string][]string, len(plan.Placement))
	for id, nodes := range plan.Placement {
		var keep []string
		for _, nd := range nodes {
			if !prims[id] || onNode[id+"\x00"+nd] {
				keep = append(keep, nd)
			}
		}
		out.Placement[id] = keep
	}
	return out
}

func actionInstance(a model.Action) string {
	if a.Instance != "" {
		return a.Instance
	}
	return a.Resource
}
