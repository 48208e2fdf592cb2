package main

// resource_backend.go is the server side of `haven resource
// move|ban|clear|enable|disable|where` (api.PlacementBackend) and of `haven
// node maintenance`: it checks the request against the committed
// configuration and the replicated state, runs the scheduler on that state
// with the change to say what the cluster will do (and to refuse a move to
// a node where the resource cannot run), and commits the change through
// raft. A refused request commits nothing.
//
// Semantics follow crm_resource:
//   - move RES NODE: one move preference per resource, INFINITY on NODE; a
//     ban of RES on NODE is cleared first (crm_resource --move clears the
//     destination's cli-ban). Clones cannot be moved (pcs refuses too).
//   - move RES (no node): ban RES from the node it runs on now.
//   - ban RES [NODE]: -INFINITY on NODE (default: where it runs now).
//   - clear RES [NODE]: removes RES's move and ban preferences (naming NODE).
//   - a lifetime makes the preference expire; otherwise it stays until clear.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

var _ api.PlacementBackend = (*agentBackend)(nil)

// resourceKind says whether id is a primitive, group or clone.
func resourceKind(c *model.Cluster, id string) (string, bool) {
	if _, ok := c.Resource(id); ok {
		return "primitive", true
	}
	if _, ok := c.Group(id); ok {
		return "group", true
	}
	if _, ok := c.Clone(id); ok {
		return "clone", true
	}
	return "", false
}

// cloneOf returns the clone id is or belongs to (directly or through its group).
func cloneOf(c *model.Cluster, id string) (string, bool) {
	if _, ok := c.Clone(id); ok {
		return id, true
	}
	group := ""
	for _, g := range c.Groups {
		if g.ID == id || slices.Contains(g.Resources, id) {
			group = g.ID
		}
	}
	for _, cl := range c.Clones {
		if cl.Resource == id || (group != "" && cl.Resource == group) {
			return cl.ID, true
		}
	}
	return "", false
}

func unknownResource(c *model.Cluster, id string) error {
	return &api.Error{Status: 404, Message: fmt.Sprintf("no resource, group or clone %q in the committed configuration; expected one of %s",
		id, strings.Join(resourceIDs(c), ", "))}
}

func unknownNode(c *model.Cluster, name string) error {
	return &api.Error{Status: 404, Message: fmt.Sprintf("no node %q in the committed configuration; expected one of %s",
		name, strings.Join(configNodeNames(c), ", "))}
}

// instanceOf reports whether the observed key (a primitive or a clone
// instance "ID:N") is an instance of primitive p.
func instanceOf(key, p string) bool { return key == p || strings.HasPrefix(key, p+":") }

// primitiveWhere says, per member primitive of id, where nodes report it
// started and where it may be active.
func primitiveWhere(c *model.Cluster, v state.Data, id string) []api.PrimitiveWhere {
	prims, _ := primitivesOf(c, id)
	var out []api.PrimitiveWhere
	for _, p := range prims {
		pw := api.PrimitiveWhere{ID: p, Started: []string{}, Active: []string{}}
		for _, n := range sortedNames(v.Nodes) {
			started, active := false, false
			for key, o := range v.Nodes[n].Resources {
				if !instanceOf(key, p) {
					continue
				}
				switch o.State {
				case state.Started:
					started, active = true, true
				case state.Starting, state.Stopping, state.Failed, state.Blocked:
					active = true
				}
			}
			if started {
				pw.Started = append(pw.Started, n)
			}
			if active {
				pw.Active = append(pw.Active, n)
			}
		}
		out = append(out, pw)
	}
	return out
}

// runningNodes are the nodes where any member primitive of id is started.
func runningNodes(c *model.Cluster, v state.Data, id string) []string {
	out := []string{}
	for _, pw := range primitiveWhere(c, v, id) {
		for _, n := range pw.Started {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

func preferenceView(id string, p state.Preference) api.PreferenceView {
	score := model.Infinity.String()
	if p.Kind == state.PrefBan {
		score = model.NegInfinity.String()
	}
	return api.PreferenceView{Resource: id, Kind: p.Kind, Node: p.Node, Score: score, Since: p.Since, Expires: p.Expires}
}

// activePreferences are id's preferences in force at now.
func activePreferences(v state.Data, id string, now time.Time) []api.PreferenceView {
	out := []api.PreferenceView{}
	if rs := v.Resources[id]; rs != nil {
		for _, p := range rs.Preferences {
			if p.ActiveAt(now) {
				out = append(out, preferenceView(id, p))
			}
		}
	}
	return out
}

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

// schedule runs the scheduler on v as the coordinator would build its input.
func (b *agentBackend) schedule(c *model.Cluster, v state.Data, now time.Time) (model.Plan, scheduler.Explanation) {
	d := controller.BuildInput(controller.CoordInput{View: v, Cluster: c, Self: b.name, Alive: aliveView{b.mem}.Alive,
		Quorate: b.mem.Quorum().Quorate}, now)
	return scheduler.Compute(d.Input, now)
}

// preview is what change (applied to a copy of v) does to placement: the
// changed resources, groups and clones, the new plan and its explanation.
func (b *agentBackend) preview(c *model.Cluster, v state.Data, change func(*state.Data)) ([]api.PlacementChange, model.Plan, scheduler.Explanation) {
	now := time.Now()
	before, _ := b.schedule(c, v, now)
	change(&v)
	after, why := b.schedule(c, v, now)
	ids := map[string]bool{}
	for id := range before.Placement {
		ids[id] = true
	}
	for id := range after.Placement {
		ids[id] = true
	}
	out := []api.PlacementChange{}
	for _, id := range sortedNames(ids) {
		from, to := before.Placement[id], after.Placement[id]
		if !slices.Equal(from, to) {
			out = append(out, api.PlacementChange{ID: id, From: orEmpty(from), To: orEmpty(to)})
		}
	}
	return out, after, why
}

// cannotRun says why the plan's explanation gives id no chance on node:
// node states that exclude it and negative contributions. ok is false when
// the explanation has no such obstacle (the resource could run there).
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

// current makes this node's state hold everything committed before the
// request (a barrier through the leader), so the checks and the preview
// see where resources run now; without a leader nothing could be
// committed anyway.
func (b *agentBackend) current(ctx context.Context) error {
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.node.Barrier(bctx); err != nil {
		return &api.Error{Status: 503, Message: fmt.Sprintf("no raft leader reachable from %s (%v); nothing changed: a majority of the voters must run to commit a change (haven status shows them)", b.name, err)}
	}
	return nil
}

func (b *agentBackend) by(req string) string {
	if req != "" {
		return req
	}
	return "api@" + b.name
}

// Move implements api.PlacementBackend.
func (b *agentBackend) Move(ctx context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	return b.prefer(ctx, req, state.PrefMove)
}

// Ban implements api.PlacementBackend.
func (b *agentBackend) Ban(ctx context.Context, req api.MoveRequest) (api.MoveResponse, error) {
	return b.prefer(ctx, req, state.PrefBan)
}

// prefer checks, previews and commits a move or a ban.
func (b *agentBackend) prefer(ctx context.Context, req api.MoveRequest, kind string) (api.MoveResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := b.current(ctx); err != nil {
		return api.MoveResponse{}, err
	}
	c, _ := b.committed()
	v := b.st.View()
	id := req.Resource
	if _, ok := resourceKind(c, id); !ok {
		return api.MoveResponse{}, unknownResource(c, id)
	}
	var life time.Duration
	if req.Lifetime != "" {
		var err error
		if life, err = api.ParseLifetime(req.Lifetime); err != nil {
			return api.MoveResponse{}, &api.Error{Status: 400, Message: err.Error()}
		}
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
	changes, plan, why := b.preview(c, v, func(d *state.Data) {
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
			rs.Preferences = append(rs.Preferences, state.Preference{Kind: kind, Node: node, Since: time.Now()})
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
	by := b.by(req.By)
	if clearFirst {
		if _, err := b.commit(ctx, state.CmdClear, by, state.Clear{Resource: id, Node: node}); err != nil {
			return api.MoveResponse{}, err
		}
	}
	typ := state.CmdMove
	if kind == state.PrefBan {
		typ = state.CmdBan
	}
	idx, err := b.commit(ctx, typ, by, state.Prefer{Resource: id, Node: node, Lifetime: model.Duration(life)})
	if err != nil {
		return api.MoveResponse{}, err
	}
	resp.Index = idx
	if rs := b.st.View().Resources[id]; rs != nil {
		for _, p := range rs.Preferences {
			if p.Kind == kind && p.Node == node {
				resp.Expires = p.Expires
			}
		}
	}
	b.log.Info("resource "+kind+" committed", "resource", id, "node", node, "lifetime", life, "from", from, "by", by)
	return resp, nil
}

// resourceNodeNames are the nodes that may run resources (not witnesses).
func resourceNodeNames(c *model.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		if !n.IsWitness() {
			out = append(out, n.Name)
		}
	}
	return out
}

// Clear implements api.PlacementBackend.
func (b *agentBackend) Clear(ctx context.Context, req api.ClearRequest) (api.ClearResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := b.current(ctx); err != nil {
		return api.ClearResponse{}, err
	}
	c, _ := b.committed()
	v := b.st.View()
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
	if req.Node != "" && !named {
		if _, ok := c.Node(req.Node); !ok {
			return api.ClearResponse{}, unknownNode(c, req.Node)
		}
	}
	if len(resp.Cleared) == 0 {
		return resp, nil
	}
	resp.Placement, _, _ = b.preview(c, v, func(d *state.Data) {
		editResource(d, id, func(rs *state.ResourceState) { dropPreferences(rs, match) })
	})
	by := b.by(req.By)
	idx, err := b.commit(ctx, state.CmdClear, by, state.Clear{Resource: id, Node: req.Node})
	if err != nil {
		return api.ClearResponse{}, err
	}
	resp.Index = idx
	b.log.Info("resource preferences cleared", "resource", id, "node", req.Node, "cleared", len(resp.Cleared), "by", by)
	return resp, nil
}

// SetTargetRole implements api.PlacementBackend.
func (b *agentBackend) SetTargetRole(ctx context.Context, req api.TargetRoleRequest) (api.TargetRoleResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := b.current(ctx); err != nil {
		return api.TargetRoleResponse{}, err
	}
	c, _ := b.committed()
	v := b.st.View()
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
	resp.Placement, _, _ = b.preview(c, v, func(d *state.Data) {
		editResource(d, id, func(rs *state.ResourceState) { rs.TargetRole = role })
	})
	by := b.by(req.By)
	idx, err := b.commit(ctx, state.CmdTargetRole, by, state.TargetRole{Resource: id, Role: role})
	if err != nil {
		return api.TargetRoleResponse{}, err
	}
	resp.Index = idx
	b.log.Info("resource target role committed", "resource", id, "role", role, "previous", resp.Previous, "by", by)
	return resp, nil
}

// ancestors are id's group and clone ids, innermost first.
func ancestors(c *model.Cluster, id string) []string {
	var out []string
	cur := id
	for {
		parent := ""
		for _, g := range c.Groups {
			if slices.Contains(g.Resources, cur) {
				parent = g.ID
			}
		}
		for _, cl := range c.Clones {
			if cl.Resource == cur {
				parent = cl.ID
			}
		}
		if parent == "" || slices.Contains(out, parent) {
			return out
		}
		out = append(out, parent)
		cur = parent
	}
}

// stoppedAbove reports whether id stays stopped without a runtime
// Started of its own: its or an ancestor's meta target_role in the file
// is Stopped, or an ancestor's runtime target role is.
func stoppedAbove(c *model.Cluster, v state.Data, id string) bool {
	metaStopped := func(x string) bool {
		var m model.Meta
		if r, ok := c.Resource(x); ok {
			m = r.Meta
		} else if g, ok := c.Group(x); ok {
			m = g.Meta
		} else if cl, ok := c.Clone(x); ok {
			m = cl.Meta
		}
		return strings.EqualFold(m.TargetRole, "Stopped")
	}
	if metaStopped(id) {
		return true
	}
	for _, a := range ancestors(c, id) {
		if metaStopped(a) {
			return true
		}
		if rs := v.Resources[a]; rs != nil && rs.TargetRole == "Stopped" {
			return true
		}
	}
	return false
}

// Where implements api.PlacementBackend (a local read).
func (b *agentBackend) Where(_ context.Context, id string) (api.WhereView, error) {
	c, _ := b.committed()
	v := b.st.View()
	kind, ok := resourceKind(c, id)
	if !ok {
		return api.WhereView{}, unknownResource(c, id)
	}
	w := api.WhereView{Resource: id, Kind: kind, Nodes: runningNodes(c, v, id), Placed: orEmpty(v.Placement.Placement[id]),
		Primitives: primitiveWhere(c, v, id), Preferences: activePreferences(v, id, time.Now())}
	if rs := v.Resources[id]; rs != nil {
		w.TargetRole = rs.TargetRole
	}
	return w, nil
}

// Constraints implements api.PlacementBackend (a local read).
func (b *agentBackend) Constraints(context.Context) (api.ConstraintsView, error) {
	v := b.st.View()
	now := time.Now()
	out := api.ConstraintsView{Preferences: []api.PreferenceView{}, TargetRoles: []api.TargetRoleView{}}
	for _, id := range sortedNames(v.Resources) {
		out.Preferences = append(out.Preferences, activePreferences(v, id, now)...)
		if r := v.Resources[id].TargetRole; r != "" {
			out.TargetRoles = append(out.TargetRoles, api.TargetRoleView{Resource: id, Role: r})
		}
	}
	return out, nil
}
