package main

import (
	"slices"
	"testing"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/state"
)

func TestPrimitivesOf_ExpandsGroupsAndClones(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(`cluster: {name: t, key_file: k}
nodes:
  - {name: n1, addresses: [127.0.0.1]}
resources:
  - {id: a, type: exec, params: {command: [/bin/true]}}
  - {id: b, type: exec, params: {command: [/bin/true]}}
  - {id: c, type: exec, params: {command: [/bin/true]}}
groups:
  - {id: g, resources: [a, b]}
clones:
  - {id: g-clone, resource: g}
  - {id: c-clone, resource: c}
`), config.Options{Types: resourceTypes})
	if err != nil {
		t.Fatal(err)
	}
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
		"n1": {Resources: map[string]*state.Observed{"web": {State: state.Failed, FailCount: 2, Reason: "monitor: process exited"}, "ip": {State: state.Stopped, Held: true}}},
	}}
	got := failedActions(d)
	var keys []string
	for _, f := range got {
		keys = append(keys, f.Node+"/"+f.Resource)
	}
	if !slices.Equal(keys, []string{"n1/ip", "n1/web", "n2/web"}) {
		t.Fatalf("failed actions %v; expected n1/ip n1/web n2/web", keys)
	}
}
