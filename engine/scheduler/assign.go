package scheduler

import (
	"fmt"
	"sort"

	"github.com/havenha/haven/engine/model"
)

// infinityHack marks a positive score that a negative preference would have
// turned negative while merging "positive only" scores (Pacemaker's
// INFINITY_HACK); it is turned into 1 at the end of the merge.
const infinityHack = model.Score(-100 * int64(model.Infinity))

// table is a node score table with its contributions.
type table struct {
	s   []model.Score
	why [][]contrib
}

func (r *resource) table() table { return table{r.scores, r.why} }

func (r *resource) setTable(t table) { r.scores, r.why = t.s, t.why }

func (t table) clone() table {
	c := table{s: append([]model.Score(nil), t.s...), why: make([][]contrib, len(t.why))}
	for i, w := range t.why {
		c.why[i] = w[:len(w):len(w)]
	}
	return c
}

// canRunAny: some node that can run resources has a score >= 0.
func (w *working) canRunAny(s []model.Score) bool {
	for i, n := range w.nodes {
		if n.canRun() && s[i] >= 0 {
			return true
		}
	}
	return false
}

type mergeFlags struct {
	init, forward, rollback, positive bool
}

// mergeWeights is Pacemaker's merge_weights: add r's node scores (times
// factor) to nodes, then recursively those of the resources colocated with r.
func (w *working) mergeWeights(r *resource, rhs string, nodes table, factor float64, fl mergeFlags) table {
	if r.kind == kGroup && len(r.children) > 0 {
		if r.merging {
			return nodes
		}
		r.merging = true
		nodes = w.mergeNative(r.children[0], rhs, nodes, factor, fl)
		r.merging = false
		return nodes
	}
	return w.mergeNative(r, rhs, nodes, factor, fl)
}

func (w *working) mergeNative(r *resource, rhs string, nodes table, factor float64, fl mergeFlags) table {
	if r.merging {
		return nodes
	}
	r.merging = true
	defer func() { r.merging = false }()
	var work table
	switch {
	case r.kind == kGroup && len(r.children) > 0:
		work = w.mergeNative(r.children[len(r.children)-1], rhs, nodes, factor, fl)
		fl.init = false
	case fl.init:
		work = r.table().clone()
		fl.init = false
	default:
		work = nodes.clone()
		w.addMatching(work, r, factor, fl.positive, rhs)
	}
	if w.canRunAny(work.s) {
		list := r.colocsLHS
		if fl.forward {
			list = r.colocs
		}
		mult := 1.0
		if factor < 0 {
			mult = -1
		}
		for _, c := range list {
			other := c.dependent
			if fl.forward {
				other = c.primary
			}
			sub := fl
			sub.rollback = true
			work = w.mergeWeights(other, rhs, work, mult*float64(c.score)/float64(model.Infinity), sub)
		}
	} else if fl.rollback {
		return nodes
	}
	if fl.positive {
		for i, s := range work.s {
			if s == infinityHack {
				work.s[i] = 1
			}
		}
	}
	return work
}

// addMatching adds factor times r's score on each node (Pacemaker's
// add_node_scores_matching_attr with the node name as the attribute).
func (w *working) addMatching(t table, r *resource, factor float64, positive bool, rhs string) {
	var note string
	for i, n := range w.nodes {
		score := model.NegInfinity
		if n.canRun() && r.scores[i] > model.NegInfinity {
			score = r.scores[i]
		}
		if factor < 0 && score < 0 {
			continue
		}
		f := factor * float64(score)
		var weight model.Score
		if f < 0 {
			weight = model.Score(f - 0.5)
		} else {
			weight = model.Score(f + 0.5)
		}
		if weight == 0 && score != 0 {
			if factor > 0 {
				weight = 1
			} else if factor < 0 {
				weight = -1
			}
		}
		cur := t.s[i]
		ns := weight.Add(cur)
		if note == "" && weight != 0 && r.id != rhs {
			note = fmt.Sprintf("colocated %s (x %.2f)", r.id, factor)
		}
		if cur == infinityHack {
			ns = model.NegInfinity
		}
		if positive && ns < 0 && cur > 0 {
			t.s[i] = infinityHack
			continue
		}
		if positive && ns < 0 && cur == 0 {
			continue
		}
		t.s[i] = ns
		if weight != 0 && r.id != rhs {
			t.why[i] = append(t.why[i], contrib{Source: note, Score: weight})
		}
	}
}

// sortResources orders top-level resources for assignment (stage "sort"):
// by priority, highest first, keeping configuration order among equals.
// This is Pacemaker 2.1's order under the default placement strategy
// (pe__cmp_rsc_priority at unpack time); its score-based cmp_resources only
// runs with placement-strategy utilization, minimal or balanced, which haven
// does not model. Checked against crm_simulate 2.1.5.
func (w *working) sortResources() []*resource {
	out := append([]*resource(nil), w.top...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].priority > out[j].priority })
	return out
}

// current returns the node a resource is active on (first), or -1.
func (r *resource) current() int {
	if len(r.running) == 0 {
		return -1
	}
	return r.running[0]
}

// assignTo records r's assignment (Pacemaker's native_assign_node).
func (w *working) assignTo(r *resource, n int, reason string) {
	r.provisional = false
	r.assigned = n
	r.reason = reason
	if n >= 0 {
		w.nodes[n].assigned++
	}
}

func (w *working) unassign(r *resource) {
	if r.assigned >= 0 {
		w.nodes[r.assigned].assigned--
	}
	r.assigned = -1
	r.provisional = true
}

// allocate assigns r (and, for groups and clones, its members).
func (w *working) allocate(r *resource, prefer int) int {
	switch r.kind {
	case kGroup:
		if r.parent != nil && r.parent.kind == kClone && !r.parent.allocating {
			w.allocate(r.parent, -1)
			return r.location()
		}
		return w.allocateGroup(r, prefer)
	case kClone:
		w.allocateClone(r)
		return -1
	}
	if r.parent != nil && !r.parent.allocating {
		w.allocate(r.parent, prefer)
		return r.assigned
	}
	if !r.provisional {
		return r.assigned
	}
	if r.allocating {
		return -1 // colocation loop
	}
	r.allocating = true
	defer func() { r.allocating = false }()
	for _, c := range r.colocs {
		var archive *table
		if c.score < 0 && c.score > model.NegInfinity {
			a := r.table().clone()
			archive = &a
		}
		w.allocate(c.primary, -1)
		w.applyColocation(r, c.primary, c)
		if archive != nil && !w.canRunAny(r.scores) {
			r.setTable(*archive)
		}
	}
	for _, c := range r.colocsLHS {
		r.setTable(w.mergeWeights(c.dependent, r.id, r.table(), float64(c.score)/float64(model.Infinity), mergeFlags{rollback: true}))
	}
	if r.stopped {
		for i := range w.nodes {
			r.scores[i] = model.NegInfinity
			r.why[i] = append(r.why[i], contrib{Source: "target_role Stopped", Score: model.NegInfinity})
		}
	}
	w.snapshot(r)
	cur := r.current()
	switch {
	case !r.managed:
		w.assignTo(r, cur, "unmanaged")
		return r.assigned
	case cur >= 0 && w.nodes[cur].maintenance:
		w.assignTo(r, cur, "node in maintenance")
		return r.assigned
	}
	w.chooseNode(r, prefer)
	return r.assigned
}

// nodeBefore reports whether node x sorts before node y for a resource with
// scores s whose current node is cur (Pacemaker's compare_nodes): score
// (nodes that cannot run count as -INFINITY), fewer assigned resources, the
// current node, then the name.
func (w *working) nodeBefore(s []model.Score, cur, x, y int) bool {
	score := func(i int) model.Score {
		if !w.nodes[i].canRun() {
			return model.NegInfinity
		}
		return s[i]
	}
	if sx, sy := score(x), score(y); sx != sy {
		return sx > sy
	}
	if ax, ay := w.nodes[x].assigned, w.nodes[y].assigned; ax != ay {
		return ax < ay
	}
	if x == cur || y == cur {
		return x == cur
	}
	return x < y
}

// chooseNode is Pacemaker's native_choose_node: the preferred node if it is
// allowed, else the best node; among nodes sharing a best score above zero
// the current node wins.
func (w *working) chooseNode(r *resource, prefer int) {
	cur := r.current()
	chosen := -1
	best := 0
	for i := 1; i < len(w.nodes); i++ {
		if w.nodeBefore(r.scores, cur, i, best) {
			best = i
		}
	}
	// The preferred node (a clone instance's current node) is taken only
	// when it is as good as the best.
	if prefer >= 0 && r.scores[prefer] >= 0 && r.scores[prefer] >= r.scores[best] && w.nodes[prefer].canRun() {
		chosen = prefer
	}
	if chosen < 0 && len(w.nodes) > 0 {
		chosen = best
		if r.scores[best] > 0 && w.nodes[best].canRun() && cur >= 0 && w.nodes[cur].canRun() && r.scores[cur] == r.scores[best] {
			chosen = cur // equal scores: prefer the current node
		}
	}
	if chosen < 0 || !w.nodes[chosen].canRun() || r.scores[chosen] < 0 {
		w.assignTo(r, -1, "no node can run it")
		return
	}
	w.assignTo(r, chosen, "")
}

// location is where r is assigned: its node, or for a group its first member's.
func (r *resource) location() int {
	if r.kind == kGroup && len(r.children) > 0 {
		return r.children[0].assigned
	}
	return r.assigned
}

// applyColocation applies colocation c to dependent dep with primary prim
// (Pacemaker's rsc_colocation_lh/rh).
func (w *working) applyColocation(dep, prim *resource, c *colocation) {
	if prim.provisional || !dep.provisional {
		return
	}
	switch prim.kind {
	case kGroup:
		if len(prim.children) == 0 {
			return
		}
		if c.score >= model.Infinity {
			w.applyColocation(dep, prim.children[len(prim.children)-1], c)
		} else {
			w.applyColocation(dep, prim.children[0], c)
		}
		return
	case kClone:
		if c.score >= model.Infinity {
			on := map[int]bool{}
			for _, inst := range prim.children {
				if n := inst.location(); n >= 0 {
					on[n] = true
				}
			}
			for i := range w.nodes {
				if !on[i] {
					dep.addScore(i, fmt.Sprintf("colocation %s: no %s instance here", c.id, prim.id), model.NegInfinity)
				}
			}
			return
		}
		for _, inst := range prim.children {
			w.colocationMatch(dep, inst, c)
		}
		return
	}
	w.colocationMatch(dep, prim, c)
}

// colocationMatch is Pacemaker's colocation_match on node identity.
func (w *working) colocationMatch(dep, prim *resource, c *colocation) {
	pn := prim.location()
	if pn < 0 && c.score < 0 {
		return
	}
	mandatory := c.score <= model.NegInfinity || c.score >= model.Infinity
	work := dep.table()
	if !mandatory {
		work = work.clone() // finite scores roll back if nothing could run
	}
	var note string
	switch {
	case pn < 0:
		note = fmt.Sprintf("colocation %s: %s is not running", c.id, prim.id)
		if c.score < model.Infinity {
			note = fmt.Sprintf("colocation %s: %s is not running (minus its score)", c.id, prim.id)
		}
	case c.score >= model.Infinity:
		note = fmt.Sprintf("colocation %s: %s is elsewhere", c.id, prim.id)
	}
	for i := range w.nodes {
		switch {
		case pn < 0:
			// Pacemaker 2.1.5 (pcmk__apply_coloc_to_weights): a primary that
			// runs nowhere takes the colocation's score off every node.
			work.s[i] = (-c.score).Add(work.s[i])
			work.why[i] = append(work.why[i], contrib{Source: note, Score: -c.score})
		case i == pn:
			if c.score < model.Infinity {
				work.s[i] = c.score.Add(work.s[i])
				work.why[i] = append(work.why[i], contrib{Source: "colocation " + c.id + " with " + prim.id, Score: c.score})
			}
		case c.score >= model.Infinity:
			work.s[i] = model.NegInfinity
			work.why[i] = append(work.why[i], contrib{Source: note, Score: model.NegInfinity})
		}
	}
	if mandatory || w.canRunAny(work.s) {
		dep.setTable(work)
	}
}

// allocateGroup is Pacemaker's group allocate: the group's colocations move
// to its first (with others) and last (others with it) members, then each
// member is assigned in order.
func (w *working) allocateGroup(g *resource, prefer int) int {
	if !g.provisional {
		return g.location()
	}
	if g.allocating || len(g.children) == 0 {
		return -1
	}
	g.allocating = true
	first, last := g.children[0], g.children[len(g.children)-1]
	first.colocs = append(first.colocs, g.colocs...)
	g.colocs = nil
	last.colocsLHS = append(last.colocsLHS, g.colocsLHS...)
	g.colocsLHS = nil
	w.snapshot(g)
	node := -1
	for i, m := range g.children {
		n := w.allocate(m, prefer)
		if i == 0 {
			node = n
		}
	}
	g.allocating = false
	g.provisional = false
	g.assigned = node
	return node
}
