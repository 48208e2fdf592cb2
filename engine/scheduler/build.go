package scheduler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
)

// kind is a resource variant.
type kind int

const (
	kPrimitive kind = iota
	kGroup
	kClone
)

// node is the working copy of one configured node.
type node struct {
	name        string
	idx         int
	online      bool
	unclean     bool
	standby     bool
	maintenance bool
	witness     bool
	attrs       map[string]string
	assigned    int // resources assigned so far (Pacemaker's num_resources)
}

// canRun reports whether the node may run resources at all.
func (n *node) canRun() bool {
	return n.online && !n.unclean && !n.standby && !n.maintenance && !n.witness
}

// contrib is one recorded score contribution (the Explanation's type, so
// snapshots hand their slices over without copying).
type contrib = Contribution

// colocation is one colocation between working resources.
type colocation struct {
	id        string
	dependent *resource
	primary   *resource
	score     model.Score
}

// resource is the working copy of a primitive, group, clone or clone instance.
type resource struct {
	id       string // primitive/group/clone id, or instance id "ID:N"
	base     string // configured id (without instance suffix)
	kind     kind
	order    int // position in the configuration (stable tie-break)
	parent   *resource
	children []*resource

	// effective meta attributes (inherited from parents)
	stickiness    model.Score
	threshold     int
	failTimeout   time.Duration
	stopped       bool // target_role Stopped
	priority      int
	managed       bool
	cloneMax      int
	cloneNodeMax  int
	instanceIndex int

	// scores per node index, and the contributions that made them
	scores []model.Score
	why    [][]contrib

	colocs    []*colocation // this with others (Pacemaker's rsc_cons)
	colocsLHS []*colocation // others with this (rsc_cons_lhs)

	// observed state
	running  []int // node indices where active (running or failed)
	failedOn map[int]bool
	fails    map[int]model.Score // effective fail count per node
	failed   bool

	// assignment
	assigned    int // node index, -1 none
	provisional bool
	allocating  bool
	merging     bool
	reason      string
}

// working is the scheduler's working set for one Compute call.
type working struct {
	in       Input
	now      time.Time
	nodes    []*node
	nodeIdx  map[string]int
	top      []*resource          // top-level resources in configuration order
	byID     map[string]*resource // every resource and instance by id
	prims    []*resource          // every primitive (instances included) in configuration order
	orders   []model.Order
	warnings []string
	quorumStop,
	quorumFreeze bool
	colocs      []*colocation // every colocation, in configuration order
	snaps       map[*resource]table
	byBase      map[string]*resource // first primitive (or instance) of each configured primitive
	cloneOfBase map[string]*resource // clone holding a configured primitive's instances
	prim        map[string]*model.Resource
	snapOrder   []*resource
}

func (w *working) warnf(format string, args ...any) {
	w.warnings = append(w.warnings, fmt.Sprintf(format, args...))
}

// build creates the working set from the input (stage "build").
func build(in Input, now time.Time) *working {
	w := &working{in: in, now: now, nodeIdx: map[string]int{}, byID: map[string]*resource{},
		byBase: map[string]*resource{}, cloneOfBase: map[string]*resource{}, prim: map[string]*model.Resource{}}
	c := in.Cluster
	if c == nil {
		c = &model.Cluster{}
	}
	names := make([]string, 0, len(c.Nodes))
	cfgNode := map[string]model.Node{}
	for _, n := range c.Nodes {
		if _, dup := cfgNode[n.Name]; dup || n.Name == "" {
			w.warnf("node %q is configured twice or has no name; ignored the repeat", n.Name)
			continue
		}
		cfgNode[n.Name] = n
		names = append(names, n.Name)
	}
	sort.Strings(names)
	for i, name := range names {
		cn := cfgNode[name]
		st := in.Nodes[name]
		attrs := map[string]string{}
		for k, v := range cn.Attributes {
			attrs[k] = v
		}
		for k, v := range st.Attributes {
			attrs[k] = v
		}
		attrs["#uname"] = name
		w.nodes = append(w.nodes, &node{name: name, idx: i, online: st.Online, unclean: st.Unclean,
			standby: st.Standby, maintenance: st.Maintenance, witness: cn.IsWitness(), attrs: attrs})
		w.nodeIdx[name] = i
	}
	for name := range in.Nodes {
		if _, ok := w.nodeIdx[name]; !ok {
			w.warnf("status given for node %q, which is not configured; ignored", name)
		}
	}

	// Which primitives and groups are wrapped by a group or clone.
	inGroup := map[string]*model.Group{}
	for i := range c.Groups {
		g := &c.Groups[i]
		for _, m := range g.Resources {
			inGroup[m] = g
		}
	}
	for i := range c.Resources {
		if _, dup := w.prim[c.Resources[i].ID]; !dup {
			w.prim[c.Resources[i].ID] = &c.Resources[i]
		}
	}
	cloned := map[string]*model.Clone{}
	for i := range c.Clones {
		cloned[c.Clones[i].Resource] = &c.Clones[i]
	}
	order := 0
	rootMeta := model.Meta{}
	// Top level in configuration order: primitives, then groups, then clones.
	for i := range c.Resources {
		r := &c.Resources[i]
		if inGroup[r.ID] != nil || cloned[r.ID] != nil {
			continue
		}
		w.top = append(w.top, w.newPrimitive(r.ID, r.ID, nil, []model.Meta{rootMeta, r.Meta}, &order))
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		if cloned[g.ID] != nil {
			continue
		}
		w.top = append(w.top, w.newGroup(g.ID, g, nil, "", []model.Meta{rootMeta, g.Meta}, &order))
	}
	for i := range c.Clones {
		w.top = append(w.top, w.newClone(&c.Clones[i], &order))
	}
	// Resources read from a file keep the file's order across kinds.
	positions := map[string]model.Pos{}
	for _, r := range c.Resources {
		positions["p:"+r.ID] = r.Pos
	}
	for _, g := range c.Groups {
		positions["g:"+g.ID] = g.Pos
	}
	for _, cl := range c.Clones {
		positions["c:"+cl.ID] = cl.Pos
	}
	pos := func(r *resource) model.Pos {
		return positions[[]string{"p:", "g:", "c:"}[r.kind]+r.base]
	}
	sort.SliceStable(w.top, func(i, j int) bool {
		a, b := pos(w.top[i]), pos(w.top[j])
		if a.Line == 0 || b.Line == 0 {
			return false
		}
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return w
}

// effMeta merges meta attributes, later (inner) ones winning.
type effMeta struct {
	stickiness  *model.Score
	threshold   int
	failTimeout model.Duration
	targetRole  string
	priority    int
	hasPriority bool
}

func mergeMeta(ms []model.Meta) effMeta {
	var e effMeta
	for _, m := range ms {
		if m.Stickiness != nil {
			s := *m.Stickiness
			e.stickiness = &s
		}
		if m.MigrationThreshold != 0 {
			e.threshold = m.MigrationThreshold
		}
		if m.FailureTimeout != 0 {
			e.failTimeout = m.FailureTimeout
		}
		if m.TargetRole != "" {
			e.targetRole = m.TargetRole
		}
		if m.Priority != 0 {
			e.priority = m.Priority
			e.hasPriority = true
		}
	}
	return e
}

func (w *working) newResource(id, base string, k kind, parent *resource, metas []model.Meta, order *int) *resource {
	e := mergeMeta(metas)
	r := &resource{id: id, base: base, kind: k, order: *order, parent: parent, assigned: -1,
		provisional: true, managed: true, failedOn: map[int]bool{}, fails: map[int]model.Score{}}
	*order++
	if e.stickiness != nil {
		r.stickiness = *e.stickiness
	}
	r.threshold = e.threshold
	r.failTimeout = time.Duration(e.failTimeout)
	r.priority = e.priority
	role := e.targetRole
	if t, ok := w.in.Admin.TargetRole[base]; ok {
		role = t
	}
	// A parent's administrative target role applies to its members.
	for p := parent; p != nil; p = p.parent {
		if t, ok := w.in.Admin.TargetRole[p.base]; ok && w.in.Admin.TargetRole[base] == "" {
			role = t
		}
	}
	r.stopped = strings.EqualFold(role, "Stopped")
	for _, u := range w.in.Admin.Unmanaged {
		if u == base || (parent != nil && !parent.managed) {
			r.managed = false
		}
	}
	if parent != nil && !parent.managed {
		r.managed = false
	}
	r.scores = make([]model.Score, len(w.nodes))
	r.why = make([][]contrib, len(w.nodes))
	w.byID[id] = r
	return r
}

func (w *working) newPrimitive(id, base string, parent *resource, metas []model.Meta, order *int) *resource {
	r := w.newResource(id, base, kPrimitive, parent, metas, order)
	w.prims = append(w.prims, r)
	if _, ok := w.byBase[base]; !ok {
		w.byBase[base] = r
		for q := parent; q != nil; q = q.parent {
			if q.kind == kClone {
				w.cloneOfBase[base] = q
			}
		}
	}
	return r
}

func (w *working) newGroup(id string, g *model.Group, parent *resource, suffix string, metas []model.Meta, order *int) *resource {
	gr := w.newResource(id, g.ID, kGroup, parent, metas, order)
	for _, m := range g.Resources {
		pm, ok := w.prim[m]
		if !ok {
			w.warnf("group %s names resource %q, which is not configured; ignored", g.ID, m)
			continue
		}
		child := w.newPrimitive(m+suffix, m, gr, append(append([]model.Meta{}, metas...), pm.Meta), order)
		gr.children = append(gr.children, child)
	}
	// Group members are colocated with the previous member (INFINITY).
	for i := 1; i < len(gr.children); i++ {
		w.addColocation("group "+g.ID, gr.children[i], gr.children[i-1], model.Infinity)
	}
	return gr
}

func (w *working) newClone(cl *model.Clone, order *int) *resource {
	c := w.in.Cluster
	metas := []model.Meta{cl.Meta}
	cr := w.newResource(cl.ID, cl.ID, kClone, nil, metas, order)
	if cl.Meta.Stickiness == nil {
		cr.stickiness = 1 // anonymous clones: stickiness 1 by default
		one := model.Score(1)
		metas = []model.Meta{{Stickiness: &one}, cl.Meta}
	}
	cr.cloneMax = cl.Max
	if cr.cloneMax <= 0 {
		cr.cloneMax = len(w.nodes)
	}
	// Anonymous clone instances are interchangeable, so Pacemaker runs at
	// most one per node whatever clone-node-max says (checked with
	// crm_simulate 2.1.5); haven does the same and says so.
	cr.cloneNodeMax = 1
	if cl.NodeMax > 1 {
		w.warnf("clone %s: node_max %d has no effect, an anonymous clone runs at most one instance per node", cl.ID, cl.NodeMax)
	}
	pm, isPrim := w.prim[cl.Resource]
	g, isGroup := c.Group(cl.Resource)
	for i := 0; i < cr.cloneMax; i++ {
		suffix := ":" + strconv.Itoa(i)
		var inst *resource
		switch {
		case isPrim:
			inst = w.newPrimitive(cl.Resource+suffix, cl.Resource, cr, append(append([]model.Meta{}, metas...), pm.Meta), order)
		case isGroup:
			inst = w.newGroup(g.ID+suffix, g, cr, suffix, append(append([]model.Meta{}, metas...), g.Meta), order)
		default:
			w.warnf("clone %s clones %q, which is neither a resource nor a group; ignored", cl.ID, cl.Resource)
			return cr
		}
		inst.instanceIndex = i
		cr.children = append(cr.children, inst)
	}
	return cr
}

func (w *working) addColocation(id string, dep, prim *resource, score model.Score) {
	c := &colocation{id: id, dependent: dep, primary: prim, score: score}
	w.colocs = append(w.colocs, c)
	dep.colocs = append(dep.colocs, c)
	prim.colocsLHS = append(prim.colocsLHS, c)
}

// lookup finds a configured resource (primitive, group or clone) by id. A
// primitive inside a group or clone, or a group inside a clone, resolves to
// its top-level wrapper only when asked via wrapper; plain ids resolve to the
// object itself (for a cloned primitive: the clone).
func (w *working) lookup(id string) (*resource, bool) {
	if r, ok := w.byID[id]; ok {
		if r.parent != nil && r.parent.kind == kClone {
			return r.parent, true
		}
		return r, true
	}
	// A cloned primitive or group: its instances are named ID:N.
	if r, ok := w.byID[id+":0"]; ok {
		for p := r; p != nil; p = p.parent {
			if p.kind == kClone {
				return p, true
			}
		}
	}
	return nil, false
}

// constraints wires configured colocations and collects orders.
func (w *working) constraints() {
	for _, con := range w.in.Cluster.Constraints {
		switch {
		case con.Colocation != nil:
			co := con.Colocation
			dep, ok1 := w.lookup(co.Resource)
			prim, ok2 := w.lookup(co.With)
			if !ok1 || !ok2 {
				w.warnf("colocation %s names an unknown resource (%s with %s); ignored", co.ID, co.Resource, co.With)
				continue
			}
			if dep == prim || co.Score == 0 {
				continue
			}
			id := co.ID
			if id == "" {
				id = co.Resource + "-with-" + co.With
			}
			w.addColocation(id, dep, prim, co.Score)
		case con.Order != nil:
			w.orders = append(w.orders, *con.Order)
		}
	}
	// Pacemaker keeps colocation lists sorted by the other side: priority
	// (highest first), then clones before groups before primitives, then id
	// (cmp_primary_priority / cmp_dependent_priority).
	less := func(a, b *resource) bool {
		if a.priority != b.priority {
			return a.priority > b.priority
		}
		if a.kind != b.kind {
			return a.kind > b.kind
		}
		return a.id < b.id
	}
	// glib's g_list_insert_sorted puts a new element before equal ones, so
	// equal keys end up in reverse configuration order.
	reverse := func(l []*colocation) {
		for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
			l[i], l[j] = l[j], l[i]
		}
	}
	for _, r := range w.byID {
		reverse(r.colocs)
		reverse(r.colocsLHS)
		sort.SliceStable(r.colocs, func(i, j int) bool { return less(r.colocs[i].primary, r.colocs[j].primary) })
		sort.SliceStable(r.colocsLHS, func(i, j int) bool { return less(r.colocsLHS[i].dependent, r.colocsLHS[j].dependent) })
	}
}

// walk calls f for r and every descendant.
func walk(r *resource, f func(*resource)) {
	f(r)
	for _, c := range r.children {
		walk(c, f)
	}
}

// addScore adds a contribution to r (and, for groups and clones, to every
// descendant), as Pacemaker's resource_location does.
func (r *resource) addScore(n int, source string, s model.Score) {
	walk(r, func(x *resource) {
		x.scores[n] = x.scores[n].Add(s)
		x.why[n] = append(x.why[n], contrib{Source: source, Score: s})
	})
}

// setScore forces a score on r alone (used to ban full nodes for clone instances).
func (r *resource) setScore(n int, source string, s model.Score) {
	r.scores[n] = s
	r.why[n] = append(r.why[n], contrib{Source: source + " (set)", Score: s})
}

// applyLocation applies a location constraint's score on node n the way
// Pacemaker 2.1's apply_location does: to the resource itself and, for a
// clone, to every instance; for a group, to the group and its first member
// only (later members follow the first through the group's colocation, so
// they take the constraint with score 0).
func (r *resource) applyLocation(n int, source string, s model.Score) {
	r.scores[n] = r.scores[n].Add(s)
	r.why[n] = append(r.why[n], contrib{Source: source, Score: s})
	switch r.kind {
	case kGroup:
		if len(r.children) > 0 {
			r.children[0].applyLocation(n, source, s)
		}
	case kClone:
		for _, c := range r.children {
			c.applyLocation(n, source, s)
		}
	}
}
