package agent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

const systemOCFRoot = "/usr/lib/ocf"

func needScript(t *testing.T, provider, agentName string) {
	t.Helper()
	p := filepath.Join(systemOCFRoot, "resource.d", provider, agentName)
	if _, err := os.Stat(p); err != nil {
		testenv.MissingPackage(t, map[string]string{"heartbeat": "resource-agents", "pacemaker": "pacemaker-resource-agents"}[provider], "%s is missing", p)
	}
}

func lookupOCF(t *testing.T, r *Registry, name string) model.AgentType {
	t.Helper()
	typ, ok := r.Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) failed", name)
	}
	return typ
}

// dummyLifecycle drives a Dummy-like agent through
// monitor(7) → start → monitor(0) → start → stop → monitor(7) → stop.
func dummyLifecycle(t *testing.T, typ model.AgentType, params map[string]any) {
	res := model.Resource{ID: "dummy1", Params: params, Monitor: &model.Op{Interval: model.Duration(10 * time.Second)}}
	if ps := typ.Validate(params); len(ps) > 0 {
		t.Fatalf("Validate: %v", ps)
	}
	a := agenttest.MustNew(t, typ, res, agenttest.Env(t))
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestOCF_HeartbeatDummy(t *testing.T) {
	needScript(t, "heartbeat", "Dummy")
	typ := lookupOCF(t, NewRegistry(OCFOptions{}), "ocf:heartbeat:Dummy")
	dummyLifecycle(t, typ, map[string]any{"state": filepath.Join(t.TempDir(), "dummy.state"), "fake": 42})
}

func TestOCF_PacemakerDummy(t *testing.T) {
	needScript(t, "pacemaker", "Dummy")
	typ := lookupOCF(t, NewRegistry(OCFOptions{}), "ocf:pacemaker:Dummy")
	dummyLifecycle(t, typ, map[string]any{"state": filepath.Join(t.TempDir(), "dummy.state")})
}

func TestOCF_MetaDataAndRequiredParams(t *testing.T) {
	needScript(t, "heartbeat", "IPaddr2")
	typ := NewOCFType("heartbeat", "IPaddr2", OCFOptions{})
	md, err := typ.MetaData(agenttest.OpCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if md.Name != "IPaddr2" || len(md.Parameters) < 5 || len(md.Actions) < 3 {
		t.Fatalf("metadata %s: %d parameters, %d actions", md.Name, len(md.Parameters), len(md.Actions))
	}
	ps, err := typ.CheckParams(agenttest.OpCtx(t, 10*time.Second), map[string]any{"cidr_netmask": 24})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Key != "ip" {
		t.Fatalf("CheckParams without ip = %v, want one problem on ip", ps)
	}
}

// fakeOCFRoot makes an OCF root with provider "haventest" holding an agent
// that records its environment and exits with the code in OCF_RESKEY_rc_ACTION.
func fakeOCFRoot(t *testing.T) (root, envFile string) {
	root = t.TempDir()
	dir := filepath.Join(root, "resource.d", "haventest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	envFile = filepath.Join(root, "env")
	script := `#!/bin/sh
env > ` + envFile + `.$1
eval "rc=\${OCF_RESKEY_rc_$1:-0}"
echo "action $1 exits $rc"
exit $rc
`
	if err := os.WriteFile(filepath.Join(dir, "recorder"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, envFile
}

func TestOCF_EnvironmentAsPacemakerSetsIt(t *testing.T) {
	root, envFile := fakeOCFRoot(t)
	typ := lookupOCF(t, NewRegistry(OCFOptions{Root: root}), "ocf:haventest:recorder")
	res := model.Resource{ID: "rec1", Params: map[string]any{"ip": "10.0.0.1", "cidr_netmask": 24, "lvs_support": true},
		Monitor: &model.Op{Interval: model.Duration(30 * time.Second)}}
	a := agenttest.MustNew(t, typ, res, agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	env := agenttest.ReadEnvFile(t, envFile+".start")
	want := map[string]string{
		"OCF_ROOT": root, "OCF_RESOURCE_INSTANCE": "rec1", "OCF_RESOURCE_TYPE": "recorder",
		"OCF_RESOURCE_PROVIDER": "haventest", "OCF_RESKEY_ip": "10.0.0.1", "OCF_RESKEY_cidr_netmask": "24",
		"OCF_RESKEY_lvs_support": "true", "OCF_RESKEY_CRM_meta_interval": "0", "OCF_RA_VERSION_MAJOR": "1",
		"OCF_RESKEY_CRM_meta_on_node": "node1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("start: %s=%q, want %q", k, env[k], v)
		}
	}
	ms, err := strconv.Atoi(env["OCF_RESKEY_CRM_meta_timeout"])
	if err != nil || ms < 19000 || ms > 20000 {
		t.Errorf("OCF_RESKEY_CRM_meta_timeout=%q, want about 20000 (the operation timeout in ms)", env["OCF_RESKEY_CRM_meta_timeout"])
	}
	if _, err := a.Monitor(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := agenttest.ReadEnvFile(t, envFile+".monitor")["OCF_RESKEY_CRM_meta_interval"]; got != "30000" {
		t.Errorf("monitor interval %q, want 30000", got)
	}
	if _, err := a.Monitor(model.WithProbe(agenttest.OpCtx(t, 5*time.Second))); err != nil {
		t.Fatal(err)
	}
	if got := agenttest.ReadEnvFile(t, envFile+".monitor")["OCF_RESKEY_CRM_meta_interval"]; got != "0" {
		t.Errorf("probe interval %q, want 0", got)
	}
}

func TestOCF_ExitCodeMapping(t *testing.T) {
	root, _ := fakeOCFRoot(t)
	typ := NewOCFType("haventest", "recorder", OCFOptions{Root: root})
	monitor := []struct {
		rc   int
		want model.Status
		err  error // sentinel wanted, or nil
	}{
		{0, model.StatusRunning, nil}, {7, model.StatusStopped, nil}, {8, model.StatusRunning, nil},
		{9, model.StatusFailed, nil}, {1, model.StatusFailed, nil}, {2, model.StatusFailed, nil},
		{5, model.StatusFailed, ErrNotInstalled}, {6, model.StatusFailed, ErrNotConfigured}, {42, model.StatusFailed, nil},
	}
	for _, c := range monitor {
		a := agenttest.MustNew(t, typ, model.Resource{ID: "r", Params: map[string]any{"rc_monitor": c.rc}}, agenttest.Env(t))
		st, err := a.Monitor(agenttest.OpCtx(t, 5*time.Second))
		if st != c.want {
			t.Errorf("monitor rc %d: %s (%v), want %s", c.rc, st, err, c.want)
		}
		if c.want == model.StatusFailed {
			var oe *OCFError
			if !errors.As(err, &oe) || oe.Code != c.rc || !strings.Contains(err.Error(), "action monitor exits") {
				t.Errorf("monitor rc %d: error %v, want an *OCFError with the code and output", c.rc, err)
			}
		}
		if c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("monitor rc %d: error %v, want it to wrap %v", c.rc, err, c.err)
		}
	}
	for _, c := range []struct {
		action string
		rc     int
		ok     bool
	}{{"start", 0, true}, {"start", 1, false}, {"start", 7, false}, {"stop", 0, true}, {"stop", 7, true}, {"stop", 1, false}} {
		a := agenttest.MustNew(t, typ, model.Resource{ID: "r", Params: map[string]any{"rc_" + c.action: c.rc}}, agenttest.Env(t))
		var err error
		if c.action == "start" {
			err = a.Start(agenttest.OpCtx(t, 5*time.Second))
		} else {
			err = a.Stop(agenttest.OpCtx(t, 5*time.Second))
		}
		if (err == nil) != c.ok {
			t.Errorf("%s rc %d: err %v, want ok=%v", c.action, c.rc, err, c.ok)
		}
	}
}

func TestOCF_TimeoutKillsTheScript(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "resource.d", "haventest")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "slow"), []byte("#!/bin/sh\nsleep 1000 &\nwait\n"), 0o755)
	a := agenttest.MustNew(t, NewOCFType("haventest", "slow", OCFOptions{Root: root}), model.Resource{ID: "s"}, agenttest.Env(t))
	begin := time.Now()
	err := a.Start(agenttest.OpCtx(t, 500*time.Millisecond))
	if err == nil || time.Since(begin) > 3*time.Second {
		t.Fatalf("Start = %v after %s, want a timeout error soon after 500ms", err, time.Since(begin))
	}
}

func TestOCF_MissingScript(t *testing.T) {
	typ := lookupOCF(t, NewRegistry(OCFOptions{Root: t.TempDir()}), "ocf:nosuch:Agent")
	if ps := typ.Validate(map[string]any{"a": 1}); len(ps) > 0 {
		t.Fatalf("Validate must not need the script: %v", ps)
	}
	a := agenttest.MustNew(t, typ, model.Resource{ID: "m"}, agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Start = %v, want ErrNotInstalled naming the missing script", err)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("Stop = %v, want success (nothing can run)", err)
	}
	if _, err := typ.(*OCFType).MetaData(agenttest.OpCtx(t, 5*time.Second)); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("MetaData = %v, want ErrNotInstalled", err)
	}
}

func TestOCF_ValidateRefusesListsAndMaps(t *testing.T) {
	typ := NewOCFType("heartbeat", "IPaddr2", OCFOptions{})
	ps := typ.Validate(map[string]any{"ip": "10.0.0.1", "nic": []any{"eth0"}, "x": map[string]any{"a": 1}, "bad-name": "v"})
	keys := map[string]bool{}
	for _, p := range ps {
		keys[p.Key] = true
	}
	if len(ps) != 3 || !keys["nic"] || !keys["x"] || !keys["bad-name"] {
		t.Fatalf("problems %v, want nic, x and bad-name", ps)
	}
}

func TestOCF_IPaddr2InNamespace(t *testing.T) {
	needScript(t, "heartbeat", "IPaddr2")
	ns := agenttest.Netns(t)
	r := NewRegistry(OCFOptions{Prefix: []string{"ip", "netns", "exec", ns}})
	typ := lookupOCF(t, r, "ocf:heartbeat:IPaddr2")
	res := model.Resource{ID: "vip1", Params: map[string]any{"ip": "10.251.0.10", "cidr_netmask": 24, "nic": "hv0", "iflabel": "vip"}}
	a := agenttest.MustNew(t, typ, res, agenttest.Env(t))
	addrs := func() string {
		out, _ := exec.Command("ip", "-n", ns, "-4", "addr", "show", "dev", "hv0").CombinedOutput()
		return string(out)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := addrs(); !strings.Contains(got, "10.251.0.10/24") || !strings.Contains(got, "hv0:vip") {
		t.Fatalf("after start hv0 has:\n%s", got)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := addrs(); strings.Contains(got, "10.251.0.10") {
		t.Fatalf("after stop hv0 still has the address:\n%s", got)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
}

func TestOCF_ExitReasonIsTheMessage(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "resource.d", "haventest")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "reason"), []byte("#!/bin/sh\necho noise\necho 'ocf-exit-reason:Failed to access httpd status page.' >&2\nexit 1\n"), 0o755)
	a := agenttest.MustNew(t, NewOCFType("haventest", "reason", OCFOptions{Root: root}), model.Resource{ID: "r"}, agenttest.Env(t))
	err := a.Start(agenttest.OpCtx(t, 5*time.Second))
	var oe *OCFError
	if !errors.As(err, &oe) || oe.Reason != "Failed to access httpd status page." ||
		err.Error() != "ocf:haventest:reason start: exit 1 (OCF_ERR_GENERIC): Failed to access httpd status page." {
		t.Fatalf("error %q (%+v)", err, oe)
	}
}
