package admin

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

func TestStatus_AssemblesNodesResourcesAndFailures(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	h.fail("n2", "c:1", "f1")
	h.apply(state.CmdNodeStandby, state.NodeFlag{Node: "n2", On: true})
	h.members.down("n3")
	v, err := h.svc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Cluster != "t" || v.Node != "n1" || v.Leader != "n1" || v.ConfigVersion != 1 || !v.Quorum.Quorate || len(v.Quorum.Members) != 4 {
		t.Errorf("status head: %+v", v)
	}
	if got := nodeStates(v); got != "n1=online n2=standby n3=offline w=online" {
		t.Errorf("nodes %s; expected n1=online n2=standby n3=offline w=online", got)
	}
	var voters []string
	for _, n := range v.Nodes {
		if n.Voter {
			voters = append(voters, n.Name)
		}
	}
	if !slices.Equal(voters, []string{"n1", "n2", "w"}) || v.Nodes[3].Role != "witness" {
		t.Errorf("voters %v, w's role %q; expected the log's voters and the witness role", voters, v.Nodes[3].Role)
	}
	if v.Consensus.State != "Leader" || v.Consensus.Term != 3 || v.Consensus.StateIndex != h.st.Index() {
		t.Errorf("consensus %+v; expected the log's status with the state's index %d", v.Consensus, h.st.Index())
	}
	byID := map[string]api.ResourceView{}
	for _, r := range v.Resources {
		byID[r.ID] = r
	}
	if len(v.Resources) != 5 {
		t.Errorf("resources %+v; expected the 5 primitives", v.Resources)
	}
	if r := byID["web"]; r.State != state.Started || r.Node != "n1" || !slices.Equal(r.Nodes, []string{"n1"}) || r.Type != "exec" {
		t.Errorf("web %+v", r)
	}
	if r := byID["c"]; r.State != state.Failed || !slices.Equal(r.Nodes, []string{"n1"}) || r.FailCounts["n2"] != 1 {
		t.Errorf("c %+v; expected failed (the worst instance), started on n1, one failure on n2", r)
	}
	if r := byID["off"]; r.State != state.Stopped || r.Node != "" || r.Nodes == nil || r.FailCounts == nil {
		t.Errorf("off %+v; expected stopped with empty (not null) lists", r)
	}
	if len(v.FailedActions) != 1 || v.FailedActions[0].Resource != "c:1" || v.FailedActions[0].Node != "n2" || v.FailedActions[0].Reason != "monitor: process exited" {
		t.Errorf("failed actions %+v", v.FailedActions)
	}
	if v.Controller != nil {
		t.Errorf("controller %+v without an engine; expected none", v.Controller)
	}
	// The engine's view: lost nodes not recovered, and nodes whose lease lapsed.
	until := h.clock.Now().Add(2 * time.Second)
	h.engine.view, h.engine.ok = api.ControllerView{Leading: true, Mode: "run", LeaseValid: true, LeaseUntil: until, Unclean: []string{"n3"}, LeaseLost: []string{"n2"}}, true
	v, _ = h.svc.Status(ctx)
	if got := nodeStates(v); got != "n1=online n2=no-lease n3=unclean w=online" {
		t.Errorf("nodes with the engine's view %s", got)
	}
	if v.Controller == nil || !v.Controller.Leading || !v.Controller.LeaseUntil.Equal(until) {
		t.Errorf("controller %+v", v.Controller)
	}
}

func TestStatus_NotPlacedReasonComesFromThePlan(t *testing.T) {
	h := newHarness(t, true)
	h.apply(state.CmdSetPlacement, state.SetPlacement{BasedOn: h.st.Index(), Placement: map[string][]string{"web": {}},
		Assignments: []model.Assignment{{Resource: "web", Reason: "no node can run it: all banned"}}})
	v, _ := h.svc.Status(ctx)
	for _, r := range v.Resources {
		if r.ID == "web" && r.Reason != "no node can run it: all banned" {
			t.Errorf("web's reason %q; expected the plan's", r.Reason)
		}
	}
}

// The JSON shape `haven status --json` prints: empty lists, not null.
func TestStatus_JSONShape(t *testing.T) {
	h := newHarness(t, true)
	v, _ := h.svc.Status(ctx)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cluster", "node", "leader", "config_version", "quorum", "nodes", "resources", "consensus"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, b)
		}
	}
	if _, ok := m["controller"]; ok {
		t.Errorf("status JSON has a controller without an engine: %s", b)
	}
}
