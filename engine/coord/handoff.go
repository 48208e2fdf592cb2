package coord

import (
	"context"
	"time"
)

// Handoff moves the coordinator role (raft leadership) to another voter.
// The adapter implements it over consensus; nil disables handoffs.
type Handoff interface {
	// Voters returns the names of the raft voters.
	Voters() []string
	// TransferTo hands leadership to voter name and returns when it is done
	// or failed.
	TransferTo(ctx context.Context, name string) error
}

// handoffHold is the least time between two handoff attempts, and after
// this node became coordinator.
const handoffHold = time.Second

// considerHandoff starts a handoff to target (the plan's handoff action:
// engine/scheduler handoff.go says when and where, and that the target
// answers this coordinator's renewals) once the hold time has passed.
// Called from Propose when the committed placement is settled; it returns
// when to look again (zero: no need).
func (co *StateCoordinator) considerHandoff(target, why string, now time.Time) (recheck time.Time) {
	h := co.cfg.Handoff
	if h == nil || target == "" {
		return time.Time{}
	}
	since, leading := co.cfg.Leases.LeaderSince()
	if !leading {
		return time.Time{}
	}
	co.handoffMu.Lock()
	defer co.handoffMu.Unlock()
	if co.handoffBusy {
		return now.Add(handoffHold)
	}
	hold := since.Add(handoffHold)
	if !co.handoffAt.IsZero() && co.handoffAt.Add(handoffHold).After(hold) {
		hold = co.handoffAt.Add(handoffHold)
	}
	if now.Before(hold) {
		return hold
	}
	co.handoffAt, co.handoffBusy = now, true
	co.log.Info("handing the coordinator role over", "to", target, "why", why)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.TransferTo(ctx, target); err != nil {
			co.log.Warn("coordinator handoff failed; staying coordinator", "to", target, "err", err)
		}
		co.handoffMu.Lock()
		co.handoffBusy = false
		co.handoffMu.Unlock()
	}()
	return now.Add(handoffHold)
}
