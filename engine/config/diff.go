package config

// diff.go compares two configurations item by item (what `haven config diff`
// and `haven config apply` show): the cluster settings, nodes, fencing
// devices, resources, groups, clones and constraints that were added,
// removed or changed, with the changed fields of each as dotted paths.
//
// Items are matched by id (node name, device/resource/group/clone id).
// Constraints have no mandatory id: one with an id is matched by it, others
// by what they tie together (location: resource + node or rule; colocation:
// resource + with; order: first + then); when two constraints share a key
// they are matched in file order. Field values are compared through their
// JSON form, so positions in the file never count as changes and moving an
// item within its list is not a change.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/havenha/haven/engine/model"
)

// Change kinds.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Sections of a configuration, in the order a Diff lists them.
const (
	SectionCluster    = "cluster"
	SectionNode       = "node"
	SectionFencing    = "fencing"
	SectionResource   = "resource"
	SectionGroup      = "group"
	SectionClone      = "clone"
	SectionConstraint = "constraint"
)

// Change is one added, removed or changed item.
type Change struct {
	Kind    string `json:"kind"`
	Section string `json:"section"`
	// ID names the item (empty for the cluster settings); for constraints
	// without an id, a description such as "location web on sv1".
	ID string `json:"id,omitempty"`
	// Fields lists what changed in a changed item.
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one changed field: a dotted path (params.ip, meta.stickiness,
// addresses) and the old and new values in JSON ("" when absent).
type FieldChange struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Diff is the semantic difference between two configurations.
type Diff struct {
	Changes []Change `json:"changes"`
}

// Empty reports whether the configurations are equivalent.
func (d Diff) Empty() bool { return len(d.Changes) == 0 }

// Count returns how many items were added, removed and changed.
func (d Diff) Count() (added, removed, changed int) {
	for _, c := range d.Changes {
		switch c.Kind {
		case Added:
			added++
		case Removed:
			removed++
		case Changed:
			changed++
		}
	}
	return
}

// String renders the diff for people: one line per item (+ added, - removed,
// ~ changed) and one indented line per changed field.
func (d Diff) String() string {
	if d.Empty() {
		return "no changes\n"
	}
	var b strings.Builder
	for _, c := range d.Changes {
		mark := map[string]string{Added: "+", Removed: "-", Changed: "~"}[c.Kind]
		name := c.Section
		if c.ID != "" {
			name += " " + c.ID
		}
		fmt.Fprintf(&b, "%s %s\n", mark, name)
		for _, f := range c.Fields {
			switch {
			case f.Old == "":
				fmt.Fprintf(&b, "    %s: added %s\n", f.Path, f.New)
			case f.New == "":
				fmt.Fprintf(&b, "    %s: removed (was %s)\n", f.Path, f.Old)
			default:
				fmt.Fprintf(&b, "    %s: %s -> %s\n", f.Path, f.Old, f.New)
			}
		}
	}
	a, r, ch := d.Count()
	fmt.Fprintf(&b, "%d added, %d removed, %d changed\n", a, r, ch)
	return b.String()
}

// Compare returns what changes from old to next. A nil old (nothing
// committed yet) makes every item of next an addition; a nil next removes
// everything.
func Compare(old, next *model.Cluster) Diff {
	if old == nil {
		old = &model.Cluster{}
	}
	if next == nil {
		next = &model.Cluster{}
	}
	var d Diff
	if f := fieldDiff("", toTree(old.Cluster), toTree(next.Cluster)); len(f) > 0 {
		d.Changes = append(d.Changes, Change{Kind: Changed, Section: SectionCluster, Fields: f})
	}
	d.Changes = append(d.Changes, compareLists(SectionNode, items(old.Nodes, func(n model.Node) string { return n.Name }),
		items(next.Nodes, func(n model.Node) string { return n.Name }))...)
	d.Changes = append(d.Changes, compareLists(SectionFencing, items(old.Fencing, func(f model.FenceDevice) string { return f.ID }),
		items(next.Fencing, func(f model.FenceDevice) string { return f.ID }))...)
	d.Changes = append(d.Changes, compareLists(SectionResource, items(old.Resources, func(r model.Resource) string { return r.ID }),
		items(next.Resources, func(r model.Resource) string { return r.ID }))...)
	d.Changes = append(d.Changes, compareLists(SectionGroup, items(old.Groups, func(g model.Group) string { return g.ID }),
		items(next.Groups, func(g model.Group) string { return g.ID }))...)
	d.Changes = append(d.Changes, compareLists(SectionClone, items(old.Clones, func(c model.Clone) string { return c.ID }),
		items(next.Clones, func(c model.Clone) string { return c.ID }))...)
	d.Changes = append(d.Changes, compareLists(SectionConstraint, constraintItems(old.Constraints), constraintItems(next.Constraints))...)
	return d
}

// item is one list entry reduced to its key and its JSON tree.
type item struct {
	key  string
	tree any
}

func items[T any](list []T, key func(T) string) []item {
	out := make([]item, 0, len(list))
	for _, x := range list {
		out = append(out, item{key: key(x), tree: toTree(x)})
	}
	return out
}

// constraintItems keys constraints by id, else by what they tie together;
// repeated keys get a #2, #3… suffix in file order.
func constraintItems(list []model.Constraint) []item {
	seen := map[string]int{}
	out := make([]item, 0, len(list))
	for _, c := range list {
		k := constraintKey(c)
		seen[k]++
		if n := seen[k]; n > 1 {
			k = fmt.Sprintf("%s #%d", k, n)
		}
		out = append(out, item{key: k, tree: toTree(c)})
	}
	return out
}

func constraintKey(c model.Constraint) string {
	switch {
	case c.Location != nil:
		l := c.Location
		if l.ID != "" {
			return "location " + l.ID
		}
		if l.Rule != "" {
			return fmt.Sprintf("location %s rule %q", l.Resource, l.Rule)
		}
		return fmt.Sprintf("location %s on %s", l.Resource, l.Node)
	case c.Colocation != nil:
		if c.Colocation.ID != "" {
			return "colocation " + c.Colocation.ID
		}
		return fmt.Sprintf("colocation %s with %s", c.Colocation.Resource, c.Colocation.With)
	case c.Order != nil:
		if c.Order.ID != "" {
			return "order " + c.Order.ID
		}
		return fmt.Sprintf("order %s then %s", c.Order.First, c.Order.Then)
	}
	return "empty constraint"
}

// compareLists lists removed items (in old's order), then changed and added
// ones (in next's order).
func compareLists(section string, old, next []item) []Change {
	var out []Change
	inNext := map[string]bool{}
	for _, n := range next {
		inNext[n.key] = true
	}
	oldByKey := map[string]any{}
	for _, o := range old {
		oldByKey[o.key] = o.tree
		if !inNext[o.key] {
			out = append(out, Change{Kind: Removed, Section: section, ID: o.key})
		}
	}
	for _, n := range next {
		o, ok := oldByKey[n.key]
		switch {
		case !ok:
			out = append(out, Change{Kind: Added, Section: section, ID: n.key})
		default:
			if f := fieldDiff("", o, n.tree); len(f) > 0 {
				out = append(out, Change{Kind: Changed, Section: section, ID: n.key, Fields: f})
			}
		}
	}
	return out
}

// toTree turns a model value into generic JSON values (maps, slices,
// strings, float64, bools). Positions are tagged json:"-" and drop out.
func toTree(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		// Params hold only YAML-decoded values, which always marshal;
		// fall back to the printed form so a diff still shows something.
		return fmt.Sprintf("%v", v)
	}
	var t any
	if err := json.Unmarshal(b, &t); err != nil {
		return string(b)
	}
	return t
}

// fieldDiff compares two JSON trees and returns the changed leaves. Maps are
// walked key by key (sorted); lists and scalars are compared whole.
func fieldDiff(path string, a, b any) []FieldChange {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []FieldChange
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			av, ain := am[k]
			bv, bin := bm[k]
			switch {
			case !ain:
				out = append(out, FieldChange{Path: p, New: render(bv)})
			case !bin:
				out = append(out, FieldChange{Path: p, Old: render(av)})
			default:
				out = append(out, fieldDiff(p, av, bv)...)
			}
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	if path == "" {
		path = "(value)"
	}
	return []FieldChange{{Path: path, Old: render(a), New: render(b)}}
}

func render(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}
