package controller

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
func (n *Node) fence(ctx context.Context, node, why string) {
	n.fenceMu.Lock()
	if n.fencing[node] || n.cfg.Clock.Now().Before(n.fenceNext[node]) {
		n.fenceMu.Unlock()
		return
	}
	n.fencing[node] = true
	n.fenceMu.Unlock()
	n.log.Warn("fencing node before recovering its resources", "target", node, "reason", why)
	go func() {
		err := n.cfg.Fencer.Fence(ctx, node)
		now := n.cfg.Clock.Now()
		rec := state.Fence{Node: node, Action: "off", OK: err == nil}
		if err != nil {
			rec.Error = err.Error()
		}
		if err == nil {
			n.table.Fenced(node)
			n.log.Warn("node fenced: its resources may be recovered", "target", node)
		} else if ctx.Err() == nil {
			n.log.Error("fencing failed; its resources stay where they are until a fence succeeds", "target", node, "err", err, "retry", fenceRetry)
		}
		if ctx.Err() == nil {
			if aerr := n.apply(ctx, state.CmdFence, now, rec); aerr != nil {
				n.log.Error("fence result not recorded", "target", node, "ok", err == nil, "err", aerr)
			}
		}
		n.fenceMu.Lock()
		delete(n.fencing, node)
		if err != nil {
			n.fenceNext[node] = n.cfg.Clock.Now().Add(fenceRetry)
		}
		n.fenceMu.Unlock()
		n.trigger()
	}()
}

// warnOnce logs msg once per Node.
func (n *Node) warnOnce(msg string) {
	n.fenceMu.Lock()
	seen := n.warned[msg]
	n.warned[msg] = true
	n.fenceMu.Unlock()
	if !seen {
		n.log.Warn(msg)
	}
}
