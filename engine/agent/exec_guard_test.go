package agent

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
)

// recGuard records holds (model.Guard).
type recGuard struct {
	mu   sync.Mutex
	held map[string]model.Teardown
}

func (g *recGuard) Hold(key string, t model.Teardown) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held[key] = t
}

func (g *recGuard) Release(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.held, key)
}

func (g *recGuard) snapshot() map[string]model.Teardown {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]model.Teardown{}
	for k, v := range g.held {
		out[k] = v
	}
	return out
}

// exec holds its process group (pgid and the leader's start time) once
// started and releases it once stopped; the held teardown kills the group.
func TestExec_HoldsItsProcessGroupInTheGuard(t *testing.T) {
	env := agenttest.Env(t)
	g := &recGuard{held: map[string]model.Teardown{}}
	env.Guard = g
	a := agenttest.MustNew(t, ExecType{}, execRes("web", map[string]any{
		"command": []any{"sleep", "1000"}, "startup_grace": "100ms",
	}), env)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, env.DataDir)
	held := g.snapshot()
	td, ok := held["exec "+env.DataDir]
	if len(held) != 1 || !ok {
		t.Fatalf("held %v; expected one hold for exec %s", held, env.DataDir)
	}
	if td.Kind != guard.KindKillGroup || td.Args["pgid"] != strconv.Itoa(rec.PID) || td.Args["start_time"] != strconv.FormatUint(rec.StartTime, 10) {
		t.Fatalf("teardown %+v; expected kill-group of pgid %d, start time %d", td, rec.PID, rec.StartTime)
	}
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if held := g.snapshot(); len(held) != 0 {
		t.Fatalf("still held after Stop: %v", held)
	}
	// Again, and this time the guard's teardown ends the process.
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec = readRecord(t, env.DataDir)
	td = g.snapshot()["exec "+env.DataDir]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := guard.KillGroup(ctx, td.Args); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 5*time.Second, "the process killed by the teardown", func() bool { return !pidAlive(rec.PID) })
	if st, _ := a.Monitor(agenttest.OpCtx(t, 5*time.Second)); st != model.StatusFailed {
		t.Errorf("monitor after the teardown: %v; expected failed", st)
	}
	if err := a.Stop(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if held := g.snapshot(); len(held) != 0 {
		t.Fatalf("still held after Stop: %v", held)
	}
}
