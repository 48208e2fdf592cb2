package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent"
	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/model"
)

// pidsOf returns the pids whose command line is exactly args.
func pidsOf(args ...string) []int {
	want := strings.Join(args, "\x00") + "\x00"
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || string(b) != want {
			continue
		}
		if st, err := os.ReadFile(filepath.Join(d, "stat")); err == nil {
			if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
				continue // a zombie is not running
			}
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		out = append(out, pid)
	}
	return out
}

// TestReconciler_WithTheBuiltinExecAgent runs the reconciler with
// engine/agent's exec type on the system clock: start, kill, restart after
// the cluster saw the failure, and stop when moved away.
func TestReconciler_WithTheBuiltinExecAgent(t *testing.T) {
	reg := agent.Builtin()
	if _, ok := reg.Lookup("exec"); !ok {
		t.Fatal("engine/agent has no exec type registered")
	}
	arg := fmt.Sprintf("%d", 3000+os.Getpid()%1000) // unique per test process
	rep := &fakeReporter{}
	r, err := New(Config{
		Node: "n1", DataDir: t.TempDir(), Clock: clock.System{}, Reporter: rep, Types: reg.Lookup,
		Logger: slog.New(slog.NewTextHandler(logWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
		for _, pid := range pidsOf("sleep", arg) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	web := Instance{ID: "web", Resource: model.Resource{ID: "web", Type: "exec",
		Params:  map[string]any{"command": []any{"sleep", arg}},
		Monitor: &model.Op{Interval: model.Duration(100 * time.Millisecond)}}}
	r.Set(Desired{Index: 1, Instances: []Instance{web}})
	eventually(t, "web started", func() bool {
		return len(rep.find("web", StateStarted, OpStart)) == 1 && len(pidsOf("sleep", arg)) == 1
	})
	first := pidsOf("sleep", arg)[0]
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var failed []recordedObs
	eventually(t, "failure reported and cleaned up", func() bool {
		failed = rep.find("web", StateFailed, OpMonitor)
		return len(failed) == 1 && len(rep.find("web", StateStopped, OpStop)) == 1
	})
	r.Set(Desired{Index: failed[0].index, Instances: []Instance{web}})
	eventually(t, "web restarted", func() bool {
		p := pidsOf("sleep", arg)
		return len(rep.find("web", StateStarted, OpStart)) == 2 && len(p) == 1 && p[0] != first
	})
	r.Set(Desired{Index: failed[0].index + 1, Others: []Instance{web}})
	eventually(t, "web stopped when moved away", func() bool {
		return len(rep.find("web", StateStopped, OpStop)) == 2 && len(pidsOf("sleep", arg)) == 0
	})
}
