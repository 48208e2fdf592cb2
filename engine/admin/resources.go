package admin

// resources.go answers questions about the committed configuration's
// resource tree (what an id names, what it contains, what contains it) and
// about what nodes reported, for the requests to check and explain.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// primitivesOf expands a primitive, group or clone id to its primitives.
func primitivesOf(c *model.Cluster, id string) ([]string, bool) {
	if _, ok := c.Resource(id); ok {
		return []string{id}, true
	}
	if cl, ok := c.Clone(id); ok {
		if out, ok := primitivesOf(c, cl.Resource); ok {
			return out, true
		}
		return []string{cl.Resource}, true
	}
	if g, ok := c.Group(id); ok {
		return append([]string{}, g.Resources...), true
	}
	return nil, false
}

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

func resourceIDs(c *model.Cluster) []string {
	var ids []string
	for _, r := range c.Resources {
		ids = append(ids, r.ID)
	}
	for _, g := range c.Groups {
		ids = append(ids, g.ID)
	}
	for _, cl := range c.Clones {
		ids = append(ids, cl.ID)
	}
	sort.Strings(ids)
	return ids
}

func nodeNames(c *model.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Name)
	}
	return out
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

func unknownResource(c *model.Cluster, id string) error {
	return &api.Error{Status: 404, Message: fmt.Sprintf("no resource, group or clone %q in the committed configuration; expected one of %s",
		id, strings.Join(resourceIDs(c), ", "))}
}

func unknownNode(c *model.Cluster, name string) error {
	return &api.Error{Status: 404, Message: fmt.Sprintf("no node %q in the committed configuration; expected one of %s",
		name, strings.Join(nodeNames(c), ", "))}
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
