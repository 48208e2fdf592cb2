package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

func TestSystemd_StatusMapping(t *testing.T) {
	for _, c := range []struct {
		s       unitState
		want    model.Status
		wantErr bool
	}{
		{unitState{"loaded", "active", "running"}, model.StatusRunning, false},
		{unitState{"loaded", "active", "exited"}, model.StatusRunning, false},
		{unitState{"loaded", "reloading", "reload"}, model.StatusRunning, false},
		{unitState{"loaded", "activating", "start"}, model.StatusRunning, false},
		{unitState{"loaded", "activating", "auto-restart"}, model.StatusFailed, true},
		{unitState{"loaded", "deactivating", "stop-sigterm"}, model.StatusRunning, false},
		{unitState{"loaded", "inactive", "dead"}, model.StatusStopped, false},
		{unitState{"loaded", "failed", "failed"}, model.StatusFailed, true},
		{unitState{"not-found", "inactive", "dead"}, model.StatusStopped, false},
		{unitState{"masked", "inactive", "dead"}, model.StatusStopped, false},
		{unitState{"loaded", "maintenance", "x"}, model.StatusFailed, true},
	} {
		st, err := systemdStatus(c.s)
		if st != c.want || (err != nil) != c.wantErr {
			t.Errorf("%+v: %s, %v; want %s (error %v)", c.s, st, err, c.want, c.wantErr)
		}
	}
}

func TestSystemd_UnitNames(t *testing.T) {
	r := Builtin()
	typ, ok := r.Lookup("systemd:tgtd")
	if !ok {
		t.Fatal("systemd:tgtd not resolved")
	}
	unit, ps := typ.(*SystemdType).decode(nil)
	if len(ps) > 0 || unit != "tgtd.service" {
		t.Fatalf("systemd:tgtd → %q %v", unit, ps)
	}
	if ps := typ.Validate(map[string]any{"unit": "other"}); len(ps) != 1 {
		t.Fatalf("contradicting unit accepted: %v", ps)
	}
	plain, _ := r.Lookup("systemd")
	if ps := plain.Validate(map[string]any{}); len(ps) != 1 || ps[0].Key != "unit" {
		t.Fatalf("missing unit: %v", ps)
	}
	if u, _ := plain.(*SystemdType).decode(map[string]any{"unit": "squid.socket"}); u != "squid.socket" {
		t.Fatalf("squid.socket → %q", u)
	}
}

// fakeSystemd is a D-Bus-free stand-in for systemd: units with a state,
// jobs that succeed or fail.
type fakeSystemd struct {
	mu      sync.Mutex
	units   map[string]*unitState
	failJob map[string]string // unit → job result
	calls   []string
}

func (f *fakeSystemd) dial(context.Context) (SystemdBus, error) { return f, nil }
func (f *fakeSystemd) Close()                                   {}

func (f *fakeSystemd) GetUnitPropertiesContext(_ context.Context, u string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.units[u]
	if !ok {
		return map[string]any{"LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead"}, nil
	}
	return map[string]any{"LoadState": s.Load, "ActiveState": s.Active, "SubState": s.Sub}, nil
}

func (f *fakeSystemd) job(u, verb string, ch chan<- string, ok unitState) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, verb+" "+u)
	if res := f.failJob[u]; res != "" {
		f.units[u] = &unitState{"loaded", "failed", "failed"}
		ch <- res
		return 1, nil
	}
	f.units[u] = &ok
	ch <- "done"
	return 1, nil
}

func (f *fakeSystemd) StartUnitContext(_ context.Context, u, mode string, ch chan<- string) (int, error) {
	if mode != "replace" {
		return 0, fmt.Errorf("mode %s", mode)
	}
	return f.job(u, "start", ch, unitState{"loaded", "active", "running"})
}

func (f *fakeSystemd) StopUnitContext(_ context.Context, u, mode string, ch chan<- string) (int, error) {
	return f.job(u, "stop", ch, unitState{"loaded", "inactive", "dead"})
}

func (f *fakeSystemd) ResetFailedUnitContext(_ context.Context, u string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "reset-failed "+u)
	f.units[u] = &unitState{"loaded", "inactive", "dead"}
	return nil
}

func TestSystemd_AgainstFakeBus(t *testing.T) {
	f := &fakeSystemd{
		units:   map[string]*unitState{"apache2.service": {"loaded", "inactive", "dead"}, "broken.service": {"loaded", "inactive", "dead"}},
		failJob: map[string]string{"broken.service": "failed"},
	}
	typ := &SystemdType{Dial: f.dial}
	a := agenttest.MustNew(t, typ, model.Resource{ID: "web", Params: map[string]any{"unit": "apache2"}}, agenttest.Env(t))
	agenttest.WantStatus(t, a, model.StatusStopped)
	for i := 0; i < 2; i++ {
		if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	for i := 0; i < 2; i++ {
		if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if got := strings.Join(f.calls, ","); got != "start apache2.service,stop apache2.service" {
		t.Fatalf("jobs %s, want one start and one stop (idempotent)", got)
	}

	b := agenttest.MustNew(t, typ, model.Resource{ID: "b", Params: map[string]any{"unit": "broken"}}, agenttest.Env(t))
	if err := b.Start(agenttest.OpCtx(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), `"failed"`) {
		t.Fatalf("Start of a failing unit = %v", err)
	}
	agenttest.WantStatus(t, b, model.StatusFailed)
	if err := b.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, b, model.StatusStopped)

	m := agenttest.MustNew(t, typ, model.Resource{ID: "m", Params: map[string]any{"unit": "nosuch"}}, agenttest.Env(t))
	if err := m.Start(agenttest.OpCtx(t, 5*time.Second)); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start of a missing unit = %v, want ErrNotInstalled", err)
	}
	agenttest.WantStatus(t, m, model.StatusStopped)
	if err := m.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// realSystemd finds a systemd to test against: HAVEN_SYSTEMD_SOCKET (a
// private socket) with HAVEN_SYSTEMD_UNIT_DIR (where that systemd reads
// unit files, as seen from here), else this machine's systemd.
func realSystemd(t *testing.T) (dial func(context.Context) (SystemdBus, error), unitDir string) {
	if sock := os.Getenv("HAVEN_SYSTEMD_SOCKET"); sock != "" {
		dir := os.Getenv("HAVEN_SYSTEMD_UNIT_DIR")
		if dir == "" {
			t.Fatal("HAVEN_SYSTEMD_SOCKET is set but HAVEN_SYSTEMD_UNIT_DIR is not")
		}
		return DialSystemdSocket(sock), dir
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil && os.Geteuid() == 0 {
		return DialSystemdSocket("/run/systemd/private"), "/run/systemd/system"
	}
	testenv.Missing(t, "no systemd to test against: none runs here as PID 1 (/run/systemd/system is missing) and HAVEN_SYSTEMD_SOCKET is not set. "+
		"`make test` as root boots one in docker; by hand: eval $(engine/agent/testdata/systemd-in-docker.sh start); "+
		"go test ./engine/agent -run TestSystemd_RealUnits; engine/agent/testdata/systemd-in-docker.sh stop")
	return nil, ""
}

func TestSystemd_RealUnits(t *testing.T) {
	// systemd refuses private-socket peers whose pid it cannot see: with a
	// systemd in a container, run this test inside the container's pid
	// namespace (the mount namespace stays ours).
	if pid := os.Getenv("HAVEN_SYSTEMD_PID"); pid != "" && os.Getenv("HAVEN_SYSTEMD_INSIDE") == "" {
		exe, _ := os.Executable()
		cmd := exec.Command("nsenter", "--target", pid, "--pid", "--", exe, "-test.run", "^TestSystemd_RealUnits$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "HAVEN_SYSTEMD_INSIDE=1")
		out, err := cmd.CombinedOutput()
		t.Logf("inside the pid namespace of %s:\n%s", pid, out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSystemd_RealUnits") {
			t.Fatalf("systemd test in the container's pid namespace failed: %v", err)
		}
		return
	}
	dial, unitDir := realSystemd(t)
	b := make([]byte, 3)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	ok, bad := "haven-test-ok-"+tag+".service", "haven-test-bad-"+tag+".service"
	write := func(name, body string) {
		p := filepath.Join(unitDir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(p) })
	}
	write(ok, "[Unit]\nDescription=haven agent test\n[Service]\nExecStart=/usr/bin/sleep 1000\n")
	write(bad, "[Unit]\nDescription=haven agent test (fails)\n[Service]\nType=oneshot\nExecStart=/usr/bin/false\n")
	reload := func() {
		bus, err := dial(agenttest.OpCtx(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer bus.Close()
		if err := bus.(*sdbus.Conn).ReloadContext(agenttest.OpCtx(t, 30*time.Second)); err != nil {
			t.Fatalf("daemon-reload: %v", err)
		}
	}
	reload()
	t.Cleanup(reload)

	typ := &SystemdType{Dial: dial}
	a := agenttest.MustNew(t, typ, model.Resource{ID: "ok", Params: map[string]any{"unit": ok}}, agenttest.Env(t))
	t.Cleanup(func() { a.Stop(agenttest.OpCtx(t, 30*time.Second)) })
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatalf("second stop: %v", err)
	}

	f := agenttest.MustNew(t, typ, model.Resource{ID: "bad", Params: map[string]any{"unit": bad}}, agenttest.Env(t))
	if err := f.Start(agenttest.OpCtx(t, 30*time.Second)); err == nil {
		t.Fatal("start of a failing oneshot unit succeeded")
	} else {
		t.Logf("failing unit: %v", err)
	}
	agenttest.WantStatus(t, f, model.StatusFailed)
	if err := f.Stop(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, f, model.StatusStopped)

	m := agenttest.MustNew(t, typ, model.Resource{ID: "missing", Params: map[string]any{"unit": "haven-test-missing-" + tag}}, agenttest.Env(t))
	if err := m.Start(agenttest.OpCtx(t, 30*time.Second)); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("start of a missing unit = %v, want ErrNotInstalled", err)
	}
	agenttest.WantStatus(t, m, model.StatusStopped)
}

func TestSystemd_NoSystemdIsAClearError(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		testenv.Skip(t, testenv.Machine, "systemd runs here as PID 1; the test needs a host without it")
	}
	a := agenttest.MustNew(t, &SystemdType{}, model.Resource{ID: "u", Params: map[string]any{"unit": "apache2"}}, agenttest.Env(t))
	st, err := a.Monitor(agenttest.OpCtx(t, 5*time.Second))
	if st != model.StatusStopped || err == nil || !strings.Contains(err.Error(), "is systemd running") {
		t.Fatalf("Monitor = %s, %v; want stopped with an error saying systemd is not reachable", st, err)
	}
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err == nil {
		t.Fatal("Start without systemd succeeded")
	}
}
