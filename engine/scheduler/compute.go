package scheduler

import (
	"sort"
	"time"

	"github.com/havenha/haven/engine/model"
)

// Compute decides the target placement and the transition that reaches it
// from the observed state. It is pure: the same input and time always give
// the same plan, and the input is not modified.
func Compute(in Input, now time.Time) (model.Plan, Explanation) {
	if in.Cluster == nil {
		in.Cluster = &model.Cluster{}
	}
	orig := in
	cl := classify(in, now)
	in.Nodes = cl.nodes
	w := build(in, now)
	w.constraints()
	w.observe()
	if !in.Quorate {
		switch in.Cluster.NoQuorumPolicy() {
		case model.NoQuorumFreeze:
			w.quorumFreeze = true
		case model.NoQuorumIgnore:
		default:
			w.quorumStop = true
		}
	}
	w.eligibility()
	w.locations()
	w.stickiness()
	order := w.sortResources()
	for _, r := range order {
		w.allocate(r, -1)
	}
	w.runnable()
	w.blockedStops()
	plan := model.Plan{Placement: w.placement(), Assignments: w.assignments()}
	plan.Actions = w.transition()
	plan = holdForFence(plan, cl.fencing)
	plan.Actions = append(cl.fences, plan.Actions...)
	if h := handoff(orig, plan, cl); h != nil {
		plan.Actions = append(plan.Actions, *h)
	}
	plan.Nodes, plan.RecheckAt = cl.states, cl.recheck
	why := w.explain()
	return plan, why
}

// runnable applies the quorum policy and blocks resources whose required
// dependencies cannot run (stage "runnable").
func (w *working) runnable() {
	if w.quorumStop {
		for _, p := range w.prims {
			if p.managed && (p.current() < 0 || !w.nodes[p.current()].maintenance) && p.assigned >= 0 {
				w.block(p, "no quorum (no_quorum_policy stop)")
			}
		}
	}
	// Pacemaker's freeze: inactive resources are assigned like the others
	// (dependents follow the assignment) but may not start; active ones are
	// placed as usual and may even move.
	if w.quorumFreeze {
		for _, p := range w.prims {
			if p.managed && p.current() < 0 && p.assigned >= 0 {
				w.block(p, "no quorum (no_quorum_policy freeze): nothing new starts")
			}
		}
	}
	// Group members are ordered: a member runs only if the one before runs.
	type edge struct {
		first, then *resource
		symmetrical bool
	}
	var edges []edge
	for _, o := range w.orders {
		if o.KindOrDefault() != model.OrderMandatory {
			continue
		}
		f, ok1 := w.lookup(o.First)
		t, ok2 := w.lookup(o.Then)
		if ok1 && ok2 {
			edges = append(edges, edge{f, t, o.IsSymmetrical()})
		}
	}
	for changed := true; changed; {
		changed = false
		for _, g := range w.allGroups() {
			for i := 1; i < len(g.children); i++ {
				if g.children[i-1].assigned < 0 && g.children[i].assigned >= 0 && g.children[i].managed {
					w.block(g.children[i], "group member "+g.children[i-1].id+" cannot run")
					changed = true
				}
			}
		}
		for _, e := range edges {
			if !w.runs(e.first) {
				walk(e.then, func(x *resource) {
					// An asymmetrical order only keeps "then" from starting.
					if !e.symmetrical && len(x.running) > 0 {
						return
					}
					if x.kind == kPrimitive && x.assigned >= 0 && x.managed {
						w.block(x, "mandatory order: "+e.first.id+" cannot run")
						changed = true
					}
				})
			}
		}
		// Mandatory colocations hold even where a colocation loop kept the
		// assignment from seeing them: the dependent does not run.
		for _, c := range w.colocs {
			if c.score > model.NegInfinity && c.score < model.Infinity {
				continue
			}
			on := map[int]bool{}
			walk(c.primary, func(x *resource) {
				if x.kind == kPrimitive && x.assigned >= 0 {
					on[x.assigned] = true
				}
			})
			walk(c.dependent, func(x *resource) {
				if x.kind != kPrimitive || x.assigned < 0 || !x.managed {
					return
				}
				if (c.score <= model.NegInfinity && on[x.assigned]) || (c.score >= model.Infinity && len(on) > 0 && !on[x.assigned]) {
					w.block(x, "colocation "+c.id+" with "+c.primary.id+" cannot be met")
					changed = true
				}
			})
		}
		for _, p := range w.byIDSorted() {
			for _, c := range p.colocsLHSAll() {
				if c.score < model.Infinity || w.runs(c.primary) {
					continue
				}
				walk(c.dependent, func(x *resource) {
					if x.kind == kPrimitive && x.assigned >= 0 && x.managed {
						w.block(x, "colocated with "+c.primary.id+", which cannot run")
						changed = true
					}
				})
			}
		}
	}
}

// blockedStops keeps in place what cannot be stopped: an unmanaged active
// resource is never stopped, and as in Pacemaker everything that must stop
// before it (the group members before it, the "first" of a symmetrical
// mandatory order) cannot stop either, so it stays where it runs.
func (w *working) blockedStops() {
	blocked := map[*resource]bool{}
	for _, p := range w.prims {
		if !p.managed && len(p.running) > 0 {
			blocked[p] = true
		}
	}
	if len(blocked) == 0 {
		return
	}
	type edge struct{ first, then *resource }
	var edges []edge
	for _, g := range w.allGroups() {
		for i := 1; i < len(g.children); i++ {
			edges = append(edges, edge{g.children[i-1], g.children[i]})
		}
	}
	for _, o := range w.orders {
		if o.KindOrDefault() != model.OrderMandatory || !o.IsSymmetrical() {
			continue
		}
		f, ok1 := w.lookup(o.First)
		t, ok2 := w.lookup(o.Then)
		if ok1 && ok2 {
			edges = append(edges, edge{f, t})
		}
	}
	anyBlocked := func(r *resource) (who *resource) {
		walk(r, func(x *resource) {
			if who == nil && blocked[x] {
				who = x
			}
		})
		return who
	}
	for changed := true; changed; {
		changed = false
		for _, e := range edges {
			who := anyBlocked(e.then)
			if who == nil {
				continue
			}
			walk(e.first, func(x *resource) {
				if x.kind == kPrimitive && len(x.running) > 0 && !blocked[x] {
					blocked[x] = true
					changed = true
					if x.managed && (len(x.running) != 1 || x.assigned != x.running[0]) {
						if x.assigned >= 0 {
							w.nodes[x.assigned].assigned--
						}
						x.assigned = x.running[0]
						w.nodes[x.assigned].assigned++
						x.reason = "cannot stop before unmanaged " + who.id + " stops"
					}
				}
			})
		}
	}
}

// colocsLHSAll returns colocations with r as primary, including those moved
// to group members during assignment.
func (r *resource) colocsLHSAll() []*colocation {
	out := append([]*colocation(nil), r.colocsLHS...)
	if r.kind == kGroup && len(r.children) > 0 {
		for _, c := range r.children[len(r.children)-1].colocsLHS {
			if c.primary == r {
				out = append(out, c)
			}
		}
	}
	return out
}

func (w *working) block(p *resource, reason string) {
	if p.assigned >= 0 {
		w.nodes[p.assigned].assigned--
	}
	p.assigned = -1
	p.reason = reason
}

// runs reports whether r (or, for groups, every member; for clones, some
// instance) has a node.
func (w *working) runs(r *resource) bool {
	switch r.kind {
	case kGroup:
		for _, c := range r.children {
			if !w.runs(c) {
				return false
			}
		}
		return len(r.children) > 0
	case kClone:
		for _, c := range r.children {
			if w.runs(c) {
				return true
			}
		}
		return false
	}
	return r.assigned >= 0
}

func (w *working) allGroups() []*resource {
	var out []*resource
	for _, r := range w.top {
		walk(r, func(x *resource) {
			if x.kind == kGroup {
				out = append(out, x)
			}
		})
	}
	return out
}

func (w *working) byIDSorted() []*resource {
	var out []*resource
	for _, r := range w.top {
		walk(r, func(x *resource) { out = append(out, x) })
	}
	return out
}

// placement maps every primitive, group and clone id to its sorted nodes.
func (w *working) placement() map[string][]string {
	pl := map[string]map[string]bool{}
	add := func(id string, n int) {
		if pl[id] == nil {
			pl[id] = map[string]bool{}
		}
		if n >= 0 {
			pl[id][w.nodes[n].name] = true
		}
	}
	for _, p := range w.prims {
		add(p.base, p.assigned)
		for q := p.parent; q != nil; q = q.parent {
			add(q.base, p.assigned)
		}
	}
	for _, r := range w.top {
		add(r.base, -1)
	}
	out := make(map[string][]string, len(pl))
	for id, set := range pl {
		list := make([]string, 0, len(set))
		for n := range set {
			list = append(list, n)
		}
		sort.Strings(list)
		out[id] = list
	}
	return out
}

func (w *working) assignments() []model.Assignment {
	out := make([]model.Assignment, 0, len(w.prims))
	for _, p := range w.prims {
		a := model.Assignment{Resource: p.base, Reason: p.reason}
		if p.id != p.base {
			a.Instance = p.id
		}
		if p.assigned >= 0 {
			a.Node = w.nodes[p.assigned].name
		}
		out = append(out, a)
	}
	return out
}
