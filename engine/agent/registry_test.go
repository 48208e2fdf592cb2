package agent

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

type stubType struct{}

func (stubType) Validate(map[string]any) []model.ParamProblem { return nil }
func (stubType) New(model.Resource, model.AgentEnv) (model.Agent, error) {
	return nil, nil
}
func (stubType) Defaults() model.OpDefaults { return agentkit.DefaultOps }

func TestRegistry_BuiltinAndFamilies(t *testing.T) {
	r := Builtin()
	var lookup model.TypeLookup = r.Lookup // usable as the model's lookup
	for _, name := range []string{"exec", "systemd", "filesystem", "ping", "alert",
		"ocf:heartbeat:IPaddr2", "ocf:pacemaker:ping", "ocf:local:my-agent.sh", "systemd:tgtd", "systemd:squid.service"} {
		if _, ok := lookup(name); !ok {
			t.Errorf("Lookup(%q) failed", name)
		}
	}
	for _, name := range []string{"vip", "ocf", "ocf:heartbeat", "ocf::IPaddr2", "ocf:heartbeat:", "ocf:a/b:c",
		"ocf:heartbeat:..", "ocf:x:y:z", "systemd:", "systemd:a b", "nosuch"} {
		if _, ok := lookup(name); ok {
			t.Errorf("Lookup(%q) succeeded", name)
		}
	}
	if got := strings.Join(r.Names(), ","); got != "alert,exec,filesystem,ping,systemd" {
		t.Errorf("Names() = %s", got)
	}
	if typ, _ := lookup("ocf:heartbeat:IPaddr2"); typ.(*OCFType).Script() != "/usr/lib/ocf/resource.d/heartbeat/IPaddr2" {
		t.Errorf("script path %s", typ.(*OCFType).Script())
	}
}

func TestRegistry_RegisterOtherPackagesTypes(t *testing.T) {
	r := Builtin()
	if err := r.Register("vip", stubType{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup("vip"); !ok {
		t.Fatal("vip not found after Register")
	}
	if err := r.Register("vip", stubType{}); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	if err := r.Register("", stubType{}); err == nil {
		t.Fatal("empty name accepted")
	}
	if err := r.Register("x", nil); err == nil {
		t.Fatal("nil type accepted")
	}
	// An exact registration wins over the ocf: family.
	if err := r.Register("ocf:heartbeat:IPaddr2", stubType{}); err != nil {
		t.Fatal(err)
	}
	if typ, _ := r.Lookup("ocf:heartbeat:IPaddr2"); typ != (stubType{}) {
		t.Fatalf("exact registration did not win: %T", typ)
	}
}

func TestRegistry_EveryTypeRefusesBadParamsInNew(t *testing.T) {
	r := Builtin()
	for _, name := range []string{"exec", "systemd", "filesystem", "ping", "alert"} {
		typ, _ := r.Lookup(name)
		_, err := typ.New(model.Resource{ID: "r", Params: map[string]any{"no_such_param": []any{1}}}, agenttest.Env(t))
		if err == nil || !strings.Contains(err.Error(), "resource r") {
			t.Errorf("%s: New with bad params = %v, want an error naming the resource", name, err)
		}
		// ping and alert live in their own packages and wrap the same
		// sentinel that callers test against this package's.
		if !errors.Is(err, ErrNotConfigured) {
			t.Errorf("%s: New with bad params = %v, want it to wrap agent.ErrNotConfigured", name, err)
		}
		if d := typ.Defaults(); d.StartTimeout == 0 || d.StopTimeout == 0 || d.MonitorTimeout == 0 || d.MonitorInterval == 0 {
			t.Errorf("%s: incomplete defaults %+v", name, d)
		}
	}
}

// TestPackage_ImportsNoClusterInternals checks the layering rule: agents do
// not depend on raft, memberlist, netlink, gotgt or go-ipmi.
func TestPackage_ImportsNoClusterInternals(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go tool is not in PATH")
	}
	out, err := exec.CommandContext(context.Background(), goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"hashicorp/raft", "hashicorp/memberlist", "vishvananda/netlink", "gostor/gotgt", "bougou/go-ipmi"} {
			if strings.Contains(dep, bad) {
				t.Errorf("engine/agent depends on %s", dep)
			}
		}
	}
}
