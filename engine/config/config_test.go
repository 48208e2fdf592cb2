package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/model"
)

func TestParse_ReportsEveryErrorAtOnce(t *testing.T) {
	src := `cluster:
  name: c
  no_quorum_policy: sometimes
nodes:
  - {name: a, addresses: [10.0.0.1], vots: 1}
  - {name: a, addresses: [10.0.0.999]}
resources:
  - {id: r, type: nosuch}
groups:
  - {id: g, resources: [missing]}
constraints:
  - order: {first: r, then: ghost}
`
	_, err := Parse("multi.yaml", []byte(src), Options{})
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not Errors", err)
	}
	want := []string{
		"multi.yaml:2:3: cluster has no key_file",
		"multi.yaml:3:21: invalid no_quorum_policy",
		"multi.yaml:5:38: unknown key \"vots\" in node (did you mean \"votes\"?)",
		"multi.yaml:6:12: duplicate node name \"a\"",
		"multi.yaml:6:27: address \"10.0.0.999\"",
		"multi.yaml:8:19: unknown resource type \"nosuch\"",
		"multi.yaml:10:25: group g refers to resource \"missing\"",
		"multi.yaml:12:29: order refers to \"ghost\"",
	}
	got := strings.Split(errs.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d errors:\n%s\nwant %d", len(got), errs.Error(), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q; want prefix %q", i, got[i], want[i])
		}
	}
}

func TestErrors_SortedOnePerLine(t *testing.T) {
	es := Errors{{File: "f", Line: 9, Col: 1, Msg: "b"}, {File: "f", Line: 2, Col: 5, Msg: "a"}, {File: "f", Line: 2, Col: 3, Msg: "c"}}
	if got, want := es.Error(), "f:2:3: c\nf:2:5: a\nf:9:1: b"; got != want {
		t.Errorf("Errors.Error() = %q; want %q", got, want)
	}
}

func TestParse_AnchorsAndMergeKeys(t *testing.T) {
	src := `cluster: {name: c, key_file: k}
nodes:
  - &n1 {name: a, addresses: [10.0.0.1], gossip_port: 8000, raft_port: 8001, api_port: 8002}
  - <<: *n1
    name: b
    addresses: [10.0.0.2]
resources:
  - id: r1
    type: exec
    meta: &sticky {stickiness: 100, migration_threshold: 3}
  - {id: r2, type: exec, meta: *sticky}
`
	c, err := Parse("m.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	b := c.Nodes[1]
	if b.Name != "b" || b.GossipPort != 8000 || b.APIPort != 8002 || b.Addresses[0] != "10.0.0.2" {
		t.Errorf("merged node = %+v; want name b, ports from a, own address", b)
	}
	if m := c.Resources[1].Meta; m.Stickiness == nil || *m.Stickiness != 100 || m.MigrationThreshold != 3 {
		t.Errorf("aliased meta = %+v; want stickiness 100, migration_threshold 3", m)
	}
}

func TestParse_Defaults(t *testing.T) {
	src := `cluster: {name: c, key_file: k}
nodes: [{name: a, addresses: [10.0.0.1]}, {name: b, addresses: [10.0.0.2]}]
resources: [{id: r, type: exec}, {id: s, type: exec}]
constraints:
  - location: {resource: r, node: a}
  - colocation: {resource: r, with: s}
  - location: {resource: r, node: b, score: "-inf"}
`
	_, err := Parse("d.yaml", []byte(src), Options{})
	if err == nil || !strings.Contains(err.Error(), "d.yaml:7:45: score \"-inf\" is not a score") {
		t.Fatalf("err = %v; want a score error at 7:45", err)
	}
	src = strings.Replace(src, `"-inf"`, "-infinity", 1)
	c, err := Parse("d.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Constraints[0].Location.Score; s != model.Infinity {
		t.Errorf("location without score = %v; want INFINITY (pcs default)", s)
	}
	if s := c.Constraints[1].Colocation.Score; s != model.Infinity {
		t.Errorf("colocation without score = %v; want INFINITY", s)
	}
	if s := c.Constraints[2].Location.Score; s != model.NegInfinity {
		t.Errorf("-infinity = %v; want -INFINITY", s)
	}
}

// fakeType is a resource type whose validator wants `ip` and refuses `bad`.
type fakeType struct{}

func (fakeType) Validate(p map[string]any) []model.ParamProblem {
	var out []model.ParamProblem
	if _, ok := p["ip"]; !ok {
		out = append(out, model.ParamProblem{Msg: "no ip; expected ip: ADDRESS/PREFIX"})
	}
	if _, ok := p["bad"]; ok {
		out = append(out, model.ParamProblem{Key: "bad", Msg: "unknown parameter; expected ip, nic"})
	}
	if _, ok := p["nic"]; ok {
		out = append(out, model.ParamProblem{Key: "nic.name", Msg: "too long; expected at most 15 characters"})
	}
	return out
}
func (fakeType) New(model.Resource, model.AgentEnv) (model.Agent, error) { return nil, nil }
func (fakeType) Defaults() model.OpDefaults                              { return model.OpDefaults{} }

func TestParse_TypeValidatorsAtParamPositions(t *testing.T) {
	types := func(name string) (model.AgentType, bool) {
		if name == "vip" {
			return fakeType{}, true
		}
		return nil, false
	}
	src := `cluster: {name: c, key_file: k}
nodes: [{name: a, addresses: [10.0.0.1]}]
resources:
  - id: v1
    type: vip
    params:
      bad: 1
      nic: eth0
  - id: v2
    type: vip
  - {id: e, type: exec, params: {anything: [1, 2]}}
`
	_, err := Parse("p.yaml", []byte(src), Options{Types: types})
	want := "p.yaml:6:5: params of resource v1: no ip; expected ip: ADDRESS/PREFIX\n" +
		"p.yaml:7:7: param bad of resource v1: unknown parameter; expected ip, nic\n" +
		"p.yaml:8:7: param nic.name of resource v1: too long; expected at most 15 characters\n" +
		"p.yaml:9:5: params of resource v2: no ip; expected ip: ADDRESS/PREFIX\n" +
		// a registry miss is refused, even for a stock name: nothing could run it
		"p.yaml:11:19: resource type \"exec\" of resource e is not built into this haven binary; expected a type its registry has"
	if err == nil || err.Error() != want {
		t.Fatalf("errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestParse_TypeValidatorPanicIsAnError(t *testing.T) {
	types := func(string) (model.AgentType, bool) { return panicType{}, true }
	src := "cluster: {name: c, key_file: k}\nnodes: [{name: a, addresses: [10.0.0.1]}]\nresources: [{id: r, type: exec}]\n"
	_, err := Parse("x.yaml", []byte(src), Options{Types: types})
	if err == nil || !strings.Contains(err.Error(), "x.yaml:3:13: params of resource r: the type's validator crashed") {
		t.Fatalf("err = %v; want the crash reported at the resource", err)
	}
}

type panicType struct{ fakeType }

func (panicType) Validate(map[string]any) []model.ParamProblem { panic("boom") }

func TestResolvePath(t *testing.T) {
	for _, tc := range []struct{ cfg, p, want string }{
		{"/etc/haven/haven.yaml", "authkey", "/etc/haven/authkey"},
		{"/etc/haven/haven.yaml", "/secret/key", "/secret/key"},
		{"examples/seed000.yaml", "demo.key", "examples/demo.key"},
		{"haven.yaml", "keys/k", "keys/k"},
		{"haven.yaml", "", ""},
	} {
		if got := ResolvePath(tc.cfg, tc.p); got != tc.want {
			t.Errorf("ResolvePath(%q, %q) = %q; want %q", tc.cfg, tc.p, got, tc.want)
		}
	}
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load(t.TempDir()+"/nope.yaml", Options{})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v; want a not-found error", err)
	}
}

func TestParse_PanicBecomesAnError(t *testing.T) {
	types := func(string) (model.AgentType, bool) { panic("lookup exploded") }
	src := "cluster: {name: c, key_file: k}\nnodes: [{name: a, addresses: [10.0.0.1]}]\nresources: [{id: r, type: exec}]\n"
	c, err := Parse("x.yaml", []byte(src), Options{Types: types})
	if c != nil || err == nil || !strings.HasPrefix(err.Error(), "x.yaml:1:1: internal error while reading the file (lookup exploded)") {
		t.Fatalf("Parse = %v, %v; want a positioned internal error", c, err)
	}
}
