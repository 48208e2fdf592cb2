package coord

import (
	"context"
	"sort"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
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

// HandoffTarget says where the coordinator role should move, or "" to keep
// it here. Pure.
//
// Losing the node that also coordinates costs a raft election before a new
// coordinator can even start waiting for the lost node's lease: about
// 0.3–0.7 s more failover on the lan profile. So while this node runs
// resources and another live voter runs none (a witness, an idle node), the
// coordinator moves there: the failure of a node running resources is then
// never also the coordinator's. Only a settled cluster hands off (nothing
// starting or stopping anywhere), and only to a voter running nothing, so
// the role never bounces between nodes: once there it stays while that
// node runs nothing. A witness is preferred, then the node name.
func HandoffTarget(v state.Data, c *model.Cluster, self string, voters []string, alive func(string) bool) (target, why string) {
	if c == nil {
		return "", ""
	}
	running := map[string]int{}
	for _, n := range sortedKeys(v.Nodes) {
		for _, id := range sortedKeys(v.Nodes[n].Resources) {
			switch v.Nodes[n].Resources[id].State {
			case state.Starting, state.Stopping:
				return "", "" // not settled
			}
			if state.Active(v.Nodes[n].Resources[id].State) {
				running[n]++
			}
		}
	}
	if running[self] == 0 {
		return "", ""
	}
	// Settled also means converged: every placed instance is started where
	// placed. A handoff leaves the cluster without a leader for a moment,
	// and a node's report made then must be retried.
	for _, a := range v.Placement.Assignments {
		ns := v.Nodes[a.Node]
		if ns == nil || ns.Resources[a.InstanceID()] == nil || ns.Resources[a.InstanceID()].State != state.Started {
			return "", ""
		}
	}
	var cands []string
	for _, name := range voters {
		if name == self || running[name] > 0 || (alive != nil && !alive(name)) {
			continue
		}
		if _, ok := c.Node(name); !ok {
			continue
		}
		cands = append(cands, name)
	}
	if len(cands) == 0 {
		return "", ""
	}
	witness := func(name string) bool { nd, _ := c.Node(name); return nd.IsWitness() }
	sort.SliceStable(cands, func(i, j int) bool {
		if wi, wj := witness(cands[i]), witness(cands[j]); wi != wj {
			return wi
		}
		return cands[i] < cands[j]
	})
	return cands[0], "this node runs resources and " + cands[0] + " runs none: a failure of this node then costs no election"
}

// handoffHold is the least time between two handoff attempts, and after
// this node became coordinator.
const handoffHold = time.Second

// considerHandoff starts a handoff when HandoffTarget names a voter and the
// hold time has passed. Called from Propose when the placement is settled;
// it returns when to look again (zero: no need).
func (co *StateCoordinator) considerHandoff(v state.Data, c *model.Cluster, now time.Time) (recheck time.Time) {
	h := co.cfg.Handoff
	if h == nil {
		return time.Time{}
	}
	// A target must answer this coordinator's renewals, not only gossip: a
	// node whose lease wire is cut (a firewall dropping its UDP) would
	// renew no one as coordinator, and every lease would lapse.
	answers := func(name string) bool {
		a, ok := co.cfg.Leases.LastAck(name)
		return ok && now.Sub(a) <= co.cfg.Leases.Config().Lease/4 && co.cfg.Members.Alive(name)
	}
	target, why := HandoffTarget(v, c, co.cfg.Name, h.Voters(), answers)
	if target == "" {
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
