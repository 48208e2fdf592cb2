package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/havenha/haven/engine/model"
)

var mapType = reflect.TypeOf(map[string]any(nil))

func addrOf(ptr any) uintptr { return reflect.ValueOf(ptr).Pointer() }

// kindOf returns what an id names in the shared namespace ("" if nothing).
func (v *validator) kindOf(id string) string {
	if e, ok := v.ids[id]; ok {
		return e.kind
	}
	return ""
}

// idsOfKind lists ids of the given kinds in file order.
func (v *validator) idsOfKind(kinds ...string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(kind, id string) {
		if id != "" && !seen[id] && contains(kinds, kind) && v.ids[id].kind == kind {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, r := range v.c.Resources {
		add("resource", r.ID)
	}
	for _, g := range v.c.Groups {
		add("group", g.ID)
	}
	for _, c := range v.c.Clones {
		add("clone", c.ID)
	}
	return out
}

func (v *validator) groups() {
	for i := range v.c.Groups {
		g := &v.c.Groups[i]
		label := fmt.Sprintf("group %d", i+1)
		if v.checkID(&g.ID, "group", g.Pos) {
			v.register(g.ID, "group", v.posOr(&g.ID, g.Pos))
			label = "group " + g.ID
		}
		if len(g.Resources) == 0 {
			v.errf(v.posOr(&g.Resources, g.Pos), "%s has no resources; expected resources: [ids of primitive resources, in start order]", label)
		}
		seen := map[string]bool{}
		for j := range g.Resources {
			m := g.Resources[j]
			mp := v.posOr(&g.Resources[j], g.Pos)
			if seen[m] {
				v.errf(mp, "resource %q is listed twice in %s; expected each member once", clip(m), label)
				continue
			}
			seen[m] = true
			switch kind := v.kindOf(m); kind {
			case "resource":
				if prev, in := v.groupOf[m]; in {
					v.errf(mp, "resource %s is already a member of group %s (line %d); expected each resource in at most one group", m, prev.ID, prev.Line)
					continue
				}
				v.groupOf[m] = g
			case "":
				v.errf(mp, "%s refers to resource %q, which is not defined; expected %s", label, clip(m), choices(m, v.idsOfKind("resource")))
			default:
				v.errf(mp, "member %q of %s is a %s; expected a primitive resource (groups hold resources only)", m, label, kind)
			}
		}
		v.meta(&g.Meta, label)
	}
}

func (v *validator) clones() {
	for i := range v.c.Clones {
		cl := &v.c.Clones[i]
		label := fmt.Sprintf("clone %d", i+1)
		if v.checkID(&cl.ID, "clone", cl.Pos) {
			v.register(cl.ID, "clone", v.posOr(&cl.ID, cl.Pos))
			label = "clone " + cl.ID
		}
		rp := v.posOr(&cl.Resource, cl.Pos)
		switch kind := v.kindOf(cl.Resource); {
		case cl.Resource == "":
			v.errf(rp, "%s has no resource; expected resource: the id of a primitive resource or group to clone", label)
		case kind == "":
			v.errf(rp, "%s wraps %q, which is not defined; expected %s", label, clip(cl.Resource), choices(cl.Resource, v.idsOfKind("resource", "group")))
		case kind != "resource" && kind != "group":
			v.errf(rp, "%s wraps %s, which is a %s; expected a primitive resource or a group", label, cl.Resource, kind)
		case kind == "resource" && v.groupOf[cl.Resource] != nil:
			g := v.groupOf[cl.Resource]
			v.errf(rp, "%s wraps resource %s, which is a member of group %s; expected the clone to wrap the group %s instead", label, cl.Resource, g.ID, g.ID)
		default:
			if prev, dup := v.cloneOf[cl.Resource]; dup {
				v.errf(rp, "%s is already cloned by %s (line %d); expected each resource or group cloned once", cl.Resource, prev.ID, prev.Line)
			} else {
				v.cloneOf[cl.Resource] = cl
			}
		}
		if cl.Max < 0 {
			v.errf(v.posOr(&cl.Max, cl.Pos), "max %d of %s is negative; expected 0 (one per node) or more", cl.Max, label)
		}
		if cl.NodeMax < 0 {
			v.errf(v.posOr(&cl.NodeMax, cl.Pos), "node_max %d of %s is negative; expected 0 (default 1) or more", cl.NodeMax, label)
		}
		v.meta(&cl.Meta, label)
	}
}

// ref checks that id names a resource, group or clone.
func (v *validator) ref(id *string, key, what string, at model.Pos) bool {
	p := v.posOr(id, at)
	if *id == "" {
		v.errf(p, "%s has no %s; expected %s: the id of a resource, group or clone", what, key, key)
		return false
	}
	switch kind := v.kindOf(*id); kind {
	case "resource", "group":
		if cl := v.cloneOf[*id]; cl != nil {
			v.errf(p, "%s refers to %s, which is cloned by %s; expected the clone's id %s (constraints apply to the clone's instances)", what, *id, cl.ID, cl.ID)
			return false
		}
		if g := v.groupOf[*id]; g != nil && v.cloneOf[g.ID] != nil {
			cl := v.cloneOf[g.ID]
			v.errf(p, "%s refers to %s, a member of group %s, which is cloned by %s; expected the clone's id %s", what, *id, g.ID, cl.ID, cl.ID)
			return false
		}
		return true
	case "clone":
		return true
	case "":
		v.errf(p, "%s refers to %q, which is not a resource, group or clone; expected %s", what, clip(*id), choices(*id, v.idsOfKind("resource", "group", "clone")))
	default:
		v.errf(p, "%s refers to %s, which is a %s; expected a resource, group or clone", what, *id, kind)
	}
	return false
}

func (v *validator) constraints() {
	for i := range v.c.Constraints {
		k := &v.c.Constraints[i]
		var set []string
		if k.Location != nil {
			set = append(set, "location")
		}
		if k.Colocation != nil {
			set = append(set, "colocation")
		}
		if k.Order != nil {
			set = append(set, "order")
		}
		switch len(set) {
		case 0:
			v.errf(k.Pos, "constraint has none of location, colocation, order; expected exactly one of them per list item")
			continue
		case 1:
		default:
			v.errf(k.Pos, "constraint sets %s; expected exactly one of location, colocation, order per list item", strings.Join(set, " and "))
		}
		if l := k.Location; l != nil {
			v.location(l)
		}
		if c := k.Colocation; c != nil {
			v.constraintID(&c.ID, c.Pos)
			okA := v.ref(&c.Resource, "resource", "colocation", c.Pos)
			okB := v.ref(&c.With, "with", "colocation", c.Pos)
			if okA && okB && c.Resource == c.With {
				v.errf(v.posOr(&c.With, c.Pos), "colocation of %s with itself; expected two different resources", c.Resource)
			}
			if !v.present(&c.Score) {
				c.Score = model.Infinity // pcs: colocation add defaults to INFINITY
			}
		}
		if o := k.Order; o != nil {
			v.constraintID(&o.ID, o.Pos)
			okA := v.ref(&o.First, "first", "order", o.Pos)
			okB := v.ref(&o.Then, "then", "order", o.Pos)
			if okA && okB && o.First == o.Then {
				v.errf(v.posOr(&o.Then, o.Pos), "order of %s after itself; expected two different resources", o.First)
			}
		}
	}
}

func (v *validator) constraintID(id *string, at model.Pos) {
	if *id == "" {
		return
	}
	if v.checkID(id, "constraint", at) {
		v.register(*id, "constraint", v.posOr(id, at))
	}
}

func (v *validator) location(l *model.Location) {
	v.constraintID(&l.ID, l.Pos)
	v.ref(&l.Resource, "resource", "location", l.Pos)
	if !v.present(&l.Score) {
		l.Score = model.Infinity // pcs: "prefers NODE" and rules default to INFINITY
	}
	switch {
	case l.Node != "" && l.Rule != "":
		v.errf(v.posOr(&l.Rule, l.Pos), "location sets both node and rule; expected one of them (node: NAME or rule: EXPRESSION)")
	case l.Node == "" && l.Rule == "":
		v.errf(l.Pos, "location has neither node nor rule; expected node: NAME or rule: EXPRESSION")
	case l.Node != "":
		np := v.posOr(&l.Node, l.Pos)
		n, ok := v.nodes[l.Node]
		if !ok {
			var names []string
			for _, x := range v.c.Nodes {
				if x.Name != "" {
					names = append(names, x.Name)
				}
			}
			v.errf(np, "location refers to node %q, which is not defined; expected %s", clip(l.Node), choices(l.Node, names))
		} else if n.IsWitness() && l.Score > 0 {
			v.errf(np, "location prefers node %s, which is a witness and runs no resources; expected a member node", l.Node)
		}
	}
	if l.Rule != "" {
		r, err := model.ParseRule(l.Rule)
		if err != nil {
			p := v.posOr(&l.Rule, l.Pos)
			if re, ok := err.(*model.RuleError); ok {
				if off := v.d.strOffset(&l.Rule); off >= 0 && !strings.Contains(l.Rule, "\n") {
					p.Col += off + re.Offset
				}
				v.errf(p, "invalid rule: %s", re.Msg)
			} else {
				v.errf(p, "invalid rule: %v", err)
			}
			return
		}
		l.ParsedRule = r
	}
}

func (v *validator) quorum() {
	s := &v.c.Cluster
	if len(v.c.Nodes) == 0 {
		return
	}
	maxVotes, maxNode := 0, ""
	members, witnesses := 0, []string{}
	for _, n := range v.c.Nodes {
		if n.VotesOrDefault() > maxVotes {
			maxVotes, maxNode = n.VotesOrDefault(), n.Name
		}
		if n.IsWitness() {
			witnesses = append(witnesses, n.Name)
		} else {
			members++
		}
	}
	negative := false
	for _, n := range v.c.Nodes {
		if n.VotesOrDefault() < 0 {
			negative = true
		}
	}
	if !negative && v.c.TotalVotes() <= 0 {
		v.errf(v.posOr(&v.c.Nodes, model.Pos{Line: 1, Col: 1}), "the nodes have no votes in total; expected at least one node with votes >= 1")
	}
	if s.ExpectedVotes != nil {
		ep := v.posOr(&s.ExpectedVotes, s.Pos)
		switch ev := *s.ExpectedVotes; {
		case ev < 1:
			v.errf(ep, "expected_votes %d is below 1; expected at least 1 (or leave it out for the sum of all votes, %d)", ev, v.c.TotalVotes())
		case ev < maxVotes:
			v.errf(ep, "expected_votes %d is smaller than node %s's %d votes; expected at least %d", ev, maxNode, maxVotes, maxVotes)
		}
	}
	if s.TwoNode {
		tp := v.posOr(&s.TwoNode, s.Pos)
		switch {
		case len(witnesses) > 0:
			v.errf(tp, "two_node is true but node %s is a witness; expected two_node only without a witness (a witness already breaks the tie: remove two_node or the witness)", witnesses[0])
		case members != 2:
			v.errf(tp, "two_node is true but there are %d nodes; expected exactly two nodes of one vote each", members)
		default:
			for _, n := range v.c.Nodes {
				if n.VotesOrDefault() != 1 {
					v.errf(tp, "two_node is true but node %s has %d votes; expected exactly two nodes of one vote each", n.Name, n.VotesOrDefault())
					break
				}
			}
		}
	}
	if len(witnesses) > 0 && members == 0 {
		v.errf(v.posOr(&v.c.Nodes, model.Pos{Line: 1, Col: 1}), "every node is a witness; expected at least one member node to run resources")
	}
}
