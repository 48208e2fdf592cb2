package node

// guard.go gives the controller the guard (engine/guard): the agents hold
// their teardowns with it, and the watchdog's part is armed with the lease.

import (
	"cmp"
	"log/slog"
	"strings"
	"time"

	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
)

// guardController gives the controller's agents the guard and arms the
// watchdog's part: when the stop after a lapsed lease is overdue (the
// coordinator is about to recover this node's resources elsewhere), the
// guard tears down everything they hold at once. A hardware watchdog would
// reset the node instead; this is what a node without one can do.
//
// It also arms the guard with the lease's deadline on every extension
// (NodeConfig.OnLease): a frozen agent (SIGSTOP, a long stall) can neither
// stop its resources nor ask for a teardown, but the guard's own timer
// fires at the deadline + model.WatchdogGrace, before the coordinator
// recovers them elsewhere. Set cfg.Lease (and LeaseMargin) first.
func guardController(cfg *controller.NodeConfig, grd *guard.Client, logger *slog.Logger) {
	if grd == nil {
		return
	}
	cfg.Types = guardedTypes(cfg.Types, grd)
	grace := model.WatchdogGrace(cfg.Lease, cmp.Or(cfg.LeaseMargin, model.LeaseMargin(cfg.Lease)))
	// The guard is told a new deadline only once it moved by at least the
	// grace: it then always holds one no more than grace older than the
	// real deadline, so it cannot fire (at its deadline + grace) while the
	// lease holds; and each round's small first extension (about a round
	// trip) is not sent, halving the guard's wake-ups.
	var armed time.Time
	cfg.OnLease = func(deadline time.Time) {
		// Called under the lease's lock several times a second: Arm never
		// blocks, and nothing is logged here (the guard logs arm state
		// changes).
		if !deadline.IsZero() && !armed.IsZero() && deadline.After(armed) && deadline.Sub(armed) < grace {
			return
		}
		armed = deadline
		grd.Arm(deadline, grace) // the zero time disarms
	}
	cfg.OnStopOverdue = func(instances []string) {
		logger.Error("WATCHDOG: the stop after this node's lease lapsed is overdue; the guard tears down everything this node's resources hold now (SIGKILL their process groups, delete their addresses, unmount their filesystems)",
			"instances", instances)
		// OnStopOverdue must not block: the guard's pipe is written in
		// the background.
		go grd.TeardownAll("stop after the lease lapsed is overdue: " + strings.Join(instances, ", "))
	}
}

// guardedTypes gives every agent the guard (model.AgentEnv.Guard): the
// reconciler builds agents through lookup and knows nothing of the guard.
func guardedTypes(lookup model.TypeLookup, g model.Guard) model.TypeLookup {
	if g == nil {
		return lookup
	}
	return func(name string) (model.AgentType, bool) {
		t, ok := lookup(name)
		if !ok {
			return nil, false
		}
		return guardedType{AgentType: t, guard: g}, true
	}
}

type guardedType struct {
	model.AgentType
	guard model.Guard
}

func (t guardedType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	env.Guard = t.guard
	return t.AgentType.New(res, env)
}
