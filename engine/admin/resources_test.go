package admin

// resources_test.go checks the questions the requests ask of the
// configuration and the state, and cannotRun against the real scheduler.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

func TestPrimitivesOf_ExpandsGroupsAndClones(t *testing.T) {
	c := groupsAndClones(t)
	for id, want := range map[string][]string{"a": {"a"}, "g": {"a", "b"}, "g-clone": {"a", "b"}, "c-clone": {"c"}} {
		got, ok := primitivesOf(c, id)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("primitivesOf(%s) = %v %v; expected %v", id, got, ok, want)
		}
	}
	if _, ok := primitivesOf(c, "nope"); ok {
		t.Error("primitivesOf(nope) found something")
	}
}

func TestFailedActions_ListsFailuresByNodeAndInstance(t *testing.T) {
	d := state.Data{Nodes: map[string]*state.NodeState{
		"n2": {Resources: map[string]*state.Observed{"web": {State: state.Started, FailCount: 1}, "db": {State: state.Started}}},
		// Failed or blocked without a count (cleaned up, then reported again) still shows.
		"n3": {Resources: map[string]*state.Observed{"fs": {State: state.Blocked}, "nfs": {State: state.Failed}, "x": {State: state.Stopping}}},
		"n1": {Resources: map[string]*state.Observed{"web": {State: state.Failed, FailCount: 2, Reason: "monitor: process exited"}, "ip": {State: state.Stopped, Held: true}}},
	}}
	got := failedActions(d)
	var keys []string
	for _, f := range got {
		keys = append(keys, f.Node+"/"+f.Resource)
	}
	if !slices.Equal(keys, []string{"n1/ip", "n1/web", "n2/web", "n3/fs", "n3/nfs"}) {
		t.Fatalf("failed actions %v; expected n1/ip n1/web n2/web n3/fs n3/nfs", keys)
	}
}

func TestCloneOf_AndResourceKind(t *testing.T) {
	c := groupsAndClones(t)
	for id, want := range map[string]string{"a": "g-clone", "g": "g-clone", "g-clone": "g-clone", "c": "c-clone", "c-clone": "c-clone", "d": ""} {
		got, ok := cloneOf(c, id)
		if got != want || ok != (want != "") {
			t.Errorf("cloneOf(%s) = %q %v; expected %q", id, got, ok, want)
		}
	}
	for id, want := range map[string]string{"a": "primitive", "g": "group", "g-clone": "clone", "nope": ""} {
		if got, _ := resourceKind(c, id); got != want {
			t.Errorf("resourceKind(%s) = %q; expected %q", id, got, want)
		}
	}
	// Where: a group's members, clone instances "c:0" count for c.
	d := state.Data{Nodes: map[string]*state.NodeState{
		"n1": {Resources: map[string]*state.Observed{"a": {State: state.Started}, "b": {State: state.Stopping}, "c:0": {State: state.Started}}},
		"n2": {Resources: map[string]*state.Observed{"a": {State: state.Stopped}, "c:1": {State: state.Failed}, "cc": {State: state.Started}}},
	}}
	pw := primitiveWhere(c, d, "g")
	if len(pw) != 2 || !slices.Equal(pw[0].Started, []string{"n1"}) || !slices.Equal(pw[1].Started, []string{}) || !slices.Equal(pw[1].Active, []string{"n1"}) {
		t.Errorf("primitiveWhere(g) = %+v", pw)
	}
	pw = primitiveWhere(c, d, "c-clone")
	if len(pw) != 1 || !slices.Equal(pw[0].Started, []string{"n1"}) || !slices.Equal(pw[0].Active, []string{"n1", "n2"}) {
		t.Errorf("primitiveWhere(c-clone) = %+v (cc is another resource)", pw)
	}
	if got := runningNodes(c, d, "g"); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("runningNodes(g) = %v", got)
	}
}

func TestStoppedAbove_FileAndParentRoles(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(`cluster: {name: t, key_file: k}
nodes:
  - {name: n1, addresses: [127.0.0.1]}
resources:
  - {id: a, type: exec, params: {command: [/bin/true]}}
  - {id: b, type: exec, params: {command: [/bin/true]}, meta: {target_role: Stopped}}
  - {id: c, type: exec, params: {command: [/bin/true]}}
groups:
  - {id: g, resources: [a, b]}
clones:
  - {id: g-clone, resource: g}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ancestors(c, "a"); !slices.Equal(got, []string{"g", "g-clone"}) {
		t.Errorf("ancestors(a) = %v; expected [g g-clone]", got)
	}
	none := state.Data{}
	for id, want := range map[string]bool{"a": false, "b": true, "c": false, "g": false} {
		if got := stoppedAbove(c, none, id); got != want {
			t.Errorf("stoppedAbove(%s) = %v; expected %v", id, got, want)
		}
	}
	parentOff := state.Data{Resources: map[string]*state.ResourceState{"g-clone": {TargetRole: "Stopped"}}}
	if !stoppedAbove(c, parentOff, "a") || stoppedAbove(c, parentOff, "c") {
		t.Error("a disabled clone keeps its members stopped; c is not in it")
	}
}

func TestCannotRun_NamesTheObstacles(t *testing.T) {
	why := scheduler.Explanation{Resources: []scheduler.ResourceScores{
		{Resource: "web", Scores: []scheduler.NodeScore{
			{Node: "n1", Score: model.Infinity, Contributions: []scheduler.Contribution{{Source: "preference move", Score: model.Infinity}}},
			{Node: "n2", Score: model.Infinity, Contributions: []scheduler.Contribution{{Source: "node is in standby: cannot run resources"}, {Source: "preference move", Score: model.Infinity}}},
			{Node: "n3", Score: model.NegInfinity, Contributions: []scheduler.Contribution{{Source: "location keep-off", Score: model.NegInfinity}, {Source: "preference move", Score: model.Infinity}}},
			{Node: "n4", Score: 10, Contributions: []scheduler.Contribution{{Source: "location x", Score: -5}, {Source: "stickiness", Score: 15}}},
		}},
	}}
	for node, want := range map[string]struct {
		blocked bool
		reasons string
	}{
		"n1": {false, ""},
		"n2": {true, "node is in standby: cannot run resources"},
		"n3": {true, "location keep-off (-INFINITY)"},
		"n4": {false, "location x (-5)"},
	} {
		reasons, blocked := cannotRun(why, "web", node)
		if blocked != want.blocked || strings.Join(reasons, "; ") != want.reasons {
			t.Errorf("cannotRun(web, %s) = %q %v; expected %q %v", node, reasons, blocked, want.reasons, want.blocked)
		}
	}
}

// The real scheduler's explanation names why a move target cannot run a
// primitive or a group: a standby node, a -INFINITY location.
func TestCannotRun_WithTheScheduler(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(`cluster: {name: t, key_file: k}
nodes:
  - {name: n1, addresses: [127.0.0.1]}
  - {name: n2, addresses: [127.0.0.2]}
  - {name: n3, addresses: [127.0.0.3]}
resources:
  - {id: a, type: exec, params: {command: [/bin/true]}}
  - {id: b, type: exec, params: {command: [/bin/true]}}
  - {id: solo, type: exec, params: {command: [/bin/true]}}
groups:
  - {id: g, resources: [a, b]}
constraints:
  - location: {id: never-n3, resource: solo, node: n3, score: -INFINITY}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	in := scheduler.Input{Cluster: c, Quorate: true, Nodes: map[string]scheduler.NodeStatus{
		"n1": {Online: true}, "n2": {Online: true, Standby: true}, "n3": {Online: true}}}
	for _, tc := range []struct{ id, node, reason string }{{"g", "n2", "standby"}, {"a", "n2", "standby"}, {"solo", "n3", "never-n3"}, {"solo", "n2", "standby"}} {
		in.Admin.Preferences = []scheduler.Preference{{Name: "move", Resource: tc.id, Node: tc.node, Score: model.Infinity}}
		plan, why := scheduler.Compute(in, now)
		if slices.Contains(plan.Placement[tc.id], tc.node) {
			t.Fatalf("%s placed on %s: %v", tc.id, tc.node, plan.Placement)
		}
		reasons, blocked := cannotRun(why, tc.id, tc.node)
		if !blocked || !strings.Contains(strings.Join(reasons, "; "), tc.reason) {
			t.Errorf("cannotRun(%s, %s) = %q %v; expected blocked naming %q", tc.id, tc.node, reasons, blocked, tc.reason)
		}
	}
	// A node that can run it is no obstacle.
	in.Admin.Preferences = []scheduler.Preference{{Name: "move", Resource: "g", Node: "n3", Score: model.Infinity}}
	plan, why := scheduler.Compute(in, now)
	if _, blocked := cannotRun(why, "g", "n3"); blocked || !slices.Equal(plan.Placement["g"], []string{"n3"}) {
		t.Errorf("g to n3: blocked %v, placed %v", blocked, plan.Placement["g"])
	}
}

// groupsAndClones is a cluster with a cloned group g (a, b), a cloned
// primitive c and a plain primitive d.
func groupsAndClones(t *testing.T) *model.Cluster {
	t.Helper()
	c, err := config.Parse("t.yaml", []byte(`cluster: {name: t, key_file: k}
nodes:
  - {name: n1, addresses: [127.0.0.1]}
resources:
  - {id: a, type: exec, params: {command: [/bin/true]}}
  - {id: b, type: exec, params: {command: [/bin/true]}}
  - {id: c, type: exec, params: {command: [/bin/true]}}
  - {id: d, type: exec, params: {command: [/bin/true]}}
groups:
  - {id: g, resources: [a, b]}
clones:
  - {id: g-clone, resource: g}
  - {id: c-clone, resource: c}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
