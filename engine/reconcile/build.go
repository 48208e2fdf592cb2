package reconcile

import (
	"fmt"
	"sort"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// topology resolves instance ids ("web", "unbound:1") to the configuration:
// their primitive, group, clone and the order constraints between them.
type topology struct {
	c       *model.Cluster
	group   map[string]*model.Group // primitive -> its group
	pos     map[string]int          // primitive -> position in its group
	cloneOf map[string]string       // primitive -> clone id (directly or through its group)
}

func newTopology(c *model.Cluster) *topology {
	t := &topology{c: c, group: map[string]*model.Group{}, pos: map[string]int{}, cloneOf: map[string]string{}}
	for i := range c.Groups {
		g := &c.Groups[i]
		for j, m := range g.Resources {
			t.group[m], t.pos[m] = g, j
		}
	}
	for _, cl := range c.Clones {
		if g, ok := c.Group(cl.Resource); ok {
			for _, m := range g.Resources {
				t.cloneOf[m] = cl.ID
			}
		} else {
			t.cloneOf[cl.Resource] = cl.ID
		}
	}
	return t
}

// isThen reports whether instance is the `then` side of an order naming id.
func (t *topology) isThen(id, instance string) bool {
	prim, _ := model.SplitInstance(instance)
	if id == prim {
		return true
	}
	g := t.group[prim]
	if g != nil && t.pos[prim] == 0 && id == g.ID {
		return true
	}
	if cl, ok := t.cloneOf[prim]; ok && cl == id && (g == nil || t.pos[prim] == 0) {
		return true
	}
	return false
}

// firsts returns the instances that stand for the `first` side id of an
// order: a primitive (or its clone instances), a group's last member, a
// clone's instance on node when it has one there, else any assigned one.
func (t *topology) firsts(id, node string, byPrim map[string][]model.Assignment) []string {
	prim := id
	if g, ok := t.c.Group(id); ok && len(g.Resources) > 0 {
		prim = g.Resources[len(g.Resources)-1]
	} else if cl, ok := t.c.Clone(id); ok {
		prim = cl.Resource
		if g, ok := t.c.Group(prim); ok && len(g.Resources) > 0 {
			prim = g.Resources[len(g.Resources)-1]
		}
	}
	as := byPrim[prim]
	if _, cloned := t.cloneOf[prim]; !cloned {
		return []string{prim}
	}
	pick := ""
	for _, a := range as {
		if a.Node == node {
			return []string{a.InstanceID()}
		}
		if pick == "" && a.Node != "" {
			pick = a.InstanceID()
		}
	}
	if pick == "" {
		return nil // not placed anywhere: nothing to wait for (it does not run)
	}
	return []string{pick}
}

// after returns what instance must see started first: its group
// predecessor (same clone suffix) and the first side of every mandatory
// order with it as then.
func (t *topology) after(instance, node string, byPrim map[string][]model.Assignment) []string {
	prim, suffix := model.SplitInstance(instance)
	if _, cloned := t.cloneOf[prim]; !cloned {
		prim, suffix = instance, ""
	}
	var out []string
	if g := t.group[prim]; g != nil && t.pos[prim] > 0 {
		out = append(out, g.Resources[t.pos[prim]-1]+suffix)
	}
	for _, c := range t.c.Constraints {
		o := c.Order
		if o == nil || o.KindOrDefault() != model.OrderMandatory || !t.isThen(o.Then, instance) {
			continue
		}
		for _, f := range t.firsts(o.First, node, byPrim) {
			if f != instance {
				out = append(out, f)
			}
		}
	}
	return dedup(out)
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// DesiredInput is what BuildDesired derives a node's Desired from.
type DesiredInput struct {
	// Node is this node's name.
	Node string
	// View is the replicated state (a View copy).
	View state.Data
	// Cluster is the committed configuration parsed (nil: none committed).
	Cluster *model.Cluster
	// Quorate is the membership's weighted quorum as this node sees it;
	// NoQuorumFor is how long it has not been quorate (0 when quorate).
	Quorate     bool
	NoQuorumFor time.Duration
	// NoQuorumDelay is how long a node waits without quorum before it
	// applies no_quorum_policy on its own (the lease usually acts first).
	NoQuorumDelay time.Duration
}

// BuildDesired computes the Desired value of one node from the replicated
// state: the committed placement's instances for this node in start order
// (each with its After), the other instances it could run (probed), the
// blocked ones, and the mode. Pure.
//
// A primitive placed here but observed active on another node is not in
// Instances until that node reports it stopped (a move is stop there, then
// start here: nodes act independently on the placement, so the new node
// waits for the old one's report). The coordinator marks a lost node's
// resources stopped once its lease has certainly lapsed.
func BuildDesired(in DesiredInput) Desired {
	v := in.View
	d := Desired{Index: v.Index, PlanIndex: v.Placement.BasedOn}
	ns := v.Nodes[in.Node]
	if ns != nil {
		for _, id := range sortedKeys(ns.Resources) {
			if ns.Resources[id].State == state.Blocked {
				d.Blocked = append(d.Blocked, id)
			}
		}
	}
	c := in.Cluster
	if c == nil {
		return d
	}
	d.NoQuorumPolicy = c.NoQuorumPolicy()
	switch {
	case ns != nil && ns.Maintenance:
		d.Mode = ModeMaintenance
	case !in.Quorate && in.NoQuorumFor >= in.NoQuorumDelay:
		switch d.NoQuorumPolicy {
		case model.NoQuorumFreeze:
			d.Mode = ModeFreeze
		case model.NoQuorumIgnore:
		default:
			d.Mode = ModeStopAll
		}
	}
	if self, ok := c.Node(in.Node); !ok || self.IsWitness() {
		return d // runs nothing
	}
	t := newTopology(c)
	byPrim := map[string][]model.Assignment{}
	for _, a := range v.Placement.Assignments {
		byPrim[a.Resource] = append(byPrim[a.Resource], a)
	}
	// An order's `first` counts as started only where the placement keeps
	// it: one started on a node it is moving away from is about to stop, and
	// starting the `then` side on the strength of it would start it before
	// its `first` (a service before its VIP in a move).
	placedOn := map[string]bool{}
	for _, a := range v.Placement.Assignments {
		placedOn[a.InstanceID()+"\x00"+a.Node] = true
	}
	started := map[string][]string{}
	elsewhere := map[string]string{} // instance -> another node where it may be active
	for _, n := range sortedKeys(v.Nodes) {
		for _, id := range sortedKeys(v.Nodes[n].Resources) {
			s := v.Nodes[n].Resources[id].State
			if s == state.Started && placedOn[id+"\x00"+n] {
				started[id] = append(started[id], n)
			}
			if n != in.Node && state.Active(s) && elsewhere[id] == "" {
				elsewhere[id] = n
			}
		}
	}
	d.StartedOn = func(instance string) []string { return started[instance] }

	mine := map[string]bool{}
	var list []Instance
	for _, a := range v.Placement.Assignments {
		if a.Node != in.Node {
			continue
		}
		r, ok := c.Resource(a.Resource)
		if !ok {
			continue // the configuration changed since the plan; the next plan fixes it
		}
		id := a.InstanceID()
		mine[id] = true
		if _, cloned := t.cloneOf[a.Resource]; !cloned && elsewhere[id] != "" {
			continue // wait for the other node to stop it (it is probed meanwhile)
		}
		list = append(list, Instance{ID: id, Resource: *r, After: t.after(id, in.Node, byPrim)})
	}
	d.Instances = startOrder(list)
	listed := map[string]bool{}
	for _, i := range d.Instances {
		listed[i.ID] = true
	}
	// Others: every other instance this node could run, so the reconciler
	// probes it and stops it if it runs here unplaced.
	for _, r := range c.Resources {
		ids := []string{r.ID}
		if _, cloned := t.cloneOf[r.ID]; cloned {
			ids = cloneIDsFor(r.ID, in.Node, c, byPrim, ns)
		}
		for _, id := range ids {
			if !listed[id] {
				d.Others = append(d.Others, Instance{ID: id, Resource: r, After: t.after(id, in.Node, byPrim)})
			}
		}
	}
	return d
}

// cloneIDsFor returns the clone instance ids of prim this node must know:
// the ones assigned here, the ones it reported, or else the one it would use
// (numbered by its position in the node list).
func cloneIDsFor(prim, node string, c *model.Cluster, byPrim map[string][]model.Assignment, ns *state.NodeState) []string {
	var ids []string
	for _, a := range byPrim[prim] {
		if a.Node == node {
			ids = append(ids, a.InstanceID())
		}
	}
	if ns != nil {
		for _, id := range sortedKeys(ns.Resources) {
			if p, sfx := model.SplitInstance(id); p == prim && sfx != "" && state.Active(ns.Resources[id].State) {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		for i, n := range c.Nodes {
			if n.Name == node {
				ids = append(ids, fmt.Sprintf("%s:%d", prim, i))
			}
		}
	}
	sort.Strings(ids)
	return dedup(ids)
}

// startOrder sorts instances so that each comes after the ones it names in
// After (when they are in the list), keeping the scheduler's order otherwise.
func startOrder(in []Instance) []Instance {
	idx := map[string]int{}
	for i, x := range in {
		idx[x.ID] = i
	}
	done := map[string]bool{}
	visiting := map[string]bool{}
	out := make([]Instance, 0, len(in))
	var visit func(i int)
	visit = func(i int) {
		id := in[i].ID
		if done[id] || visiting[id] {
			return // a cycle is the configuration's problem; keep going
		}
		visiting[id] = true
		for _, a := range in[i].After {
			if j, ok := idx[a]; ok {
				visit(j)
			}
		}
		visiting[id] = false
		done[id] = true
		out = append(out, in[i])
	}
	for i := range in {
		visit(i)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Cleanup is one instance that a resource.cleanup event clears on this node
// (Reconciler.Cleanup).
type Cleanup struct {
	// Instance is the instance id to clean up.
	Instance string
	// Event is the resource id the cleanup named: a primitive, a group or a
	// clone.
	Event string
	// Known: Instance is one of the Desired's instances (Instances or
	// Others). When none matches, the event's id itself is cleaned up.
	Known bool
}

// CleanupsSince lists what every resource.cleanup event applied after seq
// clears on node: the instances of the named primitive, or of every member
// of the named group or clone, among d's instances (the state machine does
// not parse the configuration, so it cannot expand a group id itself). It
// returns the newest event sequence number seen. Pure.
func CleanupsSince(v state.Data, c *model.Cluster, d Desired, node string, seq uint64) ([]Cleanup, uint64) {
	var out []Cleanup
	for _, e := range v.Events {
		if e.Seq <= seq {
			continue
		}
		seq = e.Seq
		if e.Type != state.EventCleanup || (e.Node != "" && e.Node != node) {
			continue
		}
		prims := map[string]bool{e.Resource: true}
		if c != nil {
			id := e.Resource
			if cl, ok := c.Clone(id); ok {
				id = cl.Resource
				prims[id] = true
			}
			if g, ok := c.Group(id); ok {
				for _, m := range g.Resources {
					prims[m] = true
				}
			}
		}
		found := false
		for _, list := range [][]Instance{d.Instances, d.Others} {
			for _, in := range list {
				if p, _ := model.SplitInstance(in.ID); prims[in.ID] || prims[p] {
					out = append(out, Cleanup{Instance: in.ID, Event: e.Resource, Known: true})
					found = true
				}
			}
		}
		if !found {
			out = append(out, Cleanup{Instance: e.Resource, Event: e.Resource})
		}
	}
	if len(v.Events) > 0 && v.Events[len(v.Events)-1].Seq > seq {
		seq = v.Events[len(v.Events)-1].Seq
	}
	return out, seq
}
