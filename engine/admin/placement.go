package admin

// placement.go is `haven resource move|ban|clear|enable|disable|where` and
// the runtime constraints `haven status` lists. Each change is checked
// against the committed configuration and the replicated state, the
// scheduler is run on that state with the change to say what the cluster
// will do (and to refuse a move to a node where the resource cannot run),
// and only then is the change committed. A refused request commits
// nothing. The rules are crm_resource's; doc.go lists them.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

// editResource applies f to id's administrative state in v (a View copy).
func editResource(v *state.Data, id string, f func(*state.ResourceState)) {
	if v.Resources == nil {
		v.Resources = map[string]*state.ResourceState{}
	}
	rs := v.Resources[id]
	if rs == nil {
		rs = &state.ResourceState{}
		v.Resources[id] = rs
	}
	f(rs)
}

// dropPreferences removes the preferences of rs for which drop is true.
func dropPreferences(rs *state.ResourceState, drop func(state.Preference) bool) {
	kept := rs.Preferences[:0:0]
	for _, p := range rs.Preferences {
		if !drop(p) {
			kept = append(kept, p)
		}
	}
	rs.Preferences = kept
}

// preview is what change (applied to a copy of v) does to placement: the
// changed resources, groups and clones, the new plan and its explanation.
func (s *Service) preview(c *model.Cluster, v state.Data, change func(*state.Data)) ([]api.PlacementChange, model.Plan, scheduler.Explanation) {
	now := s.now()
	before, _ := s.schedule(c, v, now)
	change(&v)
	after, why := s.schedule(c, v, now)
	return diffPlacement(before.Placement, after.Placement), after, why
}

// cannotRun says why the plan's explanation gives id no chance on node:
// node states that exclude it and negative contributions. blocked is false
// when the explanation has no such obstacle (the resource could run there).
func cannotRun(why scheduler.Explanation, id, node string) (reasons []string, blocked bool) {
	for _, rs := range why.Resources {
		if rs.Resource != id {
			continue
		}
		for _, ns := range rs.Scores {
			if ns.Node != node {
				continue
			}
			for _, ct := range ns.Contributions {
				switch {
				case strings.Contains(ct.Source, "cannot run"):
					reasons, blocked = append(reasons, ct.Source), true
				case ct.Score < 0:
					reasons = append(reasons, fmt.Sprintf("%s (%s)", ct.Source, ct.Score))
				}
			}
			if ns.Score < 0 {
				blocked = true
			}
		}
	}
	return reasons, blocked
}

// notPlacedReason is the plan's reason for leaving id's primitives unplaced.
func notPlacedReason(c *model.Cluster, plan model.Plan, id string) string {
	prims, _ := primitivesOf(c, id)
	for _, a := range plan.Assignments {
		if slices.Contains(prims, a.Resource) && a.Node == "" && a.Reason != "" {
			return a.Reason
		}
	}
	return "no node can run it"
}

// Move implements api.PlacementBackend.
func (s *Service) Move(ctx context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	return s.prefer(ctx, req, state.PrefMove)
}

// Ban implements api.PlacementBackend.
func (s *Service) Ban(ctx context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	return s.prefer(ctx, req, state.PrefBan)
}

// prefer checks, previews and commits a move or a ban.
func (s *Service) prefer(ctx context.Context, req api.MoveRequest, kind string) (api.MoveResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := s.current(ctx); err != nil {
		return api.MoveResponse{}, err
	}
	c, _ := s.committed()
	v := s.cfg.State.View()
	id := req.Resource
	if _, ok := resourceKind(c, id); !ok {
		return api.MoveResponse{}, unknownResource(c, id)
	}
	var life model.Duration
	if req.Lifetime != "" {
		d, err := api.ParseLifetime(req.Lifetime)
		if err != nil {
			return api.MoveResponse{}, &api.Error{Status: 400, Message: err.Error()}
		}
		life = model.Duration(d)
	}
	if cl, ok := cloneOf(c, id); ok && kind == state.PrefMove && req.Node != "" {
		return api.MoveResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("%s is a clone or part of clone %s: its instances run on every node allowed, so it has no one node to move to; "+
			"nothing changed. Keep an instance off a node with 'haven resource ban %s NODE' (undo with 'haven resource clear %s')", id, cl, id, id)}
	}
	from := runningNodes(c, v, id)
	node := req.Node
	if node == "" {
		verb := "ban"
		if kind == state.PrefMove {
			verb = "move"
		}
		switch len(from) {
		case 0:
			return api.MoveResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("%s is not running on any node, so there is no current node to %s it from; nothing changed. Name a node: 'haven resource %s %s NODE'",
				id, verb, verb, id)}
		case 1:
			node, kind = from[0], state.PrefBan // move away = ban the current node
		default:
			return api.MoveResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("%s runs on %s; nothing changed: name the node to %s it from ('haven resource ban %s NODE')",
				id, strings.Join(from, ", "), verb, id)}
		}
	}
	n, ok := c.Node(node)
	if !ok {
		return api.MoveResponse{}, unknownNode(c, node)
	}
	if n.IsWitness() {
		return api.MoveResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("node %s is a witness: it votes but runs no resources, so %s cannot %s there; nothing changed. Resource nodes: %s",
			node, id, map[string]string{state.PrefMove: "move", state.PrefBan: "be banned"}[kind], strings.Join(resourceNodeNames(c), ", "))}
	}
	resp := api.MoveResponse{Resource: id, Kind: kind, Node: node, From: from}
	var clearFirst bool
	changes, plan, why := s.preview(c, v, func(d *state.Data) {
		editResource(d, id, func(rs *state.ResourceState) {
			if kind == state.PrefMove {
				dropPreferences(rs, func(p state.Preference) bool {
					if p.Kind == state.PrefBan && p.Node == node {
						clearFirst = true
						resp.Cleared = append(resp.Cleared, preferenceView(id, p))
						return true
					}
					return p.Kind == state.PrefMove
				})
			} else {
				dropPreferences(rs, func(p state.Preference) bool { return p.Kind == state.PrefBan && p.Node == node })
			}
			rs.Preferences = append(rs.Preferences, state.Preference{Kind: kind, Node: node, Since: s.now()})
		})
	})
	resp.Placement = changes
	placed := plan.Placement[id]
	switch {
	case kind == state.PrefMove && !slices.Contains(placed, node):
		reasons, blocked := cannotRun(why, id, node)
		if blocked && !req.Force {
			return api.MoveResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("%s cannot run on %s: %s; nothing changed (--force commits the move anyway: %s would run there once it can)",
				id, node, strings.Join(reasons, "; "), id)}
		}
		w := fmt.Sprintf("%s will not run on %s yet", id, node)
		switch {
		case len(reasons) > 0:
			w += ": " + strings.Join(reasons, "; ")
		case len(placed) == 0:
			w += ": " + notPlacedReason(c, plan, id)
		default:
			w += fmt.Sprintf(": the scheduler places it on %s", strings.Join(placed, ", "))
		}
		resp.Warnings = append(resp.Warnings, w)
	case len(placed) == 0:
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%s will not run anywhere: %s", id, notPlacedReason(c, plan, id)))
	}
	by := s.by(req.By)
	if clearFirst {
		if _, err := s.commit(ctx, state.CmdClear, by, state.Clear{Resource: id, Node: node}); err != nil {
			return api.MoveResponse{}, err
		}
	}
	typ := state.CmdMove
	if kind == state.PrefBan {
		typ = state.CmdBan
	}
	idx, err := s.commit(ctx, typ, by, state.Prefer{Resource: id, Node: node, Lifetime: life})
	if err != nil {
		return api.MoveResponse{}, err
	}
	resp.Index = idx
	if rs := s.cfg.State.View().Resources[id]; rs != nil {
		for _, p := range rs.Preferences {
			if p.Kind == kind && p.Node == node {
				resp.Expires = p.Expires
			}
		}
	}
	s.log.Info("resource "+kind+" committed", "resource", id, "node", node, "lifetime", life.D(), "from", from, "by", by)
	return resp, nil
}

// Clear implements api.PlacementBackend: nothing to clear commits nothing
// (Index 0).
func (s *Service) Clear(ctx context.Context, req api.ClearRequest) (api.ClearResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := s.current(ctx); err != nil {
		return api.ClearResponse{}, err
	}
	c, _ := s.committed()
	v := s.cfg.State.View()
	id := req.Resource
	if _, ok := resourceKind(c, id); !ok {
		return api.ClearResponse{}, unknownResource(c, id)
	}
	match := func(p state.Preference) bool { return req.Node == "" || p.Node == req.Node }
	resp := api.ClearResponse{Resource: id, Node: req.Node, Cleared: []api.PreferenceView{}, Placement: []api.PlacementChange{}}
	named := false
	if rs := v.Resources[id]; rs != nil {
		for _, p := range rs.Preferences {
			if match(p) {
				resp.Cleared = append(resp.Cleared, preferenceView(id, p))
				named = true
			}
		}
	}
	// A node that left the file can still be named, to clear what names it.
	if req.Node != "" && !named {
		if _, ok := c.Node(req.Node); !ok {
			return api.ClearResponse{}, unknownNode(c, req.Node)
		}
	}
	if len(resp.Cleared) == 0 {
		return resp, nil
	}
	resp.Placement, _, _ = s.preview(c, v, func(d *state.Data) {
		editResource(d, id, func(rs *state.ResourceState) { dropPreferences(rs, match) })
	})
	by := s.by(req.By)
	idx, err := s.commit(ctx, state.CmdClear, by, state.Clear{Resource: id, Node: req.Node})
	if err != nil {
		return api.ClearResponse{}, err
	}
	resp.Index = idx
	s.log.Info("resource preferences cleared", "resource", id, "node", req.Node, "cleared", len(resp.Cleared), "by", by)
	return resp, nil
}

// SetTargetRole implements api.PlacementBackend: the role already in force
// commits nothing (Index 0).
func (s *Service) SetTargetRole(ctx context.Context, req api.TargetRoleRequest) (api.TargetRoleResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := s.current(ctx); err != nil {
		return api.TargetRoleResponse{}, err
	}
	c, _ := s.committed()
	v := s.cfg.State.View()
	id := req.Resource
	if _, ok := resourceKind(c, id); !ok {
		return api.TargetRoleResponse{}, unknownResource(c, id)
	}
	switch req.Role {
	case "", "Started", "Stopped":
	default:
		return api.TargetRoleResponse{}, &api.Error{Status: 400, Message: fmt.Sprintf("role %q; expected Started, Stopped or empty", req.Role)}
	}
	role := req.Role
	if role == "Started" && !stoppedAbove(c, v, id) {
		// Like pcs resource enable removing target-role=Stopped: with
		// nothing in the file or above it stopping it, enabling drops the
		// runtime override, so a later file change still counts.
		role = ""
	}
	resp := api.TargetRoleResponse{Resource: id, Role: role, Placement: []api.PlacementChange{}}
	if rs := v.Resources[id]; rs != nil {
		resp.Previous = rs.TargetRole
	}
	if resp.Previous == role {
		return resp, nil
	}
	resp.Placement, _, _ = s.preview(c, v, func(d *state.Data) {
		editResource(d, id, func(rs *state.ResourceState) { rs.TargetRole = role })
	})
	by := s.by(req.By)
	idx, err := s.commit(ctx, state.CmdTargetRole, by, state.TargetRole{Resource: id, Role: role})
	if err != nil {
		return api.TargetRoleResponse{}, err
	}
	resp.Index = idx
	s.log.Info("resource target role committed", "resource", id, "role", role, "previous", resp.Previous, "by", by)
	return resp, nil
}

// Where implements api.PlacementBackend (a local read, crm_resource --locate).
func (s *Service) Where(_ context.Context, id string) (api.WhereView, error) {
	c, _ := s.committed()
	v := s.cfg.State.View()
	kind, ok := resourceKind(c, id)
	if !ok {
		return api.WhereView{}, unknownResource(c, id)
	}
	w := api.WhereView{Resource: id, Kind: kind, Nodes: runningNodes(c, v, id), Placed: orEmpty(v.Placement.Placement[id]),
		Primitives: primitiveWhere(c, v, id), Preferences: activePreferences(v, id, s.now())}
	if rs := v.Resources[id]; rs != nil {
		w.TargetRole = rs.TargetRole
	}
	return w, nil
}

// Constraints implements api.PlacementBackend (a local read): the runtime
// preferences in force and the runtime target roles, by resource.
func (s *Service) Constraints(context.Context) (api.ConstraintsView, error) {
	v := s.cfg.State.View()
	now := s.now()
	out := api.ConstraintsView{Preferences: []api.PreferenceView{}, TargetRoles: []api.TargetRoleView{}}
	for _, id := range sortedNames(v.Resources) {
		out.Preferences = append(out.Preferences, activePreferences(v, id, now)...)
		if r := v.Resources[id].TargetRole; r != "" {
			out.TargetRoles = append(out.TargetRoles, api.TargetRoleView{Resource: id, Role: r})
		}
	}
	return out, nil
}
