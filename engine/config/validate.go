package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/havenha/haven/engine/model"
)

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	ocfPart     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
	hostLabel   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	numericOnly = regexp.MustCompile(`^[0-9]+$`)
)

// validator checks a decoded cluster and reports each problem at the
// position of the offending item.
type validator struct {
	c    *model.Cluster
	d    *decoder
	col  *collector
	opts Options
	top  *yaml.Node

	ids     map[string]idEntry // the shared namespace
	nodes   map[string]*model.Node
	groupOf map[string]*model.Group // primitive id -> its group
	cloneOf map[string]*model.Clone // resource or group id -> its clone
	usable  map[string]bool         // fencing device ids whose type this binary runs
}

type idEntry struct {
	kind string // "resource", "group", "clone", "fencing device", "constraint"
	pos  model.Pos
}

func (v *validator) errf(p model.Pos, format string, a ...any) {
	v.col.add(p.Line, p.Col, format, a...)
}

// posOr returns where *ptr was written, or fallback when it was not.
func (v *validator) posOr(ptr any, fallback model.Pos) model.Pos {
	if p, ok := v.d.at(ptr); ok {
		return p
	}
	return fallback
}

func (v *validator) present(ptr any) bool {
	_, ok := v.d.at(ptr)
	return ok
}

func (v *validator) run() {
	v.ids = map[string]idEntry{}
	v.nodes = map[string]*model.Node{}
	v.groupOf = map[string]*model.Group{}
	v.cloneOf = map[string]*model.Clone{}
	v.settings()
	v.nodeList()
	v.fencing()
	v.fenceCoverage()
	v.resources()
	v.groups()
	v.clones()
	v.constraints()
	v.orderCycles()
	v.colocationConflicts()
	v.quorum()
	v.unrunnable()
}

func (v *validator) register(id, kind string, p model.Pos) {
	if prev, dup := v.ids[id]; dup {
		v.errf(p, "duplicate id %q: already used by a %s at line %d; expected ids unique across resources, groups, clones, fencing devices and constraints", id, prev.kind, prev.pos.Line)
		return
	}
	v.ids[id] = idEntry{kind, p}
}

// checkID reports an empty or malformed id; it returns false when the id
// cannot be used further.
func (v *validator) checkID(id *string, what string, at model.Pos) bool {
	p := v.posOr(id, at)
	if *id == "" {
		v.errf(p, "%s has no id; expected id: NAME", what)
		return false
	}
	if !idPattern.MatchString(*id) || len(*id) > 128 {
		v.errf(p, "%s id %q is not a valid name; expected letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')", what, clip(*id))
		return false
	}
	return true
}

func (v *validator) settings() {
	s := &v.c.Cluster
	if !v.present(s) {
		v.errf(model.Pos{Line: 1, Col: 1}, "missing section \"cluster\"; expected cluster: with at least name and key_file")
		return
	}
	if s.Name == "" {
		v.errf(v.posOr(&s.Name, s.Pos), "cluster has no name; expected name: CLUSTER_NAME")
	} else if !idPattern.MatchString(s.Name) || len(s.Name) > 64 {
		v.errf(v.posOr(&s.Name, s.Pos), "cluster name %q is not a valid name; expected letters, digits, '_', '.' and '-' (at most 64)", clip(s.Name))
	}
	if s.KeyFile == "" {
		v.errf(v.posOr(&s.KeyFile, s.Pos), "cluster has no key_file; expected key_file: PATH of a key made with 'haven keygen -o FILE' (a cluster without a key is refused)")
	}
	if s.Stonith != nil && *s.Stonith && len(v.c.Fencing) == 0 {
		if v.fencingBuilt() {
			v.errf(v.posOr(&s.Stonith, s.Pos), "stonith is true but no fencing devices are defined; expected a fencing section (and nodes' fence lists) or stonith: false")
		} else {
			v.errf(v.posOr(&s.Stonith, s.Pos), "stonith is true but this binary cannot fence (%s); expected stonith: false", noFencing)
		}
	}
	tp := v.posOr(&s.Timing, v.posOr(&s.Profile, s.Pos))
	if s.Profile == "" || model.Profiles[s.Profile] != (model.Timing{}) {
		for _, msg := range v.c.EffectiveTiming().Contradictions() {
			v.errf(tp, "timing: %s", msg)
		}
	}
}

func (v *validator) nodeList() {
	c := v.c
	np := v.posOr(&c.Nodes, model.Pos{Line: 1, Col: 1})
	if len(c.Nodes) == 0 {
		if v.present(&c.Nodes) {
			v.errf(np, "nodes is empty; expected a list of at least one node with name and addresses")
		} else {
			v.errf(np, "missing section \"nodes\"; expected nodes: a list of at least one node with name and addresses")
		}
		return
	}
	type use struct {
		node, port string
	}
	bound := map[string]use{}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		label := fmt.Sprintf("node %d", i+1)
		switch {
		case n.Name == "":
			v.errf(v.posOr(&n.Name, n.Pos), "node has no name; expected name: NODE_NAME")
		case !idPattern.MatchString(n.Name) || len(n.Name) > 128:
			v.errf(v.posOr(&n.Name, n.Pos), "node name %q is not a valid name; expected letters, digits, '_', '.' and '-'", clip(n.Name))
		default:
			label = "node " + n.Name
			if prev, dup := v.nodes[n.Name]; dup {
				v.errf(v.posOr(&n.Name, n.Pos), "duplicate node name %q (first at line %d); expected unique node names", n.Name, prev.Line)
			} else {
				v.nodes[n.Name] = n
			}
		}
		if len(n.Addresses) == 0 {
			v.errf(v.posOr(&n.Addresses, n.Pos), "%s has no addresses; expected addresses: [IP or host name, ...] (one per link, the first is the primary)", label)
		}
		if n.Votes != nil && *n.Votes < 0 {
			v.errf(v.posOr(&n.Votes, n.Pos), "votes %d of %s is negative; expected 0 or more", *n.Votes, label)
		}
		ports := []struct {
			name string
			ptr  *int
		}{{"gossip_port", &n.GossipPort}, {"raft_port", &n.RaftPort}, {"api_port", &n.APIPort}}
		portsOK := true
		for _, p := range ports {
			if v.present(p.ptr) && (*p.ptr < 1 || *p.ptr > 65535) {
				v.errf(v.posOr(p.ptr, n.Pos), "%s %d of %s is out of range; expected 1 to 65535", p.name, *p.ptr, label)
				portsOK = false
			}
		}
		seenAddr := map[string]bool{}
		g, r, a := n.Ports()
		for j := range n.Addresses {
			addr := &n.Addresses[j]
			ap := v.posOr(addr, n.Pos)
			canon, ok := checkAddress(*addr)
			if !ok {
				v.errf(ap, "address %q of %s is not an IP address or host name; expected e.g. 192.168.1.71, fd00::71 or sv1.example.com (ports go in gossip_port, raft_port, api_port)", clip(*addr), label)
				continue
			}
			if seenAddr[canon] {
				v.errf(ap, "address %s is listed twice for %s; expected one address per link", *addr, label)
				continue
			}
			seenAddr[canon] = true
			if !portsOK {
				continue
			}
			for _, p := range []struct {
				name string
				port int
				ptr  *int
			}{{"gossip", g, &n.GossipPort}, {"raft", r, &n.RaftPort}, {"api", a, &n.APIPort}} {
				key := fmt.Sprintf("%s|%d", canon, p.port)
				if prev, dup := bound[key]; dup {
					v.errf(v.posOr(p.ptr, ap), "%s's %s port %d on %s is already used by %s's %s port; expected distinct address:port pairs", label, p.name, p.port, *addr, prev.node, prev.port)
					continue
				}
				bound[key] = use{label, p.name}
			}
		}
		if keys := v.d.paramPos[posKey{addrOf(&n.Attributes), reflect.TypeOf(n.Attributes)}]; keys != nil {
			for _, k := range sortedKeys(n.Attributes) {
				if strings.HasPrefix(k, "#") {
					v.errf(keys[k], "attribute %q of %s is reserved (names starting with # are built in, like #uname); expected another name", clip(k), label)
				}
			}
		}
		seenFence := map[string]bool{}
		for j := range n.Fence {
			id := n.Fence[j]
			fp := v.posOr(&n.Fence[j], n.Pos)
			if seenFence[id] {
				v.errf(fp, "fencing device %q is listed twice for %s; expected each device once", id, label)
				continue
			}
			seenFence[id] = true
			if !v.isFenceDevice(id) {
				v.errf(fp, "%s refers to fencing device %q, which is not defined; expected %s", label, clip(id), v.fenceChoices(id))
			}
		}
	}
}

func (v *validator) isFenceDevice(id string) bool {
	for _, f := range v.c.Fencing {
		if f.ID == id {
			return true
		}
	}
	return false
}

func (v *validator) fenceChoices(id string) string {
	var ids []string
	for _, f := range v.c.Fencing {
		if f.ID != "" {
			ids = append(ids, f.ID)
		}
	}
	if len(ids) == 0 {
		return "a device defined in the fencing section (there is none)"
	}
	return choices(id, ids)
}

// choices renders "one of a, b, c" with a typo hint.
func choices(got string, ids []string) string {
	if len(ids) == 0 {
		return "one defined in this file (there is none)"
	}
	hint := ""
	if near := nearest(got, ids); near != "" {
		hint = fmt.Sprintf("%q or another of ", near)
	} else {
		hint = "one of "
	}
	if len(ids) > 12 {
		ids = append(append([]string{}, ids[:12]...), "…")
	}
	return hint + strings.Join(ids, ", ")
}

// checkAddress accepts an IP address (with an optional IPv6 zone) or a DNS
// host name, and returns a canonical form for comparisons.
func checkAddress(s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), true
	}
	if len(s) == 0 || len(s) > 253 {
		return "", false
	}
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	allNumeric := true
	for _, l := range labels {
		if !hostLabel.MatchString(l) {
			return "", false
		}
		if !numericOnly.MatchString(l) {
			allNumeric = false
		}
	}
	if allNumeric || numericOnly.MatchString(labels[len(labels)-1]) {
		return "", false // a malformed IPv4 address, not a host name
	}
	return strings.ToLower(strings.TrimSuffix(s, ".")), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (v *validator) resources() {
	for i := range v.c.Resources {
		r := &v.c.Resources[i]
		label := fmt.Sprintf("resource %d", i+1)
		if v.checkID(&r.ID, "resource", r.Pos) {
			v.register(r.ID, "resource", v.posOr(&r.ID, r.Pos))
			label = "resource " + r.ID
		}
		v.resourceType(r, label)
		for _, op := range []struct {
			name string
			op   *model.Op
		}{{"monitor", r.Monitor}, {"start", r.Start}, {"stop", r.Stop}} {
			if op.op == nil {
				continue
			}
			ip := v.posOr(&op.op.Interval, op.op.Pos)
			if op.name == "monitor" && v.present(&op.op.Interval) && op.op.Interval == 0 {
				v.errf(ip, "monitor interval of %s is 0; expected a positive interval such as 10s (or leave it out for the type's default)", label)
			}
			if op.op.OnFail == "fence" && !v.c.StonithEnabled() {
				if v.fencingBuilt() {
					v.errf(v.posOr(&op.op.OnFail, op.op.Pos), "%s on_fail fence of %s needs stonith; expected stonith on with fencing devices, or another on_fail (stop, block, ...)", op.name, label)
				} else {
					v.errf(v.posOr(&op.op.OnFail, op.op.Pos), "%s on_fail fence of %s needs stonith, and this binary cannot fence (%s); expected another on_fail (stop, block, ...)", op.name, label, noFencing)
				}
			}
			if op.name != "monitor" && op.op.Interval != 0 {
				v.errf(ip, "%s of %s has an interval; expected interval only on monitor", op.name, label)
			}
		}
		v.meta(&r.Meta, label)
	}
}

func (v *validator) meta(m *model.Meta, label string) {
	if m.MigrationThreshold < 0 {
		v.errf(v.posOr(&m.MigrationThreshold, m.Pos), "migration_threshold %d of %s is negative; expected 0 (never move) or more", m.MigrationThreshold, label)
	}
}

func paramLabel(label, key string) string {
	if key == "" {
		return "params of " + label
	}
	return "param " + key + " of " + label
}

// paramPos finds where a params key (possibly a dotted path) was written.
func (v *validator) paramPos(r *model.Resource, key string) model.Pos {
	base := r.Pos
	if p, ok := v.d.keyAt(&r.Params); ok {
		base = p
	}
	if key == "" {
		return base
	}
	if p, ok := r.ParamPos[key]; ok {
		return p
	}
	if i := strings.IndexAny(key, ".["); i > 0 {
		if p, ok := r.ParamPos[key[:i]]; ok {
			return p
		}
	}
	return base
}

// safeValidate runs a type's validator, turning a panic into a problem.
func safeValidate(t model.AgentType, params map[string]any) (out []model.ParamProblem) {
	defer func() {
		if r := recover(); r != nil {
			out = []model.ParamProblem{{Msg: fmt.Sprintf("the type's validator crashed (%v); expected params it can check — please report this", r)}}
		}
	}()
	if params == nil {
		params = map[string]any{}
	}
	return t.Validate(params)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
