package cib

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/havenha/haven/engine/model"
)

func (rd *reader) constraints(e *elem) {
	if e == nil {
		return
	}
	for _, c := range e.Children {
		id := c.attr("id")
		if c.kid("resource_set") != nil {
			rd.unmodelled("resource sets in %s %s", c.XMLName.Local, id)
			continue
		}
		switch c.XMLName.Local {
		case "rsc_location":
			rd.location(c)
		case "rsc_colocation":
			if c.has("node-attribute") && c.attr("node-attribute") != "#uname" {
				rd.unmodelled("colocation %s on node-attribute %s", id, c.attr("node-attribute"))
				continue
			}
			if !startedRole(c.attr("rsc-role")) || !startedRole(c.attr("with-rsc-role")) {
				rd.unmodelled("colocation %s with roles %s/%s", id, c.attr("rsc-role"), c.attr("with-rsc-role"))
				continue
			}
			score, err := model.ParseScore(c.attr("score"))
			if err != nil {
				rd.unmodelled("colocation %s with score %q", id, c.attr("score"))
				continue
			}
			rd.cl.Constraints = append(rd.cl.Constraints, model.Constraint{Colocation: &model.Colocation{
				ID: id, Resource: c.attr("rsc"), With: c.attr("with-rsc"), Score: score}})
		case "rsc_order":
			if !startAction(c.attr("first-action")) || !startAction(c.attr("then-action")) {
				rd.unmodelled("order %s on actions %s/%s", id, c.attr("first-action"), c.attr("then-action"))
				continue
			}
			o := &model.Order{ID: id, First: c.attr("first"), Then: c.attr("then")}
			switch strings.ToLower(c.attr("kind")) {
			case "optional":
				o.Kind = model.OrderOptional
			case "serialize":
				o.Kind = model.OrderSerialize
			case "mandatory":
				o.Kind = model.OrderMandatory
			case "":
				o.Kind = model.OrderMandatory
				if s := c.attr("score"); s != "" {
					if v, err := model.ParseScore(s); err == nil && v == 0 {
						o.Kind = model.OrderOptional
					}
				}
			}
			if c.has("symmetrical") {
				b := isTrue(c.attr("symmetrical"))
				o.Symmetrical = &b
			}
			rd.cl.Constraints = append(rd.cl.Constraints, model.Constraint{Order: o})
		case "rsc_ticket":
			rd.unmodelled("ticket constraint %s", id)
		default:
			rd.unmodelled("constraint <%s> %s", c.XMLName.Local, id)
		}
	}
}

func startedRole(r string) bool {
	switch strings.ToLower(r) {
	case "", "started", "unknown":
		return true
	}
	return false
}

func startAction(a string) bool { return a == "" || a == "start" }

func (rd *reader) location(c *elem) {
	id := c.attr("id")
	rsc := c.attr("rsc")
	if rsc == "" {
		rd.unmodelled("location %s without rsc (rsc-pattern %q)", id, c.attr("rsc-pattern"))
		return
	}
	if !startedRole(c.attr("role")) {
		rd.unmodelled("location %s for role %s", id, c.attr("role"))
		return
	}
	if c.has("node") {
		score, err := model.ParseScore(c.attr("score"))
		if err != nil {
			rd.unmodelled("location %s with score %q", id, c.attr("score"))
			return
		}
		rd.cl.Constraints = append(rd.cl.Constraints, model.Constraint{Location: &model.Location{
			ID: id, Resource: rsc, Node: c.attr("node"), Score: score}})
		return
	}
	for i, r := range c.kids("rule") {
		if !startedRole(r.attr("role")) {
			rd.unmodelled("location %s rule for role %s", id, r.attr("role"))
			continue
		}
		if r.has("score-attribute") {
			rd.unmodelled("location %s rule with score-attribute", id)
			continue
		}
		score, err := model.ParseScore(r.attr("score"))
		if err != nil {
			rd.unmodelled("location %s rule with score %q", id, r.attr("score"))
			continue
		}
		text, ok := rd.ruleText(id, r)
		if !ok {
			continue
		}
		parsed, err := model.ParseRule(text)
		if err != nil {
			rd.unmodelled("location %s rule %q: %v", id, text, err)
			continue
		}
		lid := id
		if i > 0 {
			lid = fmt.Sprintf("%s#%d", id, i)
		}
		rd.cl.Constraints = append(rd.cl.Constraints, model.Constraint{Location: &model.Location{
			ID: lid, Resource: rsc, Score: score, Rule: text, ParsedRule: parsed}})
	}
}

// ruleText converts a <rule> to haven's (pcs) rule syntax.
func (rd *reader) ruleText(id string, r *elem) (string, bool) {
	op := strings.ToLower(r.attr("boolean-op"))
	if op == "" {
		op = "and"
	}
	var parts []string
	for _, x := range r.Children {
		switch x.XMLName.Local {
		case "expression":
			if x.has("value-source") && x.attr("value-source") != "literal" {
				rd.unmodelled("location %s expression with value-source %s", id, x.attr("value-source"))
				return "", false
			}
			attr, oper := x.attr("attribute"), strings.ToLower(x.attr("operation"))
			switch oper {
			case "defined", "not_defined":
				parts = append(parts, oper+" "+attr)
			case "lt", "gt", "lte", "gte", "eq", "ne":
				val := x.attr("value")
				if val == "" || strings.ContainsAny(val, " \t()\"'") || isWord(val) {
					val = "\"" + strings.ReplaceAll(val, "\"", "'") + "\""
				}
				typ := strings.ToLower(x.attr("type"))
				if typ == "integer" || typ == "number" {
					if _, err := strconv.ParseFloat(x.attr("value"), 64); err != nil {
						// Pacemaker compares as strings when the value is not a number.
						typ = "string"
					}
				}
				if typ != "" {
					parts = append(parts, attr+" "+oper+" "+typ+" "+val)
				} else {
					parts = append(parts, attr+" "+oper+" "+val)
				}
			default:
				rd.unmodelled("location %s expression operation %q", id, oper)
				return "", false
			}
		case "rule":
			sub, ok := rd.ruleText(id, x)
			if !ok {
				return "", false
			}
			parts = append(parts, "("+sub+")")
		case "date_expression":
			rd.unmodelled("location %s date_expression", id)
			return "", false
		default:
			rd.unmodelled("location %s rule element <%s>", id, x.XMLName.Local)
			return "", false
		}
	}
	if len(parts) == 0 {
		rd.unmodelled("location %s with an empty rule", id)
		return "", false
	}
	return strings.Join(parts, " "+op+" "), true
}

func isWord(v string) bool {
	switch strings.ToLower(v) {
	case "and", "or", "string", "integer", "number", "version":
		return true
	}
	return false
}

// symmetric turns symmetric-cluster=false (an opt-in cluster) into explicit
// bans: each top-level resource gets -INFINITY on every node that no
// location constraint of its own names (by node, or by a rule true there).
func (rd *reader) symmetric() {
	if !rd.optIn {
		return
	}
	allowed := map[string]map[string]bool{}
	for _, c := range rd.cl.Constraints {
		l := c.Location
		if l == nil || l.Score < 0 {
			continue
		}
		if allowed[l.Resource] == nil {
			allowed[l.Resource] = map[string]bool{}
		}
		for _, n := range rd.cl.Nodes {
			attrs := map[string]string{}
			for k, v := range n.Attributes {
				attrs[k] = v
			}
			for k, v := range rd.res.Input.Nodes[n.Name].Attributes {
				attrs[k] = v
			}
			if (l.Node != "" && l.Node == n.Name) || (l.ParsedRule != nil && l.ParsedRule.Eval(n.Name, attrs)) {
				allowed[l.Resource][n.Name] = true
			}
		}
	}
	var tops []string
	wrapped := map[string]bool{}
	for _, g := range rd.cl.Groups {
		for _, m := range g.Resources {
			wrapped[m] = true
		}
	}
	for _, c := range rd.cl.Clones {
		wrapped[c.Resource] = true
	}
	for _, r := range rd.cl.Resources {
		if !wrapped[r.ID] {
			tops = append(tops, r.ID)
		}
	}
	for _, g := range rd.cl.Groups {
		if !wrapped[g.ID] {
			tops = append(tops, g.ID)
		}
	}
	for _, c := range rd.cl.Clones {
		tops = append(tops, c.ID)
	}
	for _, id := range tops {
		for _, n := range rd.cl.Nodes {
			if !allowed[id][n.Name] {
				rd.cl.Constraints = append(rd.cl.Constraints, model.Constraint{Location: &model.Location{
					ID: "symmetric-cluster=false", Resource: id, Node: n.Name, Score: model.NegInfinity}})
			}
		}
	}
}
