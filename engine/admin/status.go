package admin

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// Quorum is the membership and quorum view (GET /v1/quorum).
func (s *Service) Quorum() api.QuorumView { return s.cfg.Members.Quorum() }

// Status is the answering node's view; reads are local (no leader round
// trip), so it answers without quorum too.
//
// A node's state is offline unless gossip sees it; online, it is
// maintenance or standby as the replicated flags say. The engine's view
// overrides both: unclean (lost, its resources not recovered yet) and
// no-lease (seen, but its lease certainly lapsed: treated as lost).
func (s *Service) Status(context.Context) (api.StatusView, error) {
	cl, version := s.committed()
	q := s.cfg.Members.Quorum()
	cs := s.cfg.Log.Status()
	data := s.cfg.State.View()
	v := api.StatusView{
		Cluster: cl.Cluster.Name, Node: s.cfg.Node, Leader: cs.Leader, ConfigVersion: version,
		Quorum: q, Nodes: []api.NodeView{}, Resources: []api.ResourceView{},
		Consensus: api.ConsensusView{State: cs.State, Term: cs.Term, Applied: cs.Applied,
			Voters: append([]string{}, cs.Voters...), NonVoters: cs.NonVoters, StateIndex: data.Index},
	}
	online := map[string]bool{}
	for _, m := range q.Members {
		online[m.Name] = m.Online
	}
	for _, n := range cl.Nodes {
		nv := api.NodeView{Name: n.Name, State: "offline", Role: n.Role, Voter: slices.Contains(cs.Voters, n.Name)}
		if online[n.Name] {
			nv.State = "online"
			if ns := data.Nodes[n.Name]; ns != nil {
				switch {
				case ns.Maintenance:
					nv.State = "maintenance"
				case ns.Standby:
					nv.State = "standby"
				}
			}
		}
		v.Nodes = append(v.Nodes, nv)
	}
	v.Resources = resourceViews(cl, data)
	v.FailedActions = failedActions(data)
	if s.cfg.Engine == nil {
		return v, nil
	}
	if ev, ok := s.cfg.Engine.Status(); ok {
		v.Controller = &ev
		for i := range v.Nodes {
			switch {
			case slices.Contains(ev.Unclean, v.Nodes[i].Name):
				v.Nodes[i].State = "unclean"
			case slices.Contains(ev.LeaseLost, v.Nodes[i].Name):
				v.Nodes[i].State = "no-lease"
			}
		}
	}
	return v, nil
}

// failedActions lists every instance with a recorded failure, by node then
// instance (crm_mon's "Failed Resource Actions").
func failedActions(data state.Data) []api.FailedAction {
	var out []api.FailedAction
	for _, n := range sortedNames(data.Nodes) {
		res := data.Nodes[n].Resources
		for _, id := range sortedNames(res) {
			o := res[id]
			if o.FailCount == 0 && o.State != state.Failed && o.State != state.Blocked && !o.Held {
				continue
			}
			out = append(out, api.FailedAction{Resource: id, Node: n, State: o.State, FailCount: o.FailCount,
				LastFailure: o.LastFailure, Reason: o.Reason, Held: o.Held})
		}
	}
	return out
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resourceViews combines what nodes reported with the committed plan's
// reason for leaving a resource unplaced.
// A clone instance's report is keyed "ID:N"; it counts for resource ID.
// The state shown is the most alarming one reported anywhere (failed,
// blocked, stopping, starting, started; else stopped).
func resourceViews(cl *model.Cluster, data state.Data) []api.ResourceView {
	reasons := map[string]string{}
	for _, a := range data.Placement.Assignments {
		if a.Node == "" && a.Reason != "" {
			reasons[a.Resource] = a.Reason
		}
	}
	nodeNames := sortedNames(data.Nodes)
	out := []api.ResourceView{}
	for _, r := range cl.Resources {
		rv := api.ResourceView{ID: r.ID, Type: r.Type, State: state.Stopped, Nodes: []string{}, FailCounts: map[string]int{}, Reason: reasons[r.ID]}
		seen := map[string]bool{}
		for _, n := range nodeNames {
			for id, o := range data.Nodes[n].Resources {
				if id != r.ID && !strings.HasPrefix(id, r.ID+":") {
					continue
				}
				if o.FailCount > 0 {
					rv.FailCounts[n] += o.FailCount
				}
				seen[o.State] = true
				if o.State == state.Started && !slices.Contains(rv.Nodes, n) {
					rv.Nodes = append(rv.Nodes, n)
				}
			}
		}
		for _, st := range []string{state.Failed, state.Blocked, state.Stopping, state.Starting, state.Started} {
			if seen[st] {
				rv.State = st
				break
			}
		}
		if len(rv.Nodes) > 0 {
			rv.Node = rv.Nodes[0]
		}
		out = append(out, rv)
	}
	return out
}
