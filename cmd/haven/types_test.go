package main

import (
	"slices"
	"testing"

	"github.com/havenha/haven/engine/config"
)

// TestTypes_RegistryMatchesConfig: engine/config names the stock types in
// its messages, its schema and its checks without a registry; they must be
// exactly what this binary registers, so nothing is offered that cannot run.
func TestTypes_RegistryMatchesConfig(t *testing.T) {
	got := builtinTypes().Names()
	want := slices.Sorted(slices.Values(config.BuiltinTypes))
	if !slices.Equal(got, want) {
		t.Errorf("registry has %v; config.BuiltinTypes has %v", got, want)
	}
	for _, name := range []string{"ocf:heartbeat:IPaddr2", "systemd:tgtd", "vip", "exec"} {
		if _, ok := resourceTypes(name); !ok {
			t.Errorf("resource type %q is not resolved; want it built in", name)
		}
	}
	if _, ok := resourceTypes("iscsi-target"); ok {
		t.Error("iscsi-target resolves: update config's plannedTypes and BuiltinTypes, and examples_test's refusedExamples")
	}
	if fenceTypes != nil || len(config.BuiltinFenceTypes) != 0 {
		t.Error("a fencing registry exists: config.BuiltinFenceTypes must list its names, and examples_test's refusedExamples lose seed003")
	}
}
