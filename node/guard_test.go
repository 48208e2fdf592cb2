package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
)

// guardController gives every agent the guard and turns an overdue stop
// into a teardown request on the guard's pipe. The "guard" here is cat,
// which copies the protocol into a file.
func TestGuardController_AgentsGetTheGuardAndOverdueTearsDown(t *testing.T) {
	g, out := catGuard(t)

	cfg := controller.NodeConfig{Types: agent.Builtin().Lookup}
	guardController(&cfg, g, slog.New(slog.DiscardHandler))
	if cfg.OnStopOverdue == nil {
		t.Fatal("OnStopOverdue not set")
	}
	typ, ok := cfg.Types("exec")
	if !ok {
		t.Fatal("exec not found through the guarded lookup")
	}
	a, err := typ.New(model.Resource{ID: "web", Type: "exec", Params: map[string]any{"command": []any{"sleep", "1000"}, "startup_grace": "50ms"}},
		model.AgentEnv{Node: "n1", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := a.Start(sctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Stop(sctx) }()
	if held := g.Held(); len(held) != 1 || !strings.HasPrefix(held[0], "exec ") {
		t.Fatalf("held %v; expected the exec agent's process group (the agent got the guard)", held)
	}
	cfg.OnStopOverdue([]string{"web"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(out.Name())
		if strings.Contains(string(b), `"op":"teardown"`) && strings.Contains(string(b), `"op":"hold"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no teardown on the guard's pipe 10s after OnStopOverdue; it carried:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if held := g.Held(); len(held) != 0 {
		t.Errorf("still held after the teardown request: %v", held)
	}
}

// OnLease arms the guard with the lease deadline and half of lease × drift
// + margin as grace; the zero time disarms. The "guard" is cat again.
func TestGuardController_OnLeaseArmsTheGuard(t *testing.T) {
	g, out := catGuard(t)
	cfg := controller.NodeConfig{Types: agent.Builtin().Lookup, Lease: time.Second}
	guardController(&cfg, g, slog.New(slog.DiscardHandler))
	if cfg.OnLease == nil {
		t.Fatal("OnLease not set")
	}
	// lan: (1 s × 0.05 + 100 ms) / 2 (model.WatchdogGrace).
	// An agent that holds nothing keeps the guard disarmed
	// (engine/guard's TestWatchdog_IdleAgentKeepsTheGuardDisarmed): hold.
	g.Hold("exec web", model.Teardown{Kind: guard.KindKillGroup, Args: map[string]string{"pgid": "1"}})
	before := guard.MonotonicNow()
	cfg.OnLease(time.Now().Add(time.Second))
	after := guard.MonotonicNow()
	dl, grace := g.Armed()
	// Arm converts the wall-clock deadline to the monotonic clock in two
	// readings; a preemption between them arms it early by that gap (the
	// safe direction: the guard acts sooner), so the lower bound has slack.
	if dl < before+int64(time.Second-50*time.Millisecond) || dl > after+int64(time.Second) || grace != 75*time.Millisecond {
		t.Errorf("armed with deadline %d (expected within [%d, %d]) and grace %v (expected 75ms)",
			dl, before+int64(time.Second), after+int64(time.Second), grace)
	}
	waitProtocol(t, out.Name(), `"op":"arm"`, `"grace_ns":75000000`)
	cfg.OnLease(time.Time{})
	if dl, _ := g.Armed(); dl != 0 {
		t.Errorf("still armed after OnLease(zero time)")
	}
	waitProtocol(t, out.Name(), `"op":"disarm"`)
}

// waitProtocol waits up to 10 s until the protocol file holds every one of
// want.
func waitProtocol(t *testing.T, path string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(string(b), w)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guard's pipe did not carry %q within 10s; it carried:\n%s", want, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Without a guard the lookup is unchanged.
func TestGuardController_NoGuard(t *testing.T) {
	cfg := controller.NodeConfig{Types: agent.Builtin().Lookup}
	guardController(&cfg, nil, slog.New(slog.DiscardHandler))
	if cfg.OnStopOverdue != nil {
		t.Errorf("OnStopOverdue set without a guard")
	}
	if cfg.OnLease != nil {
		t.Errorf("OnLease set without a guard")
	}
	if typ, _ := cfg.Types("exec"); isGuarded(typ) {
		t.Errorf("types wrapped without a guard")
	}
}

func isGuarded(t model.AgentType) bool { _, ok := t.(guardedType); return ok }

// catGuard runs a guard client whose "guard" is cat: what the client sends
// down the pipe lands in the returned file. Stopped at the end of the test.
func catGuard(t *testing.T) (*guard.Client, *os.File) {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "protocol"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	g, err := guard.New(guard.Config{Path: "/bin/cat", Args: []string{"cat"}, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-g.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return g, out
}
