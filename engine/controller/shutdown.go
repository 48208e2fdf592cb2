package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/reconcile"
)

// StopResources stops every resource this node runs and waits until none is
// running, busy or unprobed, or until ctx ends. It is the first step of a
// graceful shutdown of the agent (SIGTERM), as `pcs cluster stop` stops a
// node's resources before the node leaves: it runs while this node is still
// a live member, so the coordinator does not start the resources anywhere
// else before they are stopped here; once the node has left, the coordinator
// places them elsewhere at once (a clean leave needs no lease wait).
//
// From the first call on, the node stays in stop-all mode until it is closed.
func (n *Node) StopResources(ctx context.Context) error {
	n.stopping.Store(true)
	n.MembershipChanged() // wake Run so the next Desired is stop-all
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		active := activeInstances(n.rec.Status())
		if len(active) == 0 {
			n.log.Info("graceful shutdown: every resource on this node is stopped")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop resources before leaving: %s still active when the shutdown deadline passed: %w",
				strings.Join(active, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

// activeInstances names the instances that run, have an operation in flight,
// or are blocked (a failed stop: still possibly active).
func activeInstances(st []reconcile.InstanceStatus) []string {
	var out []string
	for _, s := range st {
		if s.Running || s.Busy != "" || s.Blocked {
			out = append(out, s.ID)
		}
	}
	sort.Strings(out)
	return out
}
