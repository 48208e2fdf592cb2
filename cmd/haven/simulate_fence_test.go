package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"time"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/simulate"
)

// A saved state with stonith on (a CIB or a state file may have it; a
// haven.yaml cannot until fencing is built): `haven simulate --down n1`
// fences n1 before its group starts elsewhere, in the text as crm_simulate
// prints a fence, and in --json as an action, with the plan after the fence.
func TestSimulate_DownWithStonithShowsTheFenceFirst(t *testing.T) {
	bin := buildHaven(t)
	c := stonithCluster(t)
	in := simulate.Steady(c, simNow)
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(state, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "simulate", "--state", state, "--down", "n1").CombinedOutput()
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	text := string(out)
	fence := strings.Index(text, "* Fence (off) n1 'node lost with addr, web active'")
	start := strings.Index(text, "* Start      addr            ( n2 )")
	if fence < 0 || start < 0 || start < fence {
		t.Fatalf("want the fence of n1, then addr started on n2 once it is confirmed:\n%s", text)
	}
	for _, want := range []string{"* Fencing n1 (off)", "Once the fences are confirmed:", "* Node n1: OFFLINE (fenced)"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	js, err := exec.Command(bin, "simulate", "--json", "--state", state, "--down", "n1").Output()
	if err != nil {
		t.Fatalf("simulate --json: %v", err)
	}
	var doc struct {
		Actions []struct{ Action, Node string } `json:"actions"`
		Nodes   []struct{ Node, State string }  `json:"nodes"`
		After   *struct {
			Placement map[string][]string `json:"placement"`
		} `json:"after_fence"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, js)
	}
	if len(doc.Actions) == 0 || doc.Actions[0].Action != "fence" || doc.Actions[0].Node != "n1" {
		t.Fatalf("json actions %+v; want the fence of n1 first", doc.Actions)
	}
	if doc.After == nil || strings.Join(doc.After.Placement["web"], " ") != "n2" {
		t.Fatalf("json after_fence %+v; want web on n2", doc.After)
	}
	lost := false
	for _, n := range doc.Nodes {
		lost = lost || (n.Node == "n1" && n.State == "lost-unclean")
	}
	if !lost {
		t.Fatalf("json nodes %+v; want n1 lost-unclean", doc.Nodes)
	}
}

var simNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type standInFence struct{}

func (standInFence) Validate(map[string]any) []model.ParamProblem { return nil }

// stonithCluster is three nodes running a group, preferring n1, with stonith
// on through a stand-in fencing device.
func stonithCluster(t *testing.T) *model.Cluster {
	t.Helper()
	y := `cluster: {name: t, key_file: k, no_quorum_policy: stop, stonith: true}
nodes:
  - {name: n1, addresses: [127.0.0.1], fence: [f]}
  - {name: n2, addresses: [127.0.0.2], fence: [f]}
  - {name: n3, addresses: [127.0.0.3], fence: [f]}
fencing:
  - {id: f, type: stand-in}
resources:
  - {id: addr, type: exec, params: {command: [/bin/sleep, infinity]}}
  - {id: web, type: exec, params: {command: [/bin/sleep, infinity]}}
groups:
  - {id: g, resources: [addr, web]}
constraints:
  - location: {resource: g, node: n1, score: 50}
`
	c, err := config.Parse("t.yaml", []byte(y), config.Options{
		FenceTypes: func(string) (model.FenceType, bool) { return standInFence{}, true }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
