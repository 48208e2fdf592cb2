package coord

import (
	"context"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// Fencer powers a node off (haven's fencing package, or the API's `haven
// fence`). It returns nil only when the node is confirmed off.
type Fencer interface {
	Fence(ctx context.Context, node string) error
}

// fenceRetry is the pause after a failed fence before the next attempt.
const fenceRetry = 5 * time.Second

// fence starts fencing node unless an attempt is in flight or failed less
// than fenceRetry ago. It runs under the leader's ctx: leadership lost ends
// it. Each attempt is recorded (fence.record); a confirmed fence marks the
// node's resources stopped in the state, which lets the coordinator recover
// them, and is noted in the lease table.
func (co *StateCoordinator) fence(ctx context.Context, node, why string) {
	co.fenceMu.Lock()
	if co.fencing[node] || co.cfg.Clock.Now().Before(co.fenceNext[node]) {
		co.fenceMu.Unlock()
		return
	}
	co.fencing[node] = true
	co.fenceMu.Unlock()
	co.log.Warn("fencing node before recovering its resources", "target", node, "reason", why)
	go func() {
		err := co.cfg.Fencer.Fence(ctx, node)
		now := co.cfg.Clock.Now()
		rec := state.Fence{Node: node, Action: "off", OK: err == nil}
		if err != nil {
			rec.Error = err.Error()
		}
		if err == nil {
			co.cfg.Leases.Fenced(node)
			co.log.Warn("node fenced: its resources may be recovered", "target", node)
		} else if ctx.Err() == nil {
			co.log.Error("fencing failed; its resources stay where they are until a fence succeeds", "target", node, "err", err, "retry", fenceRetry)
		}
		if ctx.Err() == nil {
			if aerr := co.apply(ctx, state.CmdFence, now, rec); aerr != nil {
				co.log.Error("fence result not recorded", "target", node, "ok", err == nil, "err", aerr)
			}
		}
		co.fenceMu.Lock()
		delete(co.fencing, node)
		if err != nil {
			co.fenceNext[node] = co.cfg.Clock.Now().Add(fenceRetry)
		}
		co.fenceMu.Unlock()
		co.trigger()
	}()
}

// warnOnce logs msg once per coordinator.
func (co *StateCoordinator) warnOnce(msg string) {
	co.fenceMu.Lock()
	seen := co.warned[msg]
	co.warned[msg] = true
	co.fenceMu.Unlock()
	if !seen {
		co.log.Warn(msg)
	}
}

// holdForFence keeps an instance that a plan takes off a node being fenced
// without a new node until the fence is confirmed: the plan stops it there
// ("stop web on n1"), and the plan computed after the fence (whose record
// marks it stopped and clears the request) places it elsewhere. A lost
// node's reports cannot make such an instance look stopped early, but a
// node fenced for a failure (on_fail fence) is still up and does report
// its own stop; starting the instance elsewhere on the strength of that
// report would recover it before the fence.
func holdForFence(plan model.Plan, fencing map[string]string) model.Plan {
	if len(fencing) == 0 {
		return plan
	}
	held := map[string]string{} // instance -> the node being fenced
	for i, a := range plan.Actions {
		if a.Action != model.ActionMove || fencing[a.From] == "" {
			continue
		}
		held[instanceOrResource(a)] = a.From
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
		if from, ok := held[a.InstanceID()]; ok && a.Node != "" && a.Node != from {
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
