package simulate

import (
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type anyFence struct{}

func (anyFence) Validate(map[string]any) []model.ParamProblem { return nil }

// three parses a three-node cluster running a group; stonith on adds a
// stand-in fencing device (the binary refuses stonith until fencing is
// built, but a CIB or a state file may have it on).
func three(t *testing.T, stonith bool) *model.Cluster {
	t.Helper()
	y := `cluster: {name: t, key_file: k, no_quorum_policy: stop, stonith: STONITH}
nodes:
  - {name: n1, addresses: [127.0.0.1]FENCE}
  - {name: n2, addresses: [127.0.0.2]FENCE}
  - {name: n3, addresses: [127.0.0.3]FENCE}
resources:
  - {id: addr, type: exec, params: {command: [/bin/sleep, infinity]}}
  - {id: web, type: exec, params: {command: [/bin/sleep, infinity]}}
groups:
  - {id: g, resources: [addr, web]}
constraints:
  - location: {resource: g, node: n1, score: 50}
`
	fence := ""
	if stonith {
		fence = ", fence: [f]"
		y += "fencing:\n  - {id: f, type: stand-in}\n"
	}
	y = strings.NewReplacer("STONITH", map[bool]string{true: "true", false: "false"}[stonith], "FENCE", fence).Replace(y)
	c, err := config.Parse("t.yaml", []byte(y), config.Options{
		FenceTypes: func(string) (model.FenceType, bool) { return anyFence{}, true }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func class(p model.Plan, node string) model.NodeState {
	for _, ns := range p.Nodes {
		if ns.Node == node {
			return ns
		}
	}
	return model.NodeState{}
}

// Without stonith, a node taken down was lost long enough for its lease to
// have certainly lapsed: its group starts elsewhere, and nothing is fenced.
func TestRun_DownWithoutStonithRecoversOnTheLease(t *testing.T) {
	res, err := Run(Source{Input: Steady(three(t, false), now), QuorateFrom: FromVotes}, WhatIf{Down: []string{"n1"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c := class(res.Plan, "n1"); c.State != model.NodeLostLeaseLapsed || strings.Join(c.Active, " ") != "addr web" {
		t.Fatalf("n1 %+v; want lost-lease-lapsed with addr web", c)
	}
	if res.AfterFence != nil {
		t.Fatalf("a fence without stonith: %+v", res.Plan.Actions)
	}
	if got := res.Plan.Placement["web"]; len(got) != 1 || got[0] != "n2" {
		t.Fatalf("web on %v; want n2 (actions %+v)", got, res.Plan.Actions)
	}
}

// With stonith, --down is crm_simulate's --node-fail: the plan fences the
// node first and holds its group; once the fence is confirmed the group
// starts elsewhere.
func TestRun_DownWithStonithFencesBeforeRecovery(t *testing.T) {
	res, err := Run(Source{Input: Steady(three(t, true), now), QuorateFrom: FromVotes}, WhatIf{Down: []string{"n1"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.Actions) == 0 || res.Plan.Actions[0].Action != model.ActionFence || res.Plan.Actions[0].Node != "n1" {
		t.Fatalf("actions %+v; want the fence of n1 first", res.Plan.Actions)
	}
	for _, a := range res.Plan.Actions {
		if a.Action == model.ActionStart || a.Action == model.ActionMove {
			t.Fatalf("%s %s on %s before the fence of n1", a.Action, a.Resource, a.Node)
		}
	}
	if c := class(res.Plan, "n1"); c.State != model.NodeLostUnclean {
		t.Fatalf("n1 %+v; want lost-unclean until fenced", c)
	}
	if res.AfterFence == nil {
		t.Fatal("no plan for after the fence")
	}
	if c := class(*res.AfterFence, "n1"); c.State != model.NodeFenced {
		t.Fatalf("after the fence n1 is %+v; want fenced", c)
	}
	if got := res.AfterFence.Placement["web"]; len(got) != 1 || got[0] != "n2" {
		t.Fatalf("after the fence web on %v; want n2 (actions %+v)", got, res.AfterFence.Actions)
	}
	for _, a := range res.AfterFence.Actions {
		if a.Action == model.ActionFence {
			t.Fatalf("fenced twice: %+v", res.AfterFence.Actions)
		}
	}
}

// A failed stop (blocked) with stonith fences the node, which then runs
// nothing: its blocked instance is recovered elsewhere after the fence.
func TestRun_BlockedStopWithStonithFencesTheNode(t *testing.T) {
	in := Steady(three(t, true), now)
	for i, o := range in.Resources {
		if o.Resource == "web" {
			in.Resources[i].Blocked = true
		}
	}
	in.Admin.Unmanaged = []string{"web"}
	res, err := Run(Source{Input: in, QuorateFrom: FromState}, WhatIf{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c := class(res.Plan, "n1"); c.State != model.NodeUnclean {
		t.Fatalf("n1 %+v; want unclean (a blocked stop)", c)
	}
	if res.AfterFence == nil || res.AfterFence.Placement["web"][0] == "n1" {
		t.Fatalf("after the fence: %+v; want web elsewhere", res.AfterFence)
	}
}

// Run leaves its source alone.
func TestRun_DoesNotModifyTheSource(t *testing.T) {
	src := Source{Input: Steady(three(t, false), now), QuorateFrom: FromVotes}
	before := len(src.Input.Resources)
	online := src.Input.Nodes["n1"].Online
	if _, err := Run(src, WhatIf{Down: []string{"n1"}, Fail: []string{"web@n2"}}, now); err != nil {
		t.Fatal(err)
	}
	if len(src.Input.Resources) != before || src.Input.Nodes["n1"].Online != online {
		t.Fatal("Run modified its source")
	}
}

func TestRun_BadWhatIfIsAnError(t *testing.T) {
	src := Source{Input: Steady(three(t, false), now)}
	for _, w := range []WhatIf{{Down: []string{"n9"}}, {Fail: []string{"web"}}, {Fail: []string{"web@n9"}}, {Attrs: []string{"n1pingd"}}} {
		if _, err := Run(src, w, now); err == nil {
			t.Errorf("%+v: no error", w)
		}
	}
	if _, err := Run(Source{Input: scheduler.Input{}}, WhatIf{}, now); err == nil {
		t.Error("no configuration: no error")
	}
}
