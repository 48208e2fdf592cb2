package agent

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
)

func execRes(id string, params map[string]any) model.Resource {
	return model.Resource{ID: id, Type: "exec", Params: params}
}

func readRecord(t *testing.T, dir string) pidRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, pidFileName))
	if err != nil {
		t.Fatal(err)
	}
	var r pidRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExec_StartMonitorStopIdempotent(t *testing.T) {
	env := agenttest.Env(t)
	a := agenttest.MustNew(t, ExecType{}, execRes("web", map[string]any{
		"command":       []any{"sh", "-c", `echo "hello from $HAVEN_RESOURCE on $HAVEN_NODE with $GREETING"; exec sleep 1000`},
		"env":           map[string]any{"GREETING": "hi", "PORT": 8080},
		"startup_grace": "200ms",
	}), env)
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, env.DataDir)
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if again := readRecord(t, env.DataDir); again.PID != rec.PID {
		t.Fatalf("second Start started another process: pid %d, then %d", rec.PID, again.PID)
	}
	logPath := filepath.Join(env.DataDir, "web.log")
	agenttest.Eventually(t, 5*time.Second, "log line", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "hello from web on node1 with hi")
	})
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if pidAlive(rec.PID) {
		t.Fatalf("process %d still alive after Stop", rec.PID)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestExec_StopKillsWholeProcessGroup(t *testing.T) {
	env := agenttest.Env(t)
	pids := filepath.Join(env.DataDir, "children")
	a := agenttest.MustNew(t, ExecType{}, execRes("grp", map[string]any{
		"command":       []any{"sh", "-c", `sleep 1000 & echo $! >> ` + pids + `; sleep 1000 & echo $! >> ` + pids + `; wait`},
		"startup_grace": "100ms",
	}), env)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var children []int
	agenttest.Eventually(t, 5*time.Second, "two children", func() bool {
		b, _ := os.ReadFile(pids)
		children = nil
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			children = append(children, n)
		}
		return len(children) == 2
	})
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		if pidAlive(c) {
			t.Errorf("child %d survived Stop", c)
		}
	}
}

func TestExec_DeadProcessIsFailedUntilStopped(t *testing.T) {
	env := agenttest.Env(t)
	a := agenttest.MustNew(t, ExecType{}, execRes("dies", map[string]any{
		"command": []any{"sleep", "1000"}, "startup_grace": "100ms",
	}), env)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, env.DataDir)
	if err := syscall.Kill(rec.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var merr error
	agenttest.Eventually(t, 5*time.Second, "monitor to report failed", func() bool {
		st, err := a.Monitor(agenttest.OpCtx(t, 5*time.Second))
		merr = err
		return st == model.StatusFailed
	})
	if merr == nil || !strings.Contains(merr.Error(), "killed by signal") {
		t.Fatalf("failure reason %v, want it to name the signal", merr)
	}
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("restart: %v", err)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestExec_StopEscalatesToSIGKILL(t *testing.T) {
	env := agenttest.Env(t)
	a := agenttest.MustNew(t, ExecType{}, execRes("stubborn", map[string]any{
		// The shell ignores TERM and INT; its sleeps are restarted.
		"command":       []any{"sh", "-c", `trap "" TERM INT; while :; do sleep 0.05; done`},
		"stop_signal":   "SIGINT",
		"stop_timeout":  "400ms",
		"startup_grace": "100ms",
	}), env)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, env.DataDir)
	begin := time.Now()
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	if took < 400*time.Millisecond {
		t.Errorf("Stop took %s; the process ignores INT so it should have waited stop_timeout (400ms)", took)
	}
	if pidAlive(rec.PID) || len(groupMembers(rec.PID)) > 0 {
		t.Fatalf("process group %d alive after Stop", rec.PID)
	}
}

func TestExec_StopKillsBeforeOperationDeadline(t *testing.T) {
	env := agenttest.Env(t)
	a := agenttest.MustNew(t, ExecType{}, execRes("stubborn", map[string]any{
		"command": []any{"sh", "-c", `trap "" TERM; while :; do sleep 0.05; done`}, "startup_grace": "100ms",
		// stop_timeout defaults to 10s, longer than the 2s operation below.
	}), env)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 2*time.Second)); err != nil {
		t.Fatalf("Stop within a 2s operation: %v", err)
	}
}

func TestExec_FoundAgainAfterAgentRestart(t *testing.T) {
	env := agenttest.Env(t)
	res := execRes("svc", map[string]any{"command": []any{"sleep", "1000"}, "startup_grace": "100ms"})
	first := agenttest.MustNew(t, ExecType{}, res, env)
	if err := first.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, env.DataDir)
	t.Cleanup(func() { _ = syscall.Kill(-rec.PID, syscall.SIGKILL) })

	// A new agent (as after a restart of haven) finds, monitors and stops it.
	second := agenttest.MustNew(t, ExecType{}, res, env)
	agenttest.WantStatus(t, second, model.StatusRunning)
	if err := second.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if readRecord(t, env.DataDir).PID != rec.PID {
		t.Fatal("Start after restart started a second process")
	}
	if err := second.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 5*time.Second, "process to be gone", func() bool { return !pidAlive(rec.PID) })
}

func TestExec_ReusedPidIsNotOurs(t *testing.T) {
	env := agenttest.Env(t)
	// A live process that haven did not start, recorded with another start
	// time: the pid was reused.
	other := exec.Command("sleep", "1000")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	st, err := readProcStat(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(pidRecord{PID: other.Process.Pid, StartTime: st.StartTime - 1, BootID: agentkit.BootID()})
	if err := os.WriteFile(filepath.Join(env.DataDir, pidFileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	a := agenttest.MustNew(t, ExecType{}, execRes("svc", map[string]any{"command": []any{"sleep", "1000"}}), env)
	if err := agenttest.WantStatus(t, a, model.StatusFailed); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("monitor reason %v, want it to say the pid was reused", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if !pidAlive(other.Process.Pid) {
		t.Fatal("Stop killed a process it did not start (reused pid)")
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
}

func TestExec_ExitDuringStartIsReportedWithLog(t *testing.T) {
	env := agenttest.Env(t)
	a := agenttest.MustNew(t, ExecType{}, execRes("crash", map[string]any{
		"command": []any{"sh", "-c", "echo config is broken >&2; exit 3"},
	}), env)
	err := a.Start(agenttest.OpCtx(t, 5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "exited with status 3") || !strings.Contains(err.Error(), "config is broken") {
		t.Fatalf("Start error %v, want the exit status and the log tail", err)
	}
	agenttest.WantStatus(t, a, model.StatusFailed)
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestExec_MissingProgramIsNotInstalled(t *testing.T) {
	a := agenttest.MustNew(t, ExecType{}, execRes("x", map[string]any{"command": []any{"/nonexistent/haven-test"}}), agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start = %v, want ErrNotInstalled", err)
	}
}

func helperCommand(t *testing.T, addr, delay string) ([]any, map[string]any) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []any{exe}, map[string]any{"HAVEN_AGENT_TEST_HELPER": "http", "HELPER_ADDR": addr, "HELPER_DELAY": delay}
}

func TestExec_StartWaitsForHTTPCheck(t *testing.T) {
	env := agenttest.Env(t)
	addr := agenttest.FreePort(t)
	cmd, henv := helperCommand(t, addr, "700ms")
	a := agenttest.MustNew(t, ExecType{}, execRes("http", map[string]any{
		"command": cmd, "env": henv, "check": map[string]any{"http": "http://" + addr + "/"},
	}), env)
	begin := time.Now()
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 700*time.Millisecond {
		t.Fatalf("Start returned after %s, before the service listened (700ms)", took)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestExec_FailingChecks(t *testing.T) {
	env := agenttest.Env(t)
	addr := agenttest.FreePort(t)
	cmd, henv := helperCommand(t, addr, "0s")
	// The service is up but /bad answers 503: start times out naming the check.
	a := agenttest.MustNew(t, ExecType{}, execRes("bad", map[string]any{
		"command": cmd, "env": henv, "check": map[string]any{"http": "http://" + addr + "/bad"},
	}), env)
	err := a.Start(agenttest.OpCtx(t, 2*time.Second))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Start = %v, want a check failure naming status 503", err)
	}
	if err := agenttest.WantStatus(t, a, model.StatusFailed); err == nil {
		t.Fatal("monitor failed without a reason")
	}
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}

	// TCP check and command check on a healthy service.
	flag := filepath.Join(env.DataDir, "healthy")
	b := agenttest.MustNew(t, ExecType{}, execRes("tcp", map[string]any{
		"command": cmd, "env": henv, "check": map[string]any{"tcp": addr},
	}), agenttest.Env(t))
	if err := b.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	defer b.Stop(agenttest.OpCtx(t, 5*time.Second))
	c := agenttest.MustNew(t, ExecType{}, execRes("cmd", map[string]any{
		"command": []any{"sleep", "1000"}, "check": map[string]any{"command": []any{"test", "-f", flag}, "timeout": "1s"},
	}), agenttest.Env(t))
	if err := c.Start(agenttest.OpCtx(t, 700*time.Millisecond)); err == nil || !strings.Contains(err.Error(), "exited with status 1") {
		t.Fatalf("Start with failing command check = %v", err)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("Start once the check passes: %v", err)
	}
	agenttest.WantStatus(t, c, model.StatusRunning)
	os.Remove(flag)
	agenttest.WantStatus(t, c, model.StatusFailed)
	if err := c.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestExec_RunsAsUser(t *testing.T) {
	agenttest.NeedRoot(t)
	env := agenttest.Env(t)
	a := agenttest.MustNew(t, ExecType{}, execRes("nob", map[string]any{
		"command": []any{"sh", "-c", "echo uid=$(id -u) home=$HOME; exec sleep 1000"}, "user": "nobody", "dir": "/",
		"check": map[string]any{"command": []any{"sh", "-c", `test "$(id -u)" = 65534`}},
	}), env)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(agenttest.OpCtx(t, 5*time.Second))
	agenttest.Eventually(t, 5*time.Second, "uid line in the log", func() bool {
		b, _ := os.ReadFile(filepath.Join(env.DataDir, "nob.log"))
		return strings.Contains(string(b), "uid=65534")
	})
}

func TestExec_Validate(t *testing.T) {
	cases := []struct {
		name    string
		params  map[string]any
		wantKey string // "" = valid
	}{
		{"minimal", map[string]any{"command": []any{"sleep", "1"}}, ""},
		{"full", map[string]any{"command": []any{"x"}, "env": map[string]any{"A": 1, "B": true}, "dir": "/tmp", "log": "/var/log/x.log",
			"stop_signal": "QUIT", "stop_timeout": "30s", "check": map[string]any{"tcp": "127.0.0.1:80", "timeout": "2s"}}, ""},
		{"no command", map[string]any{}, "command"},
		{"command not a list", map[string]any{"command": "sleep 1"}, "command"},
		{"unknown key", map[string]any{"command": []any{"x"}, "comand": 1}, "comand"},
		{"relative dir", map[string]any{"command": []any{"x"}, "dir": "tmp"}, "dir"},
		{"bad signal", map[string]any{"command": []any{"x"}, "stop_signal": "SIGFOO"}, "stop_signal"},
		{"two checks", map[string]any{"command": []any{"x"}, "check": map[string]any{"tcp": "a:1", "http": "http://a/"}}, "check"},
		{"bad url", map[string]any{"command": []any{"x"}, "check": map[string]any{"http": "ftp://a/"}}, "check"},
		{"bad tcp", map[string]any{"command": []any{"x"}, "check": map[string]any{"tcp": "nohostport"}}, "check"},
		{"env list", map[string]any{"command": []any{"x"}, "env": map[string]any{"A": []any{1}}}, "env"},
	}
	for _, c := range cases {
		ps := ExecType{}.Validate(c.params)
		switch {
		case c.wantKey == "" && len(ps) > 0:
			t.Errorf("%s: unexpected problems %v", c.name, ps)
		case c.wantKey != "" && (len(ps) == 0 || ps[0].Key != c.wantKey):
			t.Errorf("%s: problems %v, want one on %q", c.name, ps, c.wantKey)
		}
	}
}

func TestExec_ChildDoesNotInheritSystemdNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("HAVEN_TEST_KEEP", "kept")
	env := agenttest.Env(t)
	a := agenttest.MustNew(t, ExecType{}, execRes("n", map[string]any{
		"command": []any{"sh", "-c", `echo "notify=${NOTIFY_SOCKET:-none} keep=$HAVEN_TEST_KEEP"; exec sleep 1000`}, "startup_grace": "100ms",
	}), env)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(agenttest.OpCtx(t, 5*time.Second))
	agenttest.Eventually(t, 5*time.Second, "environment line", func() bool {
		b, _ := os.ReadFile(filepath.Join(env.DataDir, "n.log"))
		return strings.Contains(string(b), "notify=none keep=kept")
	})
}

func TestExec_PidFileFromEarlierBootMeansStopped(t *testing.T) {
	env := agenttest.Env(t)
	// Our own pid, recorded with another boot id: must be neither running
	// nor failed, and never signalled.
	st, _ := readProcStat(os.Getpid())
	b, _ := json.Marshal(pidRecord{PID: os.Getpid(), StartTime: st.StartTime, BootID: "00000000-0000-0000-0000-000000000000"})
	os.WriteFile(filepath.Join(env.DataDir, pidFileName), b, 0o644)
	a := agenttest.MustNew(t, ExecType{}, execRes("svc", map[string]any{"command": []any{"sleep", "1000"}}), env)
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}
