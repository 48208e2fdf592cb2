package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/havenha/haven/engine/model"
)

// maxNodes bounds the YAML nodes visited while decoding, aliases expanded:
// a real configuration has a few thousand; an alias bomb has billions.
const maxNodes = 200_000

// posKey names a decoded Go value by its address and type (a struct and its
// first field share an address, so the type tells them apart).
type posKey struct {
	addr uintptr
	typ  reflect.Type
}

// decoder walks a yaml.Node tree into the model structs, recording where each
// value was written and collecting every problem instead of stopping.
type decoder struct {
	c         *collector
	budget    int
	exhausted bool
	expanding map[*yaml.Node]bool
	pos       map[posKey]model.Pos
	paramPos  map[posKey]map[string]model.Pos
	off       map[posKey]int       // columns between a string scalar's position and its text (quotes)
	keyPos    map[posKey]model.Pos // where each struct field's key was written
}

func newDecoder(c *collector) *decoder {
	return &decoder{
		c:         c,
		budget:    maxNodes,
		expanding: map[*yaml.Node]bool{},
		pos:       map[posKey]model.Pos{},
		paramPos:  map[posKey]map[string]model.Pos{},
		off:       map[posKey]int{},
		keyPos:    map[posKey]model.Pos{},
	}
}

// at returns where the value ptr points to was written, if it was.
func (d *decoder) at(ptr any) (model.Pos, bool) {
	rv := reflect.ValueOf(ptr)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return model.Pos{}, false
	}
	p, ok := d.pos[posKey{rv.Pointer(), rv.Type().Elem()}]
	return p, ok
}

func (d *decoder) record(v reflect.Value, n *yaml.Node) {
	if v.CanAddr() {
		d.pos[posKey{v.Addr().Pointer(), v.Type()}] = model.Pos{Line: n.Line, Col: n.Column}
	}
}

func (d *decoder) errAt(n *yaml.Node, format string, a ...any) {
	d.c.add(n.Line, n.Column, format, a...)
}

// resolve follows an alias and charges the node budget. It returns nil when
// the node must not be decoded (budget spent, or an alias that contains itself).
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	if d.exhausted || n == nil {
		return nil
	}
	d.budget--
	if d.budget < 0 {
		d.exhausted = true
		d.errAt(n, "the document expands to more than %d YAML nodes (through aliases?); expected a configuration without alias bombs", maxNodes)
		return nil
	}
	for depth := 0; n.Kind == yaml.AliasNode; depth++ {
		if n.Alias == nil || depth > 100 {
			d.errAt(n, "alias *%s cannot be resolved; expected an alias of an anchor defined earlier", n.Value)
			return nil
		}
		if d.expanding[n.Alias] {
			d.errAt(n, "alias *%s refers to a value that contains it; expected an alias of a value defined outside itself", n.Value)
			return nil
		}
		n = n.Alias
	}
	return n
}

// describe names what a YAML node holds, for "got" parts of messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!int":
			return "the integer " + clip(n.Value)
		case "!!float":
			return "the number " + clip(n.Value)
		case "!!bool":
			return "the boolean " + clip(n.Value)
		}
		return strconv.Quote(clip(n.Value))
	}
	return "an unexpected YAML node"
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// pair is one key/value of a mapping after merge keys are applied.
type pair struct{ k, v *yaml.Node }

// pairs lists a mapping's entries: explicit keys first, in order, then keys
// merged in with `<<:` that were not given explicitly. Duplicate explicit keys
// are reported.
func (d *decoder) pairs(n *yaml.Node, what string) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errAt(k, "a key in %s is %s; expected a plain name", what, describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errAt(k, "duplicate key %q in %s (first at line %d); expected each key once", k.Value, what, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, m := range merges {
		var sources []*yaml.Node
		mv := d.resolve(m)
		if mv == nil {
			continue
		}
		switch mv.Kind {
		case yaml.MappingNode:
			sources = append(sources, mv)
		case yaml.SequenceNode:
			for _, s := range mv.Content {
				if sv := d.resolve(s); sv != nil {
					if sv.Kind != yaml.MappingNode {
						d.errAt(s, "a merge key (<<) in %s lists %s; expected aliases of mappings", what, describe(sv))
						continue
					}
					sources = append(sources, sv)
				}
			}
		default:
			d.errAt(m, "a merge key (<<) in %s is %s; expected an alias of a mapping or a list of them", what, describe(mv))
			continue
		}
		for _, src := range sources {
			d.expanding[src] = true
			for _, p := range d.pairs(src, what) {
				if _, dup := seen[p.k.Value]; dup {
					continue
				}
				seen[p.k.Value] = p.k
				out = append(out, p)
			}
			delete(d.expanding, src)
		}
	}
	return out
}

// field describes one yaml-tagged field of a model struct.
type field struct {
	name  string
	index int
	enum  []string
}

type structInfo struct {
	fields []field
	byName map[string]field
	names  []string
	posIdx int // index of the embedded model.Pos, or -1
}

var (
	posType     = reflect.TypeOf(model.Pos{})
	textType    = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	scoreType   = reflect.TypeOf(model.Score(0))
	durType     = reflect.TypeOf(model.Duration(0))
	resType     = reflect.TypeOf(model.Resource{})
	infoCache   sync.Map // reflect.Type -> *structInfo
	contextName = map[reflect.Type]string{
		reflect.TypeOf(model.Cluster{}):     "the top level",
		reflect.TypeOf(model.Settings{}):    "cluster",
		reflect.TypeOf(model.Timing{}):      "cluster.timing",
		reflect.TypeOf(model.Node{}):        "node",
		reflect.TypeOf(model.FenceDevice{}): "fencing device",
		reflect.TypeOf(model.Op{}):          "operation",
		reflect.TypeOf(model.Meta{}):        "meta",
		reflect.TypeOf(model.Resource{}):    "resource",
		reflect.TypeOf(model.Group{}):       "group",
		reflect.TypeOf(model.Clone{}):       "clone",
		reflect.TypeOf(model.Constraint{}):  "constraint",
		reflect.TypeOf(model.Location{}):    "location",
		reflect.TypeOf(model.Colocation{}):  "colocation",
		reflect.TypeOf(model.Order{}):       "order",
	}
)

func infoOf(t reflect.Type) *structInfo {
	if v, ok := infoCache.Load(t); ok {
		return v.(*structInfo)
	}
	si := &structInfo{byName: map[string]field{}, posIdx: -1}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type == posType && f.Anonymous {
			si.posIdx = i
			continue
		}
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || name == "" || !f.IsExported() {
			continue
		}
		fd := field{name: name, index: i}
		if e := f.Tag.Get("enum"); e != "" {
			fd.enum = strings.Split(e, ",")
		}
		si.fields = append(si.fields, fd)
		si.byName[name] = fd
		si.names = append(si.names, name)
	}
	infoCache.Store(t, si)
	return si
}

// value decodes n into v; what names the value in messages (usually its key).
func (d *decoder) value(n *yaml.Node, v reflect.Value, what string) {
	n = d.resolve(n)
	if n == nil {
		return
	}
	t := v.Type()
	d.expanding[n] = true
	defer delete(d.expanding, n)

	if t == scoreType || t == durType || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textType) && t.Kind() != reflect.Struct) {
		d.record(v, n)
		if isNull(n) {
			return
		}
		if n.Kind != yaml.ScalarNode {
			d.errAt(n, "%s is %s; expected %s", what, describe(n), expectText(t))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			if t == scoreType {
				d.errAt(n, "%s %q is not a score; expected an integer, INFINITY, +INFINITY or -INFINITY", what, clip(n.Value))
			} else {
				d.errAt(n, "%s: %v", what, err)
			}
		}
		return
	}

	switch t.Kind() {
	case reflect.Pointer:
		d.record(v, n)
		if isNull(n) {
			return
		}
		nv := reflect.New(t.Elem())
		before := d.c.count
		d.value(n, nv.Elem(), what)
		if d.c.count != before && t.Elem().Kind() != reflect.Struct {
			return // leave a scalar unset (its default) rather than zero
		}
		v.Set(nv)
		// record the element at its own address too
		d.pos[posKey{nv.Pointer(), t.Elem()}] = model.Pos{Line: n.Line, Col: n.Column}
	case reflect.Struct:
		d.record(v, n)
		d.structure(n, v, what)
	case reflect.Slice:
		d.record(v, n)
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errAt(n, "%s is %s; expected a list", what, describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", what, i))
		}
		v.Set(s)
	case reflect.Map:
		d.record(v, n)
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errAt(n, "%s is %s; expected a mapping of names to values", what, describe(n))
			return
		}
		m := reflect.MakeMap(t)
		keyPos := map[string]model.Pos{}
		for _, p := range d.pairs(n, what) {
			ev := reflect.New(t.Elem()).Elem()
			d.value(p.v, ev, p.k.Value)
			m.SetMapIndex(reflect.ValueOf(p.k.Value), ev)
			keyPos[p.k.Value] = model.Pos{Line: p.k.Line, Col: p.k.Column}
		}
		v.Set(m)
		if v.CanAddr() {
			d.paramPos[posKey{v.Addr().Pointer(), t}] = keyPos
		}
	case reflect.Interface:
		d.record(v, n)
		if g := d.generic(n); g != nil {
			v.Set(reflect.ValueOf(g))
		}
	case reflect.String:
		d.record(v, n)
		if isNull(n) {
			return
		}
		if n.Kind != yaml.ScalarNode {
			d.errAt(n, "%s is %s; expected a string", what, describe(n))
			return
		}
		v.SetString(n.Value)
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && v.CanAddr() {
			d.off[posKey{v.Addr().Pointer(), t}] = 1
		} else if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && v.CanAddr() {
			d.off[posKey{v.Addr().Pointer(), t}] = -1 // the text starts on the next line
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		d.record(v, n)
		if isNull(n) {
			return
		}
		var x int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&x) != nil {
			d.errAt(n, "%s is %s; expected an integer", what, describe(n))
			return
		}
		if x > math.MaxInt32 || x < math.MinInt32 {
			d.errAt(n, "%s %d is out of range; expected an integer between %d and %d", what, x, math.MinInt32, math.MaxInt32)
			return
		}
		v.SetInt(x)
	case reflect.Bool:
		d.record(v, n)
		if isNull(n) {
			return
		}
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errAt(n, "%s is %s; expected true or false", what, describe(n))
			return
		}
		v.SetBool(b)
	default:
		d.errAt(n, "%s cannot be decoded (internal: Go type %s); expected a supported value", what, t)
	}
}

func expectText(t reflect.Type) string {
	switch t {
	case scoreType:
		return "a score (an integer, INFINITY, +INFINITY or -INFINITY)"
	case durType:
		return "a duration such as 10s, 500ms or 1min"
	}
	return "a string"
}

// structure decodes a mapping into a model struct, reporting unknown keys,
// duplicates and invalid enum values.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, what string) {
	t := v.Type()
	si := infoOf(t)
	ctx := contextName[t]
	if ctx == "" {
		ctx = what
	}
	if si.posIdx >= 0 {
		v.Field(si.posIdx).Set(reflect.ValueOf(model.Pos{Line: n.Line, Col: n.Column}))
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errAt(n, "%s is %s; expected a mapping with keys %s", what, describe(n), strings.Join(si.names, ", "))
		return
	}
	for _, p := range d.pairs(n, ctx) {
		f, ok := si.byName[p.k.Value]
		if !ok {
			hint := ""
			if near := nearest(p.k.Value, si.names); near != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", near)
			}
			where := "in " + ctx
			if ctx == "the top level" {
				where = "at the top level"
			}
			d.errAt(p.k, "unknown key %q %s%s; expected one of %s", clip(p.k.Value), where, hint, strings.Join(si.names, ", "))
			continue
		}
		fv := v.Field(f.index)
		if fv.CanAddr() {
			d.keyPos[posKey{fv.Addr().Pointer(), fv.Type()}] = model.Pos{Line: p.k.Line, Col: p.k.Column}
		}
		d.value(p.v, fv, f.name)
		if len(f.enum) > 0 && fv.Kind() == reflect.String && fv.String() != "" {
			d.checkEnum(p.v, fv, f, ctx)
		}
	}
	// A struct section left out (meta, timing) takes its parent's position, so
	// later messages about its defaults still point somewhere useful.
	for _, f := range si.fields {
		fv := v.Field(f.index)
		if fv.Kind() != reflect.Struct {
			continue
		}
		if sub := infoOf(fv.Type()); sub.posIdx >= 0 {
			if pv := fv.Field(sub.posIdx); pv.Interface().(model.Pos) == (model.Pos{}) {
				pv.Set(reflect.ValueOf(model.Pos{Line: n.Line, Col: n.Column}))
			}
		}
	}
	if t == resType {
		res := v.Addr().Interface().(*model.Resource)
		res.ParamPos = d.paramPos[posKey{v.Field(infoOf(t).byName["params"].index).Addr().Pointer(), reflect.TypeOf(map[string]any(nil))}]
	}
}

// checkEnum accepts a value in any case and stores the canonical spelling.
func (d *decoder) checkEnum(n *yaml.Node, fv reflect.Value, f field, ctx string) {
	got := fv.String()
	for _, e := range f.enum {
		if strings.EqualFold(e, got) {
			fv.SetString(e)
			return
		}
	}
	hint := ""
	if near := nearest(got, f.enum); near != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", near)
	}
	if rn := d.resolve(n); rn != nil {
		n = rn
	}
	d.errAt(n, "invalid %s %q in %s%s; expected one of %s", f.name, clip(got), ctx, hint, strings.Join(f.enum, ", "))
}

// generic decodes free-form values (resource and fencing params) into
// string/int/float/bool/nil, []any and map[string]any.
func (d *decoder) generic(n *yaml.Node) any {
	n = d.resolve(n)
	if n == nil {
		return nil
	}
	d.expanding[n] = true
	defer delete(d.expanding, n)
	switch n.Kind {
	case yaml.ScalarNode:
		var x any
		if err := n.Decode(&x); err != nil {
			return n.Value
		}
		return x
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			out = append(out, d.generic(item))
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		for _, p := range d.pairs(n, "params") {
			out[p.k.Value] = d.generic(p.v)
		}
		return out
	}
	d.errAt(n, "unexpected YAML node; expected a value, list or mapping")
	return nil
}

// strOffset is the number of columns between where a string value was
// written and its first character (1 for a quoted scalar, -1 for a block
// scalar whose text starts on the next line).
func (d *decoder) strOffset(ptr *string) int {
	return d.off[posKey{addrOf(ptr), reflect.TypeOf("")}]
}

// keyAt returns where the key of the struct field ptr points to was written.
func (d *decoder) keyAt(ptr any) (model.Pos, bool) {
	rv := reflect.ValueOf(ptr)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return model.Pos{}, false
	}
	p, ok := d.keyPos[posKey{rv.Pointer(), rv.Type().Elem()}]
	return p, ok
}
