package agent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
)

// filesystem holds its mount point once mounted and releases it once
// unmounted; the held teardown unmounts it.
func TestFilesystem_HoldsItsMountInTheGuard(t *testing.T) {
	agenttest.NeedRoot(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	unmountAll(t, dir)
	env := agenttest.Env(t)
	g := &recGuard{held: map[string]model.Teardown{}}
	env.Guard = g
	a := agenttest.MustNew(t, FilesystemType{}, fsRes(map[string]any{"device": "tmpfs", "directory": dir, "fstype": "tmpfs", "options": "size=1m"}), env)
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	td, ok := g.snapshot()["filesystem "+dir]
	if !ok || td.Kind != guard.KindUnmount || td.Args["directory"] == "" {
		t.Fatalf("held %v; expected an unmount of %s", g.snapshot(), dir)
	}
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if held := g.snapshot(); len(held) != 0 {
		t.Fatalf("still held after Stop: %v", held)
	}
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	td = g.snapshot()["filesystem "+dir]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := guard.Unmount(ctx, td.Args); err != nil {
		t.Fatal(err)
	}
	if e := mountedOn(t, dir); e != nil {
		t.Fatalf("still mounted after the teardown: %+v", e)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
}
