package coord

import (
	"context"
	"time"

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
