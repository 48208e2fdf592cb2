// Package cib reads a Pacemaker CIB (the XML of `cibadmin -Q`, or a
// scheduler regression case) into haven's model and a scheduler input:
// configuration (crm_config, nodes, resources, constraints, rsc_defaults) and
// status (node_state membership, transient attributes, lrm operation history).
//
// Features haven does not model are reported by name in Result.Unmodelled,
// never ignored silently: resource sets, promotable clones, bundles,
// templates, date rules, node-attribute colocations, tickets, roles other
// than Started, and cluster options with no haven equivalent.
package cib

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
)

// Result is what Read returns.
type Result struct {
	// Input is the scheduler input: Cluster plus node status, observed
	// resource state, quorum and administrative state (unmanaged resources).
	Input scheduler.Input
	// Unmodelled names every feature of the CIB that haven does not model,
	// with where it was used; each was skipped.
	Unmodelled []string
}

// elem is a generic XML element.
type elem struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []*elem    `xml:",any"`
	seq      int
}

func (e *elem) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e *elem) has(name string) bool {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return true
		}
	}
	return false
}

func (e *elem) kids(name string) []*elem {
	var out []*elem
	for _, c := range e.Children {
		if c.XMLName.Local == name {
			out = append(out, c)
		}
	}
	return out
}

func (e *elem) kid(name string) *elem {
	for _, c := range e.Children {
		if c.XMLName.Local == name {
			return c
		}
	}
	return nil
}

// nvpairs collects name/value pairs of every set named setName under e
// (later sets do not override earlier ones, as Pacemaker's first-wins).
func (e *elem) nvpairs(setName string) map[string]string {
	out := map[string]string{}
	if e == nil {
		return out
	}
	for _, set := range e.kids(setName) {
		for _, nv := range set.kids("nvpair") {
			name := nv.attr("name")
			if _, seen := out[name]; !seen {
				out[name] = nv.attr("value")
			}
		}
	}
	return out
}

// ReadFile reads a CIB file.
func ReadFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read CIB: %w", err)
	}
	defer f.Close()
	res, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("read CIB %s: %w", path, err)
	}
	return res, nil
}

// Read parses a CIB document.
func Read(r io.Reader) (*Result, error) {
	var root elem
	if err := xml.NewDecoder(r).Decode(&root); err != nil {
		return nil, fmt.Errorf("not well-formed XML (expected a <cib> document): %w", err)
	}
	if root.XMLName.Local != "cib" {
		return nil, fmt.Errorf("root element is <%s>; expected <cib>", root.XMLName.Local)
	}
	seq := 0
	var number func(e *elem)
	number = func(e *elem) {
		seq++
		e.seq = seq
		for _, c := range e.Children {
			number(c)
		}
	}
	number(&root)
	cfg := root.kid("configuration")
	if cfg == nil {
		return nil, fmt.Errorf("<cib> has no <configuration>; expected a full CIB")
	}
	rd := &reader{res: &Result{}, cl: &model.Cluster{}, now: time.Now()}
	rd.res.Input.Cluster = rd.cl
	rd.res.Input.Nodes = map[string]scheduler.NodeStatus{}
	rd.res.Input.Quorate = root.attr("have-quorum") != "0" && root.attr("have-quorum") != "false"
	rd.crmConfig(cfg.kid("crm_config"))
	rd.nodes(cfg.kid("nodes"))
	rd.defaults = cfg.kid("rsc_defaults").nvpairs("meta_attributes")
	rd.resources(cfg.kid("resources"))
	rd.constraints(cfg.kid("constraints"))
	for _, name := range []string{"fencing-topology", "tags", "alerts", "acls"} {
		if e := cfg.kid(name); e != nil && len(e.Children) > 0 && name == "fencing-topology" {
			rd.unmodelled("fencing-topology")
		}
	}
	// Fail counts are named fail-count-RSC#OP_INTERVAL from feature set
	// 3.0.13 on, and plain fail-count-RSC before; Pacemaker reads only the
	// form of the CIB's feature set.
	rd.legacyFailCounts = compareVersion(root.attr("crm_feature_set"), "3.0.13") < 0
	rd.status(root.kid("status"))
	rd.symmetric()
	for _, id := range rd.interleaved {
		rd.unmodelled("interleave=true on clone %s (instances are not paired per node)", id)
	}
	sort.Strings(rd.res.Unmodelled)
	return rd.res, nil
}

type reader struct {
	res              *Result
	cl               *model.Cluster
	now              time.Time
	defaults         map[string]string
	optIn            bool
	startFatal       bool
	onFailBlock      map[string]bool // primitive ids whose stop has on-fail=block
	seen             map[string]bool
	interleaved      []string
	legacyFailCounts bool
}

func (rd *reader) unmodelled(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if rd.seen == nil {
		rd.seen = map[string]bool{}
	}
	if !rd.seen[s] {
		rd.seen[s] = true
		rd.res.Unmodelled = append(rd.res.Unmodelled, s)
	}
}

func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "on", "yes", "y", "1":
		return true
	}
	return false
}

func (rd *reader) crmConfig(e *elem) {
	rd.startFatal = true
	opts := e.nvpairs("cluster_property_set")
	for _, k := range sortedKeys(opts) {
		v := opts[k]
		switch k {
		case "stonith-enabled":
			b := isTrue(v)
			rd.cl.Cluster.Stonith = &b
		case "no-quorum-policy":
			switch v {
			case "stop", "freeze", "ignore":
				rd.cl.Cluster.NoQuorumPolicy = v
			default:
				rd.unmodelled("no-quorum-policy=%s (taken as stop)", v)
				rd.cl.Cluster.NoQuorumPolicy = "stop"
			}
		case "symmetric-cluster":
			rd.optIn = !isTrue(v)
		case "start-failure-is-fatal":
			rd.startFatal = isTrue(v)
		case "cluster-name":
			rd.cl.Cluster.Name = v
		case "maintenance-mode", "stop-all-resources", "stop-orphan-resources", "stop-orphan-actions":
			if isTrue(v) != (k == "stop-orphan-resources" || k == "stop-orphan-actions") {
				rd.unmodelled("cluster option %s=%s", k, v)
			}
		case "placement-strategy", "node-health-strategy":
			if v != "default" && v != "none" {
				rd.unmodelled("cluster option %s=%s", k, v)
			}
		}
	}
}

func (rd *reader) nodes(e *elem) {
	if e == nil {
		return
	}
	for _, n := range e.kids("node") {
		name := n.attr("uname")
		if t := n.attr("type"); t != "" && t != "member" && t != "normal" {
			rd.unmodelled("node %s of type %s", name, t)
			continue
		}
		attrs := n.nvpairs("instance_attributes")
		node := model.Node{Name: name, Addresses: []string{name}}
		if id := n.attr("id"); id != "" {
			node.Attributes = map[string]string{"#id": id}
		}
		st := scheduler.NodeStatus{}
		for k, v := range attrs {
			switch k {
			case "standby":
				st.Standby = isTrue(v)
			case "maintenance":
				st.Maintenance = isTrue(v)
			default:
				if node.Attributes == nil {
					node.Attributes = map[string]string{}
				}
				node.Attributes[k] = v
			}
		}
		rd.cl.Nodes = append(rd.cl.Nodes, node)
		rd.res.Input.Nodes[name] = st
	}
}

// meta converts meta attributes to model.Meta, reporting what it cannot hold.
func (rd *reader) meta(id string, m map[string]string) model.Meta {
	var out model.Meta
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "resource-stickiness", "resource_stickiness", "stickiness":
			if v == "default" {
				continue
			}
			if s, err := model.ParseScore(v); err == nil {
				out.Stickiness = &s
			}
		case "migration-threshold":
			if s, err := model.ParseScore(v); err == nil {
				out.MigrationThreshold = int(s)
			}
		case "failure-timeout":
			if d, err := parseInterval(v); err == nil {
				out.FailureTimeout = model.Duration(d)
			}
		case "target-role", "target_role":
			switch strings.ToLower(v) {
			case "stopped":
				out.TargetRole = "Stopped"
			case "started", "default":
				out.TargetRole = "Started"
			default:
				rd.unmodelled("target-role=%s on %s (taken as Started)", v, id)
				out.TargetRole = "Started"
			}
		case "priority":
			if s, err := model.ParseScore(v); err == nil {
				out.Priority = int(s)
			}
		case "is-managed":
			if !isTrue(v) {
				rd.res.Input.Admin.Unmanaged = append(rd.res.Input.Admin.Unmanaged, id)
			}
		case "clone-max", "clone-node-max", "interleave", "ordered", "collocated", "notify",
			"multiple-active", "restart-type", "description", "critical", "allow-migrate", "requires":
			// handled by the caller or without effect on placement
		case "globally-unique", "globally_unique":
			if isTrue(v) {
				rd.unmodelled("globally-unique clone %s", id)
			}
		case "promotable", "promoted-max", "master-max":
			rd.unmodelled("promotable clone %s", id)
		default:
			rd.unmodelled("meta attribute %s on %s", k, id)
		}
	}
	return out
}

func (rd *reader) withDefaults(m model.Meta) model.Meta {
	d := rd.meta("rsc_defaults", rd.defaults)
	if m.Stickiness == nil {
		m.Stickiness = d.Stickiness
	}
	if m.MigrationThreshold == 0 {
		m.MigrationThreshold = d.MigrationThreshold
	}
	if m.FailureTimeout == 0 {
		m.FailureTimeout = d.FailureTimeout
	}
	if m.TargetRole == "" {
		m.TargetRole = d.TargetRole
	}
	if m.Priority == 0 {
		m.Priority = d.Priority
	}
	return m
}

func (rd *reader) primitive(e *elem) model.Resource {
	id := e.attr("id")
	typ := e.attr("type")
	switch {
	case e.attr("provider") != "":
		typ = e.attr("class") + ":" + e.attr("provider") + ":" + typ
	case e.attr("class") != "":
		typ = e.attr("class") + ":" + typ
	}
	if e.has("template") {
		rd.unmodelled("resource template %s used by %s", e.attr("template"), id)
	}
	r := model.Resource{Pos: model.Pos{Line: e.seq}, ID: id, Type: typ, Meta: rd.meta(id, e.nvpairs("meta_attributes"))}
	params := e.nvpairs("instance_attributes")
	if len(params) > 0 {
		r.Params = map[string]any{}
		for k, v := range params {
			r.Params[k] = v
		}
	}
	if ops := e.kid("operations"); ops != nil {
		for _, op := range ops.kids("op") {
			if op.attr("name") == "stop" && op.attr("on-fail") == "block" {
				if rd.onFailBlock == nil {
					rd.onFailBlock = map[string]bool{}
				}
				rd.onFailBlock[id] = true
			}
			if op.attr("name") == "monitor" && r.Monitor == nil {
				iv, _ := parseInterval(op.attr("interval"))
				if iv > 0 {
					r.Monitor = &model.Op{Interval: model.Duration(iv), OnFail: op.attr("on-fail")}
				}
			}
		}
	}
	return r
}

func (rd *reader) group(e *elem) model.Group {
	id := e.attr("id")
	g := model.Group{Pos: model.Pos{Line: e.seq}, ID: id, Meta: rd.meta(id, e.nvpairs("meta_attributes"))}
	m := e.nvpairs("meta_attributes")
	if v, ok := m["ordered"]; ok && !isTrue(v) {
		rd.unmodelled("unordered group %s (ordered=false)", id)
	}
	if v, ok := m["collocated"]; ok && !isTrue(v) {
		rd.unmodelled("uncolocated group %s (collocated=false)", id)
	}
	for _, p := range e.kids("primitive") {
		r := rd.primitive(p)
		rd.cl.Resources = append(rd.cl.Resources, r)
		g.Resources = append(g.Resources, r.ID)
	}
	return g
}

func (rd *reader) resources(e *elem) {
	if e == nil {
		return
	}
	for _, c := range e.Children {
		switch c.XMLName.Local {
		case "primitive":
			r := rd.primitive(c)
			r.Meta = rd.withDefaults(r.Meta)
			rd.cl.Resources = append(rd.cl.Resources, r)
		case "group":
			g := rd.group(c)
			g.Meta = rd.withDefaults(g.Meta)
			rd.cl.Groups = append(rd.cl.Groups, g)
		case "clone":
			id := c.attr("id")
			m := c.nvpairs("meta_attributes")
			cl := model.Clone{Pos: model.Pos{Line: c.seq}, ID: id, Meta: rd.withDefaults(rd.meta(id, m))}
			if v, ok := m["clone-max"]; ok {
				cl.Max, _ = strconv.Atoi(v)
			}
			if v, ok := m["clone-node-max"]; ok {
				cl.NodeMax, _ = strconv.Atoi(v)
			}
			if isTrue(m["interleave"]) {
				rd.interleaved = append(rd.interleaved, id)
			}
			if p := c.kid("primitive"); p != nil {
				r := rd.primitive(p)
				rd.cl.Resources = append(rd.cl.Resources, r)
				cl.Resource = r.ID
			} else if g := c.kid("group"); g != nil {
				gr := rd.group(g)
				rd.cl.Groups = append(rd.cl.Groups, gr)
				cl.Resource = gr.ID
			}
			rd.cl.Clones = append(rd.cl.Clones, cl)
		case "master":
			rd.unmodelled("promotable clone %s (<master>)", c.attr("id"))
		case "bundle":
			rd.unmodelled("bundle %s", c.attr("id"))
		case "template":
			rd.unmodelled("resource template %s", c.attr("id"))
		}
	}
}

// parseInterval reads Pacemaker intervals: plain seconds, ms, s, m/min, h,
// or ISO 8601 (PT10S).
func parseInterval(v string) (time.Duration, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	if v == "" {
		return 0, nil
	}
	v = strings.TrimPrefix(v, "pt")
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	v = strings.Replace(v, "min", "m", 1)
	if strings.HasSuffix(v, "sec") {
		v = strings.TrimSuffix(v, "ec")
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("interval %q: expected seconds, or a number with ms, s, min or h", v)
	}
	return d, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// compareVersion compares dotted versions numerically ("" is lowest).
func compareVersion(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
