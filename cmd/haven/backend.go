package main

// backend.go adapts the agent's components (membership, raft, the state
// machine) to engine/api's Backend: status, the committed configuration, and
// `config apply` on the server side.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/membership"
)

// agentBackend serves the API from the running components.
type agentBackend struct {
	name string
	// startup is the file the agent started with: what status shows and what
	// live changes are checked against until a configuration is committed.
	startup *model.Cluster
	mem     *membership.Membership
	node    *consensus.Node // set before the API starts
	st      *state.State
	log     *slog.Logger
	// ctl is the resource engine (set before the API starts).
	ctl *controller.Node
}

func (b *agentBackend) Quorum() api.QuorumView { return quorumView(b.mem.Status()) }

// committed returns the committed configuration, or the startup file while
// nothing is committed (version 0).
func (b *agentBackend) committed() (*model.Cluster, uint64) {
	c, v, err := b.st.Cluster()
	if err != nil || v == 0 || c == nil {
		return b.startup, v
	}
	return c, v
}

// Status is the answering node's view; reads are local (no leader round trip).
func (b *agentBackend) Status(context.Context) (api.StatusView, error) {
	cl, version := b.committed()
	ms := b.mem.Status()
	cs := b.node.Status()
	data := b.st.View()
	v := api.StatusView{
		Cluster: cl.Cluster.Name, Node: b.name, Leader: cs.Leader, ConfigVersion: version,
		Quorum: quorumView(ms), Nodes: []api.NodeView{}, Resources: []api.ResourceView{},
		Consensus: api.ConsensusView{State: cs.State, Term: cs.Term, Applied: cs.Applied,
			Voters: append([]string{}, cs.Voters...), NonVoters: cs.NonVoters, StateIndex: data.Index},
	}
	online := map[string]bool{}
	for _, m := range ms.Members {
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
	if b.ctl != nil {
		ns := b.ctl.Status()
		v.Controller = &api.ControllerView{Leading: ns.Leading, Mode: ns.Mode, ModeWhy: ns.ModeWhy,
			LeaseValid: ns.LeaseValid, LeaseUntil: ns.LeaseUntil, Unclean: ns.Unclean, LeaseLost: ns.LeaseLost}
		for i := range v.Nodes {
			switch {
			case slices.Contains(ns.Unclean, v.Nodes[i].Name):
				v.Nodes[i].State = "unclean"
			case slices.Contains(ns.LeaseLost, v.Nodes[i].Name):
				v.Nodes[i].State = "no-lease"
			}
		}
	}
	return v, nil
}

// failedActions lists every instance with a recorded failure, by node then
// instance.
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

// resourceViews combines the committed placement with what nodes reported.
// A clone instance's report is keyed "ID:N"; it counts for resource ID.
func resourceViews(cl *model.Cluster, data state.Data) []api.ResourceView {
	placed := map[string][]string{}
	reasons := map[string]string{}
	for _, a := range data.Placement.Assignments {
		if a.Node != "" {
			placed[a.Resource] = append(placed[a.Resource], a.Node)
		} else if a.Reason != "" {
			reasons[a.Resource] = a.Reason
		}
	}
	nodeNames := make([]string, 0, len(data.Nodes))
	for n := range data.Nodes {
		nodeNames = append(nodeNames, n)
	}
	sort.Strings(nodeNames)
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
		for _, s := range []string{state.Failed, state.Blocked, state.Stopping, state.Starting, state.Started} {
			if seen[s] {
				rv.State = s
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

// Config returns the committed configuration file. A barrier through the
// leader first makes the read linearizable (what `config apply` reads its
// base version from); without a leader the local copy is returned, marked
// stale.
func (b *agentBackend) Config(ctx context.Context) (api.ConfigView, error) {
	bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	berr := b.node.Barrier(bctx)
	cancel()
	c := b.st.View().Config
	return api.ConfigView{Version: c.Version, YAML: string(c.YAML), Time: c.Time, By: c.By, Stale: berr != nil}, nil
}

// applyTimeout bounds one configuration commit (leader election included).
const applyTimeout = 20 * time.Second

// ApplyConfig checks the new file, diffs it against the committed one and,
// unless a dry run, commits it through raft with the base version.
func (b *agentBackend) ApplyConfig(ctx context.Context, req api.ConfigRequest) (api.ConfigResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	next, err := config.Parse("the new configuration", []byte(req.YAML), config.Options{Types: resourceTypes})
	if err != nil {
		return api.ConfigResponse{}, &api.Error{Status: 400, Message: "the configuration is not valid; nothing changed:\n" + err.Error()}
	}
	// A barrier makes the version check and the diff linearizable: this
	// node's state holds everything committed before the request.
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
	berr := b.node.Barrier(bctx)
	bcancel()
	if berr != nil && !req.DryRun {
		return api.ConfigResponse{}, &api.Error{Status: 503, Message: fmt.Sprintf("no raft leader reachable from %s (%v); nothing changed: a majority of the voters must run to commit a change (haven status shows them)", b.name, berr)}
	}
	old, version := b.committed()
	base := *req.BaseVersion
	if base != version {
		return api.ConfigResponse{}, api.Conflict(base, version)
	}
	var prev *model.Cluster
	if version > 0 {
		prev = old
	}
	diff := config.Compare(prev, next)
	resp := api.ConfigResponse{Diff: diff, DiffText: diff.String(), Version: version, BaseVersion: base, DryRun: req.DryRun}
	if err := liveChange(old, next); err != nil {
		return api.ConfigResponse{}, &api.Error{Status: 422, Message: err.Error()}
	}
	resp.Notes = restartNotes(diff)
	q := b.mem.Quorum()
	resp.Placement = placementChanges(prev, next, b.st.View(), b.name, aliveView{b.mem}.Alive, q.Quorate, time.Now())
	if req.DryRun {
		return resp, nil
	}
	if diff.Empty() && version > 0 {
		resp.Notes = append(resp.Notes, "no changes; nothing committed")
		return resp, nil
	}
	by := req.By
	if by == "" {
		by = "api@" + b.name
	}
	cmd, err := state.NewCommand(state.CmdSetConfig, time.Now(), by, state.SetConfig{Base: base, YAML: []byte(req.YAML)})
	if err != nil {
		return api.ConfigResponse{}, err
	}
	res, err := b.node.Apply(ctx, cmd)
	switch {
	case errors.Is(err, state.ErrStale):
		cur, _ := b.st.ConfigVersion()
		if cur == base { // this node has not applied the winner yet
			cur = base + 1
		}
		return api.ConfigResponse{}, api.Conflict(base, cur)
	case errors.Is(err, consensus.ErrNoLeader):
		return api.ConfigResponse{}, &api.Error{Status: 503, Message: fmt.Sprintf("no raft leader reachable (%v); nothing changed", err)}
	case errors.Is(err, consensus.ErrUnknownOutcome):
		return api.ConfigResponse{}, &api.Error{Status: 503, Message: fmt.Sprintf("the change was submitted but its outcome is unknown (%v): run 'haven config show' — if the version is %d and holds your file, it was committed", err, base+1)}
	case errors.Is(err, state.ErrRejected), errors.Is(err, consensus.ErrInvalid):
		return api.ConfigResponse{}, &api.Error{Status: 422, Message: err.Error()}
	case err != nil:
		return api.ConfigResponse{}, err
	}
	var cr state.ConfigResult
	if err := json.Unmarshal(res.Value, &cr); err != nil {
		return api.ConfigResponse{}, fmt.Errorf("committed at index %d, but the result does not decode: %w", res.Index, err)
	}
	// Let this node apply it too, so the next read here shows it.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	_ = b.st.WaitIndex(wctx, res.Index)
	wcancel()
	resp.Version, resp.Applied = cr.Version, true
	b.log.Info("configuration committed", "version", cr.Version, "by", by, "changes", len(diff.Changes))
	return resp, nil
}

// liveChange refuses what a running cluster cannot change, with the steps
// to take instead: consensus's own checks (voter set, raft addresses, the
// cluster name), then a node's links and ports, the key file and the data
// directory.
func liveChange(old, next *model.Cluster) error {
	if _, err := consensus.CheckChange(old, next, nil); err != nil {
		return fmt.Errorf("this change cannot be applied to the running cluster; nothing changed: %w", err)
	}
	var errs []string
	for _, n := range next.Nodes {
		p, ok := old.Node(n.Name)
		if !ok {
			continue
		}
		og, or, oa := p.Ports()
		ng, nr, na := n.Ports()
		if !slices.Equal(p.Addresses, n.Addresses) || og != ng || or != nr || oa != na {
			errs = append(errs, fmt.Sprintf("node %s's addresses or ports change (%s gossip %d raft %d api %d -> %s gossip %d raft %d api %d); "+
				"that cannot change live: remove the node from the file and apply, stop its agent and clear its data directory, "+
				"then add it back with the new addresses and apply, and start it",
				n.Name, strings.Join(p.Addresses, ","), og, or, oa, strings.Join(n.Addresses, ","), ng, nr, na))
		}
	}
	if old.Cluster.KeyFile != next.Cluster.KeyFile {
		errs = append(errs, fmt.Sprintf("cluster.key_file changes (%q -> %q); the cluster key cannot change live: stop every agent, "+
			"install the new key on every node, record it in each data directory (storage.Rekey), change key_file in every file, and start every agent",
			old.Cluster.KeyFile, next.Cluster.KeyFile))
	}
	if old.Cluster.DataDir != next.Cluster.DataDir {
		errs = append(errs, fmt.Sprintf("cluster.data_dir changes (%q -> %q); that cannot change live: stop each agent in turn, move its data directory, "+
			"start it with --data-dir, and change the file once every node runs from the new place", old.Cluster.DataDir, next.Cluster.DataDir))
	}
	if len(errs) > 0 {
		return fmt.Errorf("this change cannot be applied to the running cluster; nothing changed:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// restartNotes says which committed changes running agents only pick up when
// they restart (membership and timing read the file at start).
func restartNotes(d config.Diff) []string {
	var notes []string
	for _, c := range d.Changes {
		switch {
		case c.Section == config.SectionNode && (c.Kind == config.Added || c.Kind == config.Removed):
			notes = append(notes, fmt.Sprintf("node %s is %s: raft's voters follow at once; gossip and quorum pick it up when each agent restarts (restart them one at a time)", c.ID, c.Kind))
		case c.Section == config.SectionCluster:
			notes = append(notes, "cluster settings change: quorum and timing settings take effect when each agent restarts (restart them one at a time)")
		}
	}
	return notes
}

// quorumView converts membership's snapshot to the API's wire shape.
func quorumView(s membership.Status) api.QuorumView {
	v := api.QuorumView{
		Quorate: s.Quorum.Quorate, ExpectedVotes: s.Quorum.ExpectedVotes, HighestExpected: s.Quorum.HighestExpected,
		TotalVotes: s.Quorum.TotalVotes, Quorum: s.Quorum.Quorum, Flags: append([]string{}, s.Quorum.Flags...),
		Members: []api.MemberView{},
	}
	for _, m := range s.Members {
		mv := api.MemberView{Name: m.Name, Votes: m.Votes, Online: m.Online, State: m.State, Local: m.Local, Links: []api.LinkView{}}
		for _, l := range m.Links {
			mv.Links = append(mv.Links, api.LinkView{Link: l.Link, Address: l.Address, Up: l.Up})
		}
		v.Members = append(v.Members, mv)
	}
	return v
}
