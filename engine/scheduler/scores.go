package scheduler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/havenha/haven/engine/model"
)

// observe maps the observed state onto resource instances (stage "observe").
func (w *working) observe() {
	type obs struct {
		node  int
		state string
		fails model.Score
	}
	byBase := map[string][]obs{}
	suffixOf := map[string]map[int]int{} // base -> node -> requested instance number
	for _, o := range w.in.Resources {
		n, ok := w.nodeIdx[o.Node]
		if !ok {
			w.warnf("observed state of %s on unknown node %q; ignored", o.Resource, o.Node)
			continue
		}
		base, inst := o.Resource, -1
		if i := strings.LastIndexByte(base, ':'); i > 0 {
			if k, err := strconv.Atoi(base[i+1:]); err == nil {
				base, inst = base[:i], k
			}
		}
		fails := o.FailCount
		if fails > 0 && !o.LastFailure.IsZero() {
			if r := w.anyPrimitive(base); r != nil && r.failTimeout > 0 && !o.LastFailure.Add(r.failTimeout).After(w.now) {
				fails = 0 // expired by failure_timeout
			}
		}
		byBase[base] = append(byBase[base], obs{n, o.State, fails})
		if inst >= 0 {
			if suffixOf[base] == nil {
				suffixOf[base] = map[int]int{}
			}
			suffixOf[base][n] = inst
		}
	}
	bases := make([]string, 0, len(byBase))
	for b := range byBase {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	for _, base := range bases {
		list := byBase[base]
		sort.SliceStable(list, func(i, j int) bool { return list[i].node < list[j].node })
		if r, ok := w.byID[base]; ok && r.kind == kPrimitive {
			for _, o := range list {
				w.observeOn(r, o.node, o.state, o.fails)
			}
			continue
		}
		clone := w.cloneOf(base)
		if clone == nil {
			w.warnf("observed state of %s, which is not configured; ignored", base)
			continue
		}
		for _, o := range list {
			inst := w.instanceFor(clone, base, o.node, suffixOf[base])
			if inst == nil {
				w.warnf("%s is active on more nodes than %s has instances", base, clone.id)
				continue
			}
			w.observeOn(inst, o.node, o.state, o.fails)
		}
	}
	// Groups and clones are active where their members are.
	for _, r := range w.top {
		markActive(r)
	}
}

func markActive(r *resource) {
	if r.kind == kPrimitive {
		return
	}
	seen := map[int]bool{}
	r.running = nil
	for _, c := range r.children {
		markActive(c)
		for _, n := range c.running {
			if !seen[n] {
				seen[n] = true
				r.running = append(r.running, n)
			}
		}
		if c.failed {
			r.failed = true
		}
	}
	sort.Ints(r.running)
}

func (w *working) observeOn(r *resource, n int, state string, fails model.Score) {
	if fails > 0 {
		r.fails[n] = r.fails[n].Add(fails)
	}
	if nd := w.nodes[n]; !nd.online && !nd.unclean {
		// A cleanly offline node runs nothing (its lease lapsed, or it shut down).
		state = StateStopped
	}
	switch state {
	case StateRunning, StateFailed:
		for _, x := range r.running {
			if x == n {
				return
			}
		}
		r.running = append(r.running, n)
		sort.Ints(r.running)
		if state == StateFailed {
			r.failedOn[n] = true
			r.failed = true
		}
	case StateStopped, "":
	default:
		w.warnf("observed state %q of %s is not running, stopped or failed; taken as stopped", state, r.id)
	}
}

// anyPrimitive returns the primitive (or first instance of it) with this base id.
func (w *working) anyPrimitive(base string) *resource { return w.byBase[base] }

// cloneOf returns the clone whose instances contain primitive base.
func (w *working) cloneOf(base string) *resource { return w.cloneOfBase[base] }

// instanceFor picks the clone instance that holds primitive base on node n:
// the instance already active there, the requested instance number if free,
// else the first instance not active anywhere.
func (w *working) instanceFor(clone *resource, base string, n int, requested map[int]int) *resource {
	member := func(inst *resource) *resource {
		if inst.kind == kPrimitive {
			return inst
		}
		for _, m := range inst.children {
			if m.base == base {
				return m
			}
		}
		return nil
	}
	activeOn := func(inst *resource, n int) bool {
		var on bool
		walk(inst, func(x *resource) {
			for _, y := range x.running {
				if y == n {
					on = true
				}
			}
		})
		return on
	}
	idle := func(inst *resource) bool {
		busy := false
		walk(inst, func(x *resource) { busy = busy || len(x.running) > 0 })
		return !busy
	}
	for _, inst := range clone.children {
		if activeOn(inst, n) {
			return member(inst)
		}
	}
	if k, ok := requested[n]; ok && k < len(clone.children) && idle(clone.children[k]) {
		return member(clone.children[k])
	}
	for _, inst := range clone.children {
		if idle(inst) {
			return member(inst)
		}
	}
	return nil
}

// eligibility bans nodes that cannot run resources (stage "eligibility").
func (w *working) eligibility() {
	for _, n := range w.nodes {
		var why string
		switch {
		case n.witness:
			why = "node is a witness"
		case n.unclean:
			why = "node is unclean"
		case !n.online:
			why = "node is offline"
		case n.standby:
			why = "node is in standby"
		case n.maintenance:
			why = "node is in maintenance"
		default:
			continue
		}
		// Like Pacemaker, the node keeps its score (it matters when
		// resources are sorted) and is simply never chosen; the note
		// explains why.
		for _, r := range w.top {
			r.addScore(n.idx, why+": cannot run resources", 0)
		}
	}
}

// locations applies location constraints and move/ban preferences (stage "locations").
func (w *working) locations() {
	for _, con := range w.in.Cluster.Constraints {
		l := con.Location
		if l == nil {
			continue
		}
		r, ok := w.lookup(l.Resource)
		if !ok {
			w.warnf("location %s names unknown resource %q; ignored", l.ID, l.Resource)
			continue
		}
		name := "location " + l.ID
		if l.ID == "" {
			name = "location " + l.Resource
		}
		if l.Rule != "" || l.ParsedRule != nil {
			rule := l.ParsedRule
			if rule == nil {
				var err error
				if rule, err = model.ParseRule(l.Rule); err != nil {
					w.warnf("location %s: rule %q: %v; ignored", l.ID, l.Rule, err)
					continue
				}
			}
			for _, n := range w.nodes {
				if rule.Eval(n.name, n.attrs) {
					r.applyLocation(n.idx, fmt.Sprintf("%s (rule %s)", name, rule), l.Score)
				}
			}
			continue
		}
		n, ok := w.nodeIdx[l.Node]
		if !ok {
			w.warnf("location %s names unknown node %q; ignored", l.ID, l.Node)
			continue
		}
		r.applyLocation(n, name, l.Score)
	}
	for _, p := range w.in.Admin.Preferences {
		r, ok := w.lookup(p.Resource)
		n, ok2 := w.nodeIdx[p.Node]
		if !ok || !ok2 {
			w.warnf("preference %s names unknown resource %q or node %q; ignored", p.Name, p.Resource, p.Node)
			continue
		}
		r.applyLocation(n, "preference "+p.Name, p.Score)
	}
}

// stickiness adds resource stickiness on the current node and bans nodes
// where the fail count reached migration_threshold (stage "stickiness").
func (w *working) stickiness() {
	for _, p := range w.prims {
		if p.managed && p.stickiness != 0 && len(p.running) == 1 {
			n := p.running[0]
			p.scores[n] = p.scores[n].Add(p.stickiness)
			p.why[n] = append(p.why[n], contrib{Source: "stickiness (running here)", Score: p.stickiness})
		}
		nodes := make([]int, 0, len(p.fails))
		for n := range p.fails {
			nodes = append(nodes, n)
		}
		sort.Ints(nodes)
		for _, n := range nodes {
			fc := p.fails[n]
			threshold := model.Score(p.threshold)
			if threshold <= 0 {
				threshold = model.Infinity // Pacemaker's default migration-threshold
			}
			if fc < threshold {
				continue
			}
			target := p
			for q := p.parent; q != nil; q = q.parent {
				if q.kind == kClone {
					target = q // anonymous clone instances: ban the whole clone
				}
			}
			target.addScore(n, fmt.Sprintf("fail count %s >= migration_threshold %s of %s", fc, threshold, p.base), model.NegInfinity)
		}
	}
}
