package scheduler

import (
	"sort"

	"github.com/havenha/haven/engine/model"
)

// allocateClone is Pacemaker's clone allocate for anonymous clones: the
// clone's colocation targets first, dependents' positive preferences merged
// into the clone's scores, then instances distributed: first to where they
// already run, then the rest to the best nodes with room.
func (w *working) allocateClone(cl *resource) {
	if !cl.provisional || cl.allocating {
		return
	}
	cl.allocating = true
	for _, c := range cl.colocs {
		w.allocate(c.primary, -1)
	}
	for _, c := range cl.colocsLHS {
		cl.setTable(w.mergeWeights(c.dependent, cl.id, cl.table(), float64(c.score)/float64(model.Infinity),
			mergeFlags{rollback: true, positive: true}))
	}
	w.snapshot(cl)
	insts := append([]*resource(nil), cl.children...)
	sort.SliceStable(insts, func(i, j int) bool { return w.cmpInstance(cl, insts[i], insts[j]) })
	w.distribute(cl, insts)
	cl.allocating = false
	cl.provisional = false
}

// cmpInstance orders instances for distribution: instances active on a node
// that can still hold them first (by the clone's score there); then, by
// instance number, inactive and failed instances and those on nodes that
// cannot run resources; last, instances active on a node where the clone's
// score is negative. This is the order crm_simulate 2.1.5 shows (found with
// the differential test), a simplification of Pacemaker's sort_clone_instance.
func (w *working) cmpInstance(cl, a, b *resource) bool {
	rank := func(r *resource) int {
		c := r.current()
		switch {
		case c < 0 || !w.nodes[c].canRun() || r.failed:
			return 1
		case cl.scores[c] >= 0:
			return 0
		}
		return 2
	}
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra < rb
	}
	if ra == 0 {
		ca, cb := a.current(), b.current()
		if cl.scores[ca] != cl.scores[cb] {
			return cl.scores[ca] > cl.scores[cb]
		}
	}
	return a.instanceIndex < b.instanceIndex
}

func (w *working) distribute(cl *resource, insts []*resource) {
	count := make([]int, len(w.nodes))
	available := 0
	for i, n := range w.nodes {
		if n.canRun() {
			available++
		}
		_ = i
	}
	max, perNode := cl.cloneMax, cl.cloneNodeMax
	allColoc := max < available
	loopMax := 1
	if available > 0 && max/available > 1 {
		loopMax = max / available
	}
	allocated := 0
	// Pre-assign instances to where they run.
	for _, inst := range insts {
		if allocated >= max {
			break
		}
		cur := inst.current()
		if cur < 0 || !inst.provisional || inst.failed {
			continue
		}
		if count[cur] < loopMax && w.canRunInstance(cl, inst, cur, perNode, count) {
			if w.allocateInstance(cl, inst, cur, allColoc, perNode, count) {
				allocated++
			}
		}
	}
	for _, inst := range insts {
		if !inst.provisional {
			continue
		}
		if allocated >= max {
			walk(inst, func(x *resource) {
				if x.kind == kPrimitive {
					w.assignTo(x, -1, "clone instance limit reached")
				} else {
					x.provisional = false
				}
			})
			continue
		}
		if w.allocateInstance(cl, inst, -1, allColoc, perNode, count) {
			allocated++
		}
	}
}

// canRunInstance: node n can run resources, the clone's score there is >= 0
// and the node holds fewer than perNode instances.
func (w *working) canRunInstance(cl, inst *resource, n, perNode int, count []int) bool {
	if w.nodes[n].canRun() && cl.scores[n] >= 0 && count[n] < perNode {
		return true
	}
	return false
}

func (w *working) allocateInstance(cl, inst *resource, prefer int, allColoc bool, perNode int, count []int) bool {
	if !inst.provisional {
		return inst.location() >= 0
	}
	if inst.allocating {
		return false
	}
	// The instance takes the clone's colocations: all with other resources
	// that are mandatory or negative, and dependents' only when not every
	// node gets an instance.
	w.appendParentColocations(cl, inst, allColoc)
	if prefer >= 0 && inst.scores[prefer] < 0 {
		return false
	}
	for i := range w.nodes {
		if !w.canRunInstance(cl, inst, i, perNode, count) {
			s := model.NegInfinity
			if cl.scores[i] < 0 && w.nodes[i].canRun() && count[i] < perNode {
				s = cl.scores[i]
			}
			walk(inst, func(x *resource) { x.setScore(i, "clone "+cl.id+" cannot place an instance here", s) })
		}
	}
	backup := map[*resource]table{}
	walk(inst, func(x *resource) { backup[x] = x.table().clone() })
	chosen := w.allocate(inst, prefer)
	if chosen >= 0 && prefer >= 0 && chosen != prefer {
		walk(inst, func(x *resource) {
			x.setTable(backup[x])
			if x.kind == kPrimitive {
				w.unassign(x)
			} else {
				x.provisional = true
				x.assigned = -1
			}
		})
		return false
	}
	if chosen >= 0 {
		count[chosen]++
	}
	return chosen >= 0
}

func (w *working) appendParentColocations(cl, inst *resource, all bool) {
	has := func(list []*colocation, c *colocation) bool {
		for _, x := range list {
			if x == c {
				return true
			}
		}
		return false
	}
	for _, c := range cl.colocs {
		if (all || c.score < 0 || c.score >= model.Infinity) && !has(inst.colocs, c) {
			inst.colocs = append(inst.colocs, c)
		}
	}
	for _, c := range cl.colocsLHS {
		if (all || c.score < 0) && !has(inst.colocsLHS, c) {
			inst.colocsLHS = append(inst.colocsLHS, c)
		}
	}
}
