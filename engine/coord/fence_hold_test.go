package coord

import (
	"testing"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// A node fenced for a failure (on_fail fence) is up and reports its own stop
// of the failed resource. That report must not let the resource start
// elsewhere before the fence: the plan holds it until the fence record.
func TestHoldForFence_FailedResourceWaitsForTheFence(t *testing.T) {
	c := &model.Cluster{
		Nodes:     []model.Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}},
		Resources: []model.Resource{{ID: "web", Type: "exec"}, {ID: "db", Type: "exec"}},
	}
	failed := &state.Observed{State: state.Failed, FailCount: 1, LastFailure: t0, LastFailureIndex: 8}
	stopped := &state.Observed{State: state.Stopped, FailCount: 1, LastFailure: t0, LastFailureIndex: 8}
	for name, web := range map[string]*state.Observed{"failed": failed, "stopped by the node itself": stopped} {
		v := state.Data{Index: 9, Placement: state.Placement{BasedOn: 5}, Nodes: map[string]*state.NodeState{
			"n1": {FenceRequested: "monitor of web failed (on_fail fence)", Resources: map[string]*state.Observed{"web": web}},
			"n2": {Resources: map[string]*state.Observed{"db": obs(state.Started)}},
		}}
		in := Input{View: v, Cluster: c, Self: "n3", Alive: func(string) bool { return true }, Quorate: true, Stonith: true}
		dec := Decide(in, t0)
		if dec.Fence["n1"] == "" || nodeClass(dec, "n1") != model.NodeUnclean {
			t.Fatalf("%s: n1 with a fence request: fence %v node %s; want fenced and unclean", name, dec.Fence, nodeClass(dec, "n1"))
		}
		held := dec.Plan
		for _, a := range held.Assignments {
			if a.Resource == "web" && a.Node != "" {
				t.Errorf("%s: web assigned to %s before the fence of n1 (%+v)", name, a.Node, held.Assignments)
			}
		}
		if got := held.Placement["web"]; len(got) != 0 {
			t.Errorf("%s: web placed on %v before the fence", name, got)
		}
		if got := held.Placement["db"]; len(got) != 1 {
			t.Errorf("%s: db placed on %v; want it placed (the hold is web's alone)", name, got)
		}
		var stop bool
		for _, a := range held.Actions {
			if a.Resource == "web" {
				stop = a.Action == model.ActionStop && a.Node == "n1"
			}
		}
		if !stop {
			t.Errorf("%s: actions %+v; want web stopped on n1 until the fence", name, held.Actions)
		}

		// The fence (n1 is off) clears the request and marks web stopped: it moves.
		in.Alive = func(n string) bool { return n != "n1" }
		v.Nodes["n1"] = &state.NodeState{Resources: map[string]*state.Observed{"web": {State: state.Stopped, FailCount: 1, LastFailure: t0, LastFailureIndex: 8}}}
		in.View = v
		dec = Decide(in, t0)
		after := dec.Plan
		if got := after.Placement["web"]; len(got) != 1 || got[0] == "n1" {
			t.Errorf("%s: after the fence web placed on %v; want one other node", name, got)
		}
	}
}
