package scheduler

import (
	"sort"

	"github.com/havenha/haven/engine/model"
)

// step is the action planned for one primitive instance.
type step struct {
	p      *resource
	action string
	node   int
	from   int
	reason string
}

// transition derives the actions from observed to target state (stage
// "transition"): stops first (reverse start order), then moves, restarts and
// starts in start order. A running resource that must start after something
// that (re)starts under a mandatory order is restarted, as Pacemaker does.
func (w *working) transition() []model.Action {
	rank := w.ranks()
	steps := map[*resource]*step{}
	var stops []*step
	for _, p := range w.prims {
		if !p.managed {
			continue
		}
		cur, target := p.running, p.assigned
		if cur := p.current(); cur >= 0 && w.nodes[cur].maintenance {
			continue
		}
		onTarget := false
		for _, n := range cur {
			if n == target {
				onTarget = true
			}
		}
		moved := false
		for _, n := range cur {
			switch {
			case n == target:
				if p.failedOn[n] {
					steps[p] = &step{p: p, action: model.ActionRestart, node: n, from: -1, reason: "recover failed instance"}
				}
			case target >= 0 && !onTarget && !moved:
				moved = true
				steps[p] = &step{p: p, action: model.ActionMove, node: target, from: n, reason: p.reason}
			default:
				reason := p.reason
				if reason == "" {
					reason = "active on too many nodes"
				}
				stops = append(stops, &step{p: p, action: model.ActionStop, node: n, from: -1, reason: reason})
			}
		}
		if len(cur) == 0 && target >= 0 {
			steps[p] = &step{p: p, action: model.ActionStart, node: target, from: -1}
		}
	}
	w.orderRestarts(steps)
	var starts []*step
	for _, p := range w.prims {
		if s, ok := steps[p]; ok {
			starts = append(starts, s)
		}
	}
	pos := make(map[*resource]int, len(w.prims))
	for i, p := range w.prims {
		pos[p] = i
	}
	sort.SliceStable(stops, func(i, j int) bool {
		a, b := stops[i].p, stops[j].p
		if rank[a] != rank[b] {
			return rank[a] > rank[b]
		}
		return pos[a] > pos[b]
	})
	sort.SliceStable(starts, func(i, j int) bool { return rank[starts[i].p] < rank[starts[j].p] })
	out := make([]model.Action, 0, len(stops)+len(starts))
	for _, s := range append(stops, starts...) {
		// An unclean node cannot be asked to stop anything: it must be
		// fenced (or its lease must lapse) before the resource runs elsewhere.
		off := s.from
		if s.action == model.ActionStop {
			off = s.node
		}
		if off >= 0 && w.nodes[off].unclean {
			note := "node " + w.nodes[off].name + " is unclean: fence it first"
			if w.in.Leases && !w.in.Stonith {
				note = "node " + w.nodes[off].name + " is lost: its resources start elsewhere once its lease has certainly lapsed"
			}
			if s.reason == "" {
				s.reason = note
			} else {
				s.reason += "; " + note
			}
		}
		a := model.Action{Action: s.action, Resource: s.p.base, Reason: s.reason}
		if s.p.id != s.p.base {
			a.Instance = s.p.id
		}
		if s.node >= 0 {
			a.Node = w.nodes[s.node].name
		}
		if s.from >= 0 {
			a.From = w.nodes[s.from].name
		}
		out = append(out, a)
	}
	return out
}

// orderRestarts restarts running instances that a mandatory order puts
// after something that starts, moves or restarts.
func (w *working) orderRestarts(steps map[*resource]*step) {
	type edge struct{ first, then *resource }
	var edges []edge
	for _, o := range w.orders {
		if o.KindOrDefault() != model.OrderMandatory {
			continue
		}
		f, ok1 := w.lookup(o.First)
		t, ok2 := w.lookup(o.Then)
		if ok1 && ok2 {
			edges = append(edges, edge{f, t})
		}
	}
	for _, g := range w.allGroups() {
		for i := 1; i < len(g.children); i++ {
			edges = append(edges, edge{g.children[i-1], g.children[i]})
		}
	}
	starting := func(r *resource) bool {
		any := false
		walk(r, func(x *resource) {
			if s, ok := steps[x]; ok && s.action != model.ActionStop {
				any = true
			}
		})
		return any
	}
	for changed := true; changed; {
		changed = false
		for _, e := range edges {
			if !starting(e.first) {
				continue
			}
			walk(e.then, func(x *resource) {
				if x.kind != kPrimitive || !x.managed || x.assigned < 0 {
					return
				}
				if _, ok := steps[x]; ok {
					return
				}
				for _, n := range x.running {
					if n == x.assigned {
						steps[x] = &step{p: x, action: model.ActionRestart, node: n, from: -1, reason: "required " + e.first.id + " starts"}
						changed = true
					}
				}
			})
		}
	}
}

// ranks gives each primitive its depth in the start order: order
// constraints (any kind) and group member order.
func (w *working) ranks() map[*resource]int {
	rank := make(map[*resource]int, len(w.prims))
	type edge struct{ first, then []*resource }
	prims := func(r *resource) []*resource {
		var out []*resource
		walk(r, func(x *resource) {
			if x.kind == kPrimitive {
				out = append(out, x)
			}
		})
		return out
	}
	var edges []edge
	for _, o := range w.orders {
		f, ok1 := w.lookup(o.First)
		t, ok2 := w.lookup(o.Then)
		if ok1 && ok2 && f != t {
			edges = append(edges, edge{prims(f), prims(t)})
		}
	}
	for _, g := range w.allGroups() {
		for i := 1; i < len(g.children); i++ {
			edges = append(edges, edge{prims(g.children[i-1]), prims(g.children[i])})
		}
	}
	for iter := 0; iter <= len(w.prims) && iter < 64; iter++ {
		changed := false
		for _, e := range edges {
			max := 0
			for _, f := range e.first {
				if rank[f]+1 > max {
					max = rank[f] + 1
				}
			}
			for _, t := range e.then {
				if rank[t] < max {
					rank[t] = max
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	return rank
}
