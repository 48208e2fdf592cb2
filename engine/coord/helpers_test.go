package coord

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/state"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// eventually polls cond until it holds or 10s of real time pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logWriter routes slog output to t.Log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fakeRenewer records renewals and acks each with a counter; nodes in hang
// wait for their ctx to end.
type fakeRenewer struct {
	clk  *clock.Fake
	mu   sync.Mutex
	sent []renewalCall
	hang map[string]bool
	seq  uint64
}

type renewalCall struct {
	node string
	at   time.Time
	r    lease.Renewal
}

func (f *fakeRenewer) Renew(ctx context.Context, node string, r lease.Renewal) (uint64, error) {
	f.mu.Lock()
	f.sent = append(f.sent, renewalCall{node: node, at: f.clk.Now(), r: r})
	hang := f.hang[node]
	f.seq++
	seq := f.seq
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return seq, nil
}

func (f *fakeRenewer) calls(node string) []renewalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []renewalCall
	for _, c := range f.sent {
		if c.node == node {
			out = append(out, c)
		}
	}
	return out
}

// fakeLog records commands and answers with increasing indexes.
type fakeLog struct {
	mu    sync.Mutex
	cmds  []state.Command
	err   error
	value json.RawMessage // the result's Value
}

func (f *fakeLog) Apply(_ context.Context, c state.Command) (state.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, c)
	return state.Result{Index: uint64(len(f.cmds)), Value: f.value}, f.err
}
func (f *fakeLog) Barrier(context.Context) error { return nil }

type fakeMembers struct{}

func (fakeMembers) Alive(string) bool { return true }
func (fakeMembers) Quorate() bool     { return true }

// newTestCoordinator is n1's coordinator over an empty state and tab, on a
// fake clock at t0; edit, when not nil, changes the configuration first.
func newTestCoordinator(t *testing.T, log Log, tab *lease.Table, edit func(*Config)) *StateCoordinator {
	t.Helper()
	cfg := Config{Name: "n1", State: state.New(state.Options{}), Log: log, Members: fakeMembers{},
		Leases: tab, Clock: clock.NewFake(t0)}
	if edit != nil {
		edit(&cfg)
	}
	co, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return co
}
