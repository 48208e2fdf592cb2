package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

// Config returns the committed configuration file. A barrier through the
// leader first makes the read linearizable (what `config apply` reads its
// base version from); without a leader the local copy is returned, marked
// stale.
func (s *Service) Config(ctx context.Context) (api.ConfigView, error) {
	bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	berr := s.cfg.Log.Barrier(bctx)
	cancel()
	c := s.cfg.State.View().Config
	return api.ConfigView{Version: c.Version, YAML: string(c.YAML), Time: c.Time, By: c.By, Stale: berr != nil}, nil
}

// ApplyConfig checks the new file, diffs it against the committed one and,
// unless a dry run, commits it through the log with the base version: the
// state refuses it if another change was committed since (409), so two
// operators editing at once cannot overwrite each other.
func (s *Service) ApplyConfig(ctx context.Context, req api.ConfigRequest) (api.ConfigResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if req.BaseVersion == nil {
		return api.ConfigResponse{}, &api.Error{Status: 400, Message: "base_version is missing; expected the committed version the file was edited from (GET /v1/config), 0 when nothing is committed"}
	}
	next, err := config.Parse("the new configuration", []byte(req.YAML), s.cfg.ConfigOptions)
	if err != nil {
		return api.ConfigResponse{}, &api.Error{Status: 400, Message: "the configuration is not valid; nothing changed:\n" + err.Error()}
	}
	// A barrier makes the version check and the diff linearizable: this
	// node's state holds everything committed before the request. A dry
	// run goes on without one (on this node's copy).
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
	berr := s.cfg.Log.Barrier(bctx)
	bcancel()
	if berr != nil && !req.DryRun {
		return api.ConfigResponse{}, s.noLeader(berr)
	}
	old, version := s.committed()
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
	if err := liveChange(s.cfg.CheckChange, old, next); err != nil {
		return api.ConfigResponse{}, &api.Error{Status: 422, Message: err.Error()}
	}
	resp.Notes = restartNotes(diff)
	resp.Placement = s.placementChanges(prev, next, s.cfg.State.View(), s.now())
	if req.DryRun {
		return resp, nil
	}
	if diff.Empty() && version > 0 {
		resp.Notes = append(resp.Notes, "no changes; nothing committed")
		return resp, nil
	}
	by := s.by(req.By)
	cmd, err := state.NewCommand(state.CmdSetConfig, s.now(), by, state.SetConfig{Base: base, YAML: []byte(req.YAML)})
	if err != nil {
		return api.ConfigResponse{}, err
	}
	res, err := s.cfg.Log.Apply(ctx, cmd)
	switch {
	case errors.Is(err, state.ErrStale):
		cur, _ := s.cfg.State.ConfigVersion()
		if cur == base { // this node has not applied the winner yet
			cur = base + 1
		}
		return api.ConfigResponse{}, api.Conflict(base, cur)
	case errors.Is(err, ErrNoLeader):
		return api.ConfigResponse{}, &api.Error{Status: 503, Message: fmt.Sprintf("no raft leader reachable (%v); nothing changed", err)}
	case errors.Is(err, ErrUnknownOutcome):
		return api.ConfigResponse{}, &api.Error{Status: 503, Message: fmt.Sprintf("the change was submitted but its outcome is unknown (%v): run 'haven config show' — if the version is %d and holds your file, it was committed", err, base+1)}
	case errors.Is(err, state.ErrRejected), errors.Is(err, ErrInvalid):
		return api.ConfigResponse{}, &api.Error{Status: 422, Message: err.Error()}
	case err != nil:
		return api.ConfigResponse{}, err
	}
	var cr state.ConfigResult
	if err := json.Unmarshal(res.Value, &cr); err != nil {
		return api.ConfigResponse{}, fmt.Errorf("committed at index %d, but the result does not decode: %w", res.Index, err)
	}
	s.waitApplied(ctx, res.Index)
	resp.Version, resp.Applied = cr.Version, true
	s.log.Info("configuration committed", "version", cr.Version, "by", by, "changes", len(diff.Changes))
	return resp, nil
}

// liveChange refuses what a running cluster cannot change, with the steps
// to take instead: the consensus layer's own checks (voter set, raft
// addresses, the cluster name), then a node's links and ports, the key
// file and the data directory.
func liveChange(check func(old, next *model.Cluster) error, old, next *model.Cluster) error {
	if check != nil {
		if err := check(old, next); err != nil {
			return fmt.Errorf("this change cannot be applied to the running cluster; nothing changed: %w", err)
		}
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

// placementChanges is what a configuration change would do to placement:
// the scheduler run twice on the same replicated state and membership view,
// once with the committed configuration and once with the new one (as the
// coordinator builds its input), and the resources, groups and clones whose
// nodes differ. old may be nil (nothing committed yet: everything starts
// from stopped).
func (s *Service) placementChanges(old, next *model.Cluster, view state.Data, now time.Time) []api.PlacementChange {
	quorate := s.cfg.Members.Quorum().Quorate
	plan := func(c *model.Cluster) map[string][]string {
		if c == nil {
			return map[string][]string{}
		}
		p, _ := scheduler.Compute(s.cfg.Input(c, view, s.cfg.Node, s.cfg.Members.Alive, quorate, now), now)
		return p.Placement
	}
	return diffPlacement(plan(old), plan(next))
}

// diffPlacement lists, sorted by id, the ids whose nodes differ.
func diffPlacement(before, after map[string][]string) []api.PlacementChange {
	ids := map[string]bool{}
	for id := range before {
		ids[id] = true
	}
	for id := range after {
		ids[id] = true
	}
	out := []api.PlacementChange{}
	for _, id := range sortedNames(ids) {
		from, to := before[id], after[id]
		if !slices.Equal(from, to) {
			out = append(out, api.PlacementChange{ID: id, From: orEmpty(from), To: orEmpty(to)})
		}
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
