package model

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule is a parsed location rule over node attributes, in pcs syntax:
//
//	expr   := and ( "or" and )*
//	and    := unary ( "and" unary )*
//	unary  := "(" expr ")" | "defined" ATTR | "not_defined" ATTR
//	        | ATTR OP [TYPE] VALUE
//	OP     := lt | gt | lte | gte | eq | ne
//	TYPE   := string | integer | number | version
//
// `#uname` is the node's name. Without a TYPE, a comparison is numeric when
// both sides parse as numbers and by string otherwise (Pacemaker's default).
type Rule struct {
	Op       string // "and", "or", "defined", "not_defined", or a comparison
	Attr     string
	Value    string
	Type     string // "", "string", "integer", "number", "version"
	Children []*Rule
}

var ruleOps = map[string]bool{"lt": true, "gt": true, "lte": true, "gte": true, "eq": true, "ne": true}
var ruleTypes = map[string]bool{"string": true, "integer": true, "number": true, "version": true}

// RuleError names the word of the rule where parsing failed (0-based byte offset).
type RuleError struct {
	Offset int
	Msg    string
}

func (e *RuleError) Error() string { return fmt.Sprintf("at character %d: %s", e.Offset+1, e.Msg) }

type ruleTok struct {
	text string
	off  int
}

func lexRule(s string) []ruleTok {
	var toks []ruleTok
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			toks = append(toks, ruleTok{string(c), i})
			i++
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				toks = append(toks, ruleTok{s[i:], i})
				return toks
			}
			toks = append(toks, ruleTok{s[i : i+j+2], i})
			i += j + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()", rune(s[j])) {
				j++
			}
			toks = append(toks, ruleTok{s[i:j], i})
			i = j
		}
	}
	return toks
}

// ParseRule parses a rule; the error says where and what was expected.
func ParseRule(s string) (*Rule, error) {
	p := &ruleParser{toks: lexRule(s), end: len(s)}
	if len(p.toks) == 0 {
		return nil, &RuleError{0, "empty rule; expected e.g. 'pingd lt 1 or not_defined pingd'"}
	}
	r, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		return nil, &RuleError{t.off, fmt.Sprintf("unexpected %q; expected 'and', 'or' or the end of the rule", t.text)}
	}
	return r, nil
}

type ruleParser struct {
	toks []ruleTok
	i    int
	end  int
}

func (p *ruleParser) peek() (ruleTok, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return ruleTok{off: p.end}, false
}

func (p *ruleParser) next(what string) (ruleTok, error) {
	t, ok := p.peek()
	if !ok {
		return t, &RuleError{p.end, "rule ends early; expected " + what}
	}
	p.i++
	return t, nil
}

func (p *ruleParser) expr() (*Rule, error) { return p.binary("or", p.and) }
func (p *ruleParser) and() (*Rule, error)  { return p.binary("and", p.unary) }

func (p *ruleParser) binary(op string, sub func() (*Rule, error)) (*Rule, error) {
	first, err := sub()
	if err != nil {
		return nil, err
	}
	kids := []*Rule{first}
	for {
		t, ok := p.peek()
		if !ok || strings.ToLower(t.text) != op {
			break
		}
		p.i++
		k, err := sub()
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &Rule{Op: op, Children: kids}, nil
}

func (p *ruleParser) unary() (*Rule, error) {
	t, err := p.next("an attribute name, 'defined', 'not_defined' or '('")
	if err != nil {
		return nil, err
	}
	word := strings.ToLower(t.text)
	switch {
	case t.text == "(":
		r, err := p.expr()
		if err != nil {
			return nil, err
		}
		c, err := p.next("')'")
		if err != nil {
			return nil, err
		}
		if c.text != ")" {
			return nil, &RuleError{c.off, fmt.Sprintf("unexpected %q; expected ')'", c.text)}
		}
		return r, nil
	case t.text == ")" || word == "and" || word == "or":
		return nil, &RuleError{t.off, fmt.Sprintf("unexpected %q; expected an attribute name, 'defined', 'not_defined' or '('", t.text)}
	case word == "defined" || word == "not_defined":
		a, err := p.next("an attribute name after " + word)
		if err != nil {
			return nil, err
		}
		if !isAttrName(a.text) {
			return nil, &RuleError{a.off, fmt.Sprintf("%q is not an attribute name", a.text)}
		}
		return &Rule{Op: word, Attr: a.text}, nil
	}
	if !isAttrName(t.text) {
		return nil, &RuleError{t.off, fmt.Sprintf("%q is not an attribute name", t.text)}
	}
	opTok, err := p.next("an operator (lt, gt, lte, gte, eq, ne) after " + t.text)
	if err != nil {
		return nil, err
	}
	op := strings.ToLower(opTok.text)
	if !ruleOps[op] {
		return nil, &RuleError{opTok.off, fmt.Sprintf("unknown operator %q; expected lt, gt, lte, gte, eq or ne", opTok.text)}
	}
	v, err := p.next("a value after " + op)
	if err != nil {
		return nil, err
	}
	r := &Rule{Op: op, Attr: t.text}
	if ruleTypes[strings.ToLower(v.text)] {
		if nv, ok := p.peek(); ok && nv.text != ")" && !isKeyword(nv.text) {
			r.Type = strings.ToLower(v.text)
			p.i++
			v = nv
		}
	}
	val := v.text
	if v.text == "(" || v.text == ")" {
		return nil, &RuleError{v.off, fmt.Sprintf("unexpected %q; expected a value", v.text)}
	}
	if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
		val = val[1 : len(val)-1]
	} else if val[0] == '"' || val[0] == '\'' {
		return nil, &RuleError{v.off, "unterminated quoted value"}
	}
	r.Value = val
	if r.Type == "integer" || r.Type == "number" {
		if _, err := strconv.ParseFloat(val, 64); err != nil {
			return nil, &RuleError{v.off, fmt.Sprintf("value %q is not a %s", val, r.Type)}
		}
	}
	return r, nil
}

func isKeyword(s string) bool {
	w := strings.ToLower(s)
	return w == "and" || w == "or"
}

func isAttrName(s string) bool {
	if s == "" || isKeyword(s) {
		return false
	}
	for _, c := range s {
		if !(c == '#' || c == '_' || c == '-' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Eval evaluates the rule for a node whose attributes are attrs (#uname must
// be present in attrs or is taken from node).
func (r *Rule) Eval(node string, attrs map[string]string) bool {
	get := func(a string) (string, bool) {
		if v, ok := attrs[a]; ok {
			return v, true
		}
		if a == "#uname" {
			return node, true
		}
		return "", false
	}
	switch r.Op {
	case "and":
		for _, c := range r.Children {
			if !c.Eval(node, attrs) {
				return false
			}
		}
		return true
	case "or":
		for _, c := range r.Children {
			if c.Eval(node, attrs) {
				return true
			}
		}
		return false
	case "defined":
		_, ok := get(r.Attr)
		return ok
	case "not_defined":
		_, ok := get(r.Attr)
		return !ok
	}
	v, ok := get(r.Attr)
	if !ok {
		// Pacemaker: a comparison on an undefined attribute is false, except ne.
		return r.Op == "ne"
	}
	return compare(r.Op, r.Type, v, r.Value)
}

func compare(op, typ, a, b string) bool {
	c, ok := 0, false
	switch typ {
	case "string":
	case "integer":
		x, e1 := strconv.ParseFloat(a, 64)
		y, e2 := strconv.ParseFloat(b, 64)
		if e1 == nil && e2 == nil {
			c, ok = cmpInt(int64(x), int64(y)), true
		}
	case "version":
		c, ok = cmpVersion(a, b), true
	default: // number, or untyped: numeric when both parse
		x, e1 := strconv.ParseFloat(a, 64)
		y, e2 := strconv.ParseFloat(b, 64)
		if e1 == nil && e2 == nil {
			c, ok = cmpFloat(x, y), true
		}
	}
	if !ok {
		if (typ == "integer" || typ == "number") && op != "eq" && op != "ne" {
			return false
		}
		c = strings.Compare(a, b)
	}
	switch op {
	case "lt":
		return c < 0
	case "gt":
		return c > 0
	case "lte":
		return c <= 0
	case "gte":
		return c >= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func cmpVersion(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int64
		if i < len(as) {
			x, _ = strconv.ParseInt(as[i], 10, 64)
		}
		if i < len(bs) {
			y, _ = strconv.ParseInt(bs[i], 10, 64)
		}
		if c := cmpInt(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// String prints the rule back in pcs syntax.
func (r *Rule) String() string {
	switch r.Op {
	case "and", "or":
		parts := make([]string, len(r.Children))
		for i, c := range r.Children {
			s := c.String()
			if (c.Op == "and" || c.Op == "or") && c.Op != r.Op {
				s = "(" + s + ")"
			}
			parts[i] = s
		}
		return strings.Join(parts, " "+r.Op+" ")
	case "defined", "not_defined":
		return r.Op + " " + r.Attr
	}
	if r.Type != "" {
		return r.Attr + " " + r.Op + " " + r.Type + " " + r.Value
	}
	return r.Attr + " " + r.Op + " " + r.Value
}
