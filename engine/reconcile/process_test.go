package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

// procType runs `sleep` as the resource: a real process, started, killed and
// watched through the operating system.
type procType struct {
	mu    sync.Mutex
	procs map[int]chan struct{} // pid -> closed when it exited (reaped)
}

func (t *procType) Validate(map[string]any) []model.ParamProblem { return nil }
func (t *procType) Defaults() model.OpDefaults {
	return model.OpDefaults{MonitorInterval: model.Duration(50 * time.Millisecond), MonitorTimeout: model.Duration(5 * time.Second)}
}
func (t *procType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	return &procAgent{t: t, pidFile: filepath.Join(env.DataDir, "pid")}, nil
}

type procAgent struct {
	t       *procType
	pidFile string
}

func (a *procAgent) pid() (int, chan struct{}) {
	b, err := os.ReadFile(a.pidFile)
	if err != nil {
		return 0, nil
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	return pid, a.t.procs[pid]
}

func alive(done chan struct{}) bool {
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (a *procAgent) Start(ctx context.Context) error {
	if _, done := a.pid(); alive(done) {
		return nil
	}
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sleep: %w", err)
	}
	done := make(chan struct{})
	a.t.mu.Lock()
	a.t.procs[cmd.Process.Pid] = done
	a.t.mu.Unlock()
	go func() { _ = cmd.Wait(); close(done) }()
	return os.WriteFile(a.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
}

func (a *procAgent) Stop(ctx context.Context) error {
	pid, done := a.pid()
	if !alive(done) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-done:
		return os.Remove(a.pidFile)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *procAgent) Monitor(ctx context.Context) (model.Status, error) {
	pid, done := a.pid()
	if pid == 0 {
		return model.StatusStopped, nil
	}
	if !alive(done) {
		return model.StatusFailed, errors.New("process " + strconv.Itoa(pid) + " exited")
	}
	return model.StatusRunning, nil
}

// TestReconciler_RealProcessKilledIsRestartedAfterTheClusterSawIt drives a
// real process on the system clock: killed -> monitor fails -> stopped ->
// restarted once a placement computed from the failure arrives.
func TestReconciler_RealProcessKilledIsRestartedAfterTheClusterSawIt(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		testenv.MissingPackage(t, "coreutils", "sleep is not installed: cannot run a real process")
	}
	typ := &procType{procs: map[int]chan struct{}{}}
	rep := &fakeReporter{}
	dir := t.TempDir()
	r, err := New(Config{
		Node: "n1", DataDir: dir, Clock: clock.System{}, Reporter: rep,
		Logger: slog.New(slog.NewTextHandler(logWriter{t}, nil)),
		Types:  func(string) (model.AgentType, bool) { return typ, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	agent := &procAgent{t: typ, pidFile: filepath.Join(dir, "web", "pid")}
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
		_ = agent.Stop(context.Background())
	}()
	web := Instance{ID: "web", Resource: model.Resource{ID: "web", Type: "proc"}}
	r.Set(Desired{Index: 1, Instances: []Instance{web}})
	var first int
	eventually(t, "web started", func() bool {
		pid, d := agent.pid()
		first = pid
		return alive(d) && len(rep.find("web", StateStarted, OpStart)) == 1
	})
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var failed []recordedObs
	eventually(t, "failure reported", func() bool {
		failed = rep.find("web", StateFailed, OpMonitor)
		return len(failed) == 1 && len(rep.find("web", StateStopped, OpStop)) == 1
	})
	if !strings.Contains(failed[0].Reason, "exited") {
		t.Fatalf("reason %q; want the process exit", failed[0].Reason)
	}
	r.Set(Desired{Index: failed[0].index, Instances: []Instance{web}})
	eventually(t, "web restarted", func() bool {
		pid, d := agent.pid()
		return pid != first && alive(d) && len(rep.find("web", StateStarted, OpStart)) == 2
	})
}
