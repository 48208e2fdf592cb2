package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/havenha/haven/engine/model"
)

// Cycle rules (see docs/configuration.md):
//
//   - Mandatory orders, with the order implied by each group's member list,
//     must form no cycle among primitives: a cycle means no member of it can
//     ever start first. An order naming a group or clone applies to every
//     primitive inside it.
//   - INFINITY colocations may form cycles: "A with B" and "B with A" just put
//     both on one node, as Pacemaker's coloc-loop case shows. What can never
//     be satisfied is a -INFINITY colocation between two resources that
//     INFINITY colocations (or a shared group) keep on one node. Clones are
//     left out: an instance per node satisfies both kinds at once.

type edge struct {
	to    string
	label string
	pos   model.Pos
}

// leaves lists the primitives an id stands for in an order.
func (v *validator) leaves(id string, depth int) []string {
	if depth > 4 {
		return nil
	}
	switch v.kindOf(id) {
	case "resource":
		return []string{id}
	case "group":
		if g, ok := v.c.Group(id); ok {
			var out []string
			for _, m := range g.Resources {
				if v.kindOf(m) == "resource" {
					out = append(out, m)
				}
			}
			return out
		}
	case "clone":
		if cl, ok := v.c.Clone(id); ok {
			return v.leaves(cl.Resource, depth+1)
		}
	}
	return nil
}

func (v *validator) orderCycles() {
	adj := map[string][]edge{}
	have := map[[2]string]bool{}
	addEdge := func(a, b, label string, p model.Pos) {
		if have[[2]string{a, b}] {
			return
		}
		have[[2]string{a, b}] = true
		adj[a] = append(adj[a], edge{b, label, p})
	}
	for _, g := range v.c.Groups {
		if v.kindOf(g.ID) != "group" {
			continue
		}
		var prev string
		done := map[string]bool{}
		for _, m := range g.Resources {
			if done[m] || v.kindOf(m) != "resource" || v.groupOf[m] == nil || v.groupOf[m].ID != g.ID {
				continue
			}
			if prev != "" {
				addEdge(prev, m, "group "+g.ID, g.Pos)
			}
			prev = m
			done[m] = true
		}
	}
	for _, k := range v.c.Constraints {
		o := k.Order
		if o == nil || o.First == o.Then || o.KindOrDefault() != model.OrderMandatory {
			continue
		}
		label := fmt.Sprintf("order %s then %s", o.First, o.Then)
		for _, a := range v.leaves(o.First, 0) {
			for _, b := range v.leaves(o.Then, 0) {
				addEdge(a, b, label, o.Pos)
			}
		}
	}
	for _, scc := range stronglyConnected(adj) {
		in := map[string]bool{}
		for _, n := range scc {
			in[n] = true
		}
		cyc := cycleThrough(adj, scc[0], in)
		if len(cyc) == 0 {
			continue
		}
		names := []string{scc[0]}
		var labels []string
		last := model.Pos{}
		for _, e := range cyc {
			names = append(names, e.to)
			labels = append(labels, fmt.Sprintf("%s at line %d", e.label, e.pos.Line))
			if after(e.pos, last) {
				last = e.pos
			}
		}
		v.errf(last, "mandatory order cycle %s (%s); expected mandatory orders without a cycle: remove one of them",
			strings.Join(names, " → "), strings.Join(uniq(labels), ", "))
	}
}

func after(a, b model.Pos) bool {
	return a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col)
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// stronglyConnected returns the components of adj that contain a cycle
// (more than one node, or a self loop), each sorted, in sorted order.
func stronglyConnected(adj map[string][]edge) [][]string {
	nodes := sortedKeys(adj)
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	counter := 0
	var visit func(n string)
	visit = func(n string) {
		index[n] = counter
		low[n] = counter
		counter++
		stack = append(stack, n)
		onStack[n] = true
		for _, e := range adj[n] {
			if _, seen := index[e.to]; !seen {
				visit(e.to)
				low[n] = min(low[n], low[e.to])
			} else if onStack[e.to] {
				low[n] = min(low[n], index[e.to])
			}
		}
		if low[n] == index[n] {
			var comp []string
			for {
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[top] = false
				comp = append(comp, top)
				if top == n {
					break
				}
			}
			selfLoop := false
			for _, e := range adj[n] {
				if e.to == n {
					selfLoop = true
				}
			}
			if len(comp) > 1 || selfLoop {
				sort.Strings(comp)
				out = append(out, comp)
			}
		}
	}
	for _, n := range nodes {
		if _, seen := index[n]; !seen {
			visit(n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// cycleThrough finds a shortest cycle from start back to start inside the
// component, as the list of edges taken.
func cycleThrough(adj map[string][]edge, start string, in map[string]bool) []edge {
	type step struct {
		node string
		via  []edge
	}
	queue := []step{{start, nil}}
	seen := map[string]bool{}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range adj[s.node] {
			if !in[e.to] {
				continue
			}
			path := append(append([]edge{}, s.via...), e)
			if e.to == start {
				return path
			}
			if !seen[e.to] {
				seen[e.to] = true
				queue = append(queue, step{e.to, path})
			}
		}
	}
	return nil
}

// colocationConflicts reports -INFINITY colocations inside a set of
// resources that INFINITY colocations or groups keep on one node.
func (v *validator) colocationConflicts() {
	together := map[string][]edge{}
	link := func(a, b, label string, p model.Pos) {
		together[a] = append(together[a], edge{b, label, p})
		together[b] = append(together[b], edge{a, label, p})
	}
	usable := func(id string) bool {
		k := v.kindOf(id)
		return (k == "resource" || k == "group") && v.cloneOf[id] == nil
	}
	for _, g := range v.c.Groups {
		if !usable(g.ID) {
			continue
		}
		for _, m := range g.Resources {
			if v.kindOf(m) == "resource" && v.groupOf[m] != nil && v.groupOf[m].ID == g.ID {
				link(g.ID, m, "group "+g.ID, g.Pos)
			}
		}
	}
	for _, k := range v.c.Constraints {
		c := k.Colocation
		if c == nil || c.Score < model.Infinity || !usable(c.Resource) || !usable(c.With) {
			continue
		}
		link(c.Resource, c.With, fmt.Sprintf("colocation %s with %s INFINITY at line %d", c.Resource, c.With, c.Pos.Line), c.Pos)
	}
	for _, k := range v.c.Constraints {
		c := k.Colocation
		if c == nil || c.Score > model.NegInfinity || c.Resource == c.With || !usable(c.Resource) || !usable(c.With) {
			continue
		}
		path := pathBetween(together, c.Resource, c.With)
		if path == nil {
			continue
		}
		var labels []string
		for _, e := range path {
			labels = append(labels, e.label)
		}
		v.errf(c.Pos, "colocation %s with %s at -INFINITY can never hold: they are kept on one node by %s; expected no -INFINITY colocation between resources that INFINITY colocations or a group keep together",
			c.Resource, c.With, strings.Join(uniq(labels), ", "))
	}
}

// pathBetween finds a shortest chain of edges from a to b (nil if none).
func pathBetween(adj map[string][]edge, a, b string) []edge {
	type step struct {
		node string
		via  []edge
	}
	queue := []step{{a, nil}}
	seen := map[string]bool{a: true}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range adj[s.node] {
			if seen[e.to] {
				continue
			}
			path := append(append([]edge{}, s.via...), e)
			if e.to == b {
				return path
			}
			seen[e.to] = true
			queue = append(queue, step{e.to, path})
		}
	}
	return nil
}
