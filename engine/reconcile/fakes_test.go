package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
)

// call is one agent operation seen by the fake system.
type call struct {
	at   time.Time // fake clock when the call began
	inst string
	op   string // start, stop, monitor
	err  error  // what it returned
}

// fakeSystem is the machine the fake agents act on: which instances run,
// every call with its (fake) time, and failures on demand.
type fakeSystem struct {
	clock *clock.Fake

	mu         sync.Mutex
	running    map[string]bool
	calls      []call
	failStart  map[string]error
	failStop   map[string]error
	failMon    map[string]error // monitor reports StatusFailed with this
	hang       map[string]string
	ctxErrs    map[string]error // ctx.Err() seen by a hanging op when it gave up
	inProgress map[string]string
	gate       map[string]chan struct{} // "inst op" -> the op waits until closed
}

func newFakeSystem(clk *clock.Fake) *fakeSystem {
	return &fakeSystem{clock: clk, running: map[string]bool{}, failStart: map[string]error{},
		failStop: map[string]error{}, failMon: map[string]error{}, hang: map[string]string{},
		ctxErrs: map[string]error{}, inProgress: map[string]string{}, gate: map[string]chan struct{}{}}
}

func (s *fakeSystem) set(f func(s *fakeSystem)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *fakeSystem) isRunning(inst string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[inst]
}

// callsOf returns the calls of op ("" = any) for inst ("" = any), in order.
func (s *fakeSystem) callsOf(inst, op string) []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []call
	for _, c := range s.calls {
		if (inst == "" || c.inst == inst) && (op == "" || c.op == op) {
			out = append(out, c)
		}
	}
	return out
}

// seq renders the start/stop calls as "start a, start b, stop b".
func (s *fakeSystem) seq() string {
	var parts []string
	for _, c := range s.callsOf("", "") {
		if c.op != "monitor" {
			parts = append(parts, c.op+" "+c.inst)
		}
	}
	return strings.Join(parts, ", ")
}

func (s *fakeSystem) do(ctx context.Context, inst, op string) (model.Status, error) {
	s.mu.Lock()
	at := s.clock.Now()
	hang := s.hang[inst] == op
	gate := s.gate[inst+" "+op]
	s.inProgress[inst] = op
	s.mu.Unlock()
	var err error
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if hang {
		<-ctx.Done()
		err = fmt.Errorf("gave up: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inProgress, inst)
	if hang {
		s.ctxErrs[inst] = ctx.Err()
	}
	st := model.StatusStopped
	if err == nil && ctx.Err() == nil {
		switch op {
		case "start":
			if err = s.failStart[inst]; err == nil {
				s.running[inst] = true
			}
		case "stop":
			if err = s.failStop[inst]; err == nil {
				s.running[inst] = false
			}
		case "monitor":
			if s.running[inst] {
				st = model.StatusRunning
				if e := s.failMon[inst]; e != nil {
					st, err = model.StatusFailed, e
				}
			}
		}
	}
	s.calls = append(s.calls, call{at: at, inst: inst, op: op, err: err})
	return st, err
}

// fakeType builds fakeAgents; the instance id is the data folder's name.
type fakeType struct {
	sys      *fakeSystem
	defaults model.OpDefaults
}

func (t *fakeType) Validate(map[string]any) []model.ParamProblem { return nil }
func (t *fakeType) Defaults() model.OpDefaults                   { return t.defaults }
func (t *fakeType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	if res.Params["broken"] != nil {
		return nil, errors.New("broken params")
	}
	return &fakeAgent{sys: t.sys, inst: filepath.Base(env.DataDir)}, nil
}

type fakeAgent struct {
	sys  *fakeSystem
	inst string
}

func (a *fakeAgent) Start(ctx context.Context) error {
	_, err := a.sys.do(ctx, a.inst, "start")
	return err
}
func (a *fakeAgent) Stop(ctx context.Context) error {
	_, err := a.sys.do(ctx, a.inst, "stop")
	return err
}
func (a *fakeAgent) Monitor(ctx context.Context) (model.Status, error) {
	return a.sys.do(ctx, a.inst, "monitor")
}

// fakeReporter records observations and gives each the next log index.
type fakeReporter struct {
	mu    sync.Mutex
	index uint64
	obs   []recordedObs
	fail  bool
	// ignoreFailures: failure reports come back with index 0, as the
	// state answers a stale failure it did not count.
	ignoreFailures bool
}

type recordedObs struct {
	Observation
	index uint64
}

func (f *fakeReporter) Report(_ context.Context, o Observation) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return 0, errors.New("no leader")
	}
	f.index++
	f.obs = append(f.obs, recordedObs{o, f.index})
	if f.ignoreFailures && o.State == StateFailed {
		return 0, nil
	}
	return f.index, nil
}

// find returns the recorded observations of inst matching state (and op when not "").
func (f *fakeReporter) find(inst string, state State, op string) []recordedObs {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recordedObs
	for _, o := range f.obs {
		if o.Instance == inst && o.State == state && (op == "" || o.Op == op) {
			out = append(out, o)
		}
	}
	return out
}

// logWriter routes slog output to t.Log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// harness runs one reconciler over a fake system on a fake clock.
type harness struct {
	t     *testing.T
	clk   *clock.Fake
	sys   *fakeSystem
	rep   *fakeReporter
	typ   *fakeType
	lease *lease.Holder
	r     *Reconciler
	stop  func()
	dir   string
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	clk := clock.NewFake(t0)
	sys := newFakeSystem(clk)
	h := &harness{t: t, clk: clk, sys: sys, rep: &fakeReporter{index: 100},
		typ: &fakeType{sys: sys, defaults: model.OpDefaults{MonitorInterval: model.Duration(10 * time.Second)}},
		dir: t.TempDir()}
	return h
}

func (h *harness) config() Config {
	return Config{
		Node: "n1", DataDir: h.dir, Clock: h.clk, Reporter: h.rep, Lease: h.lease,
		Logger: slog.New(slog.NewTextHandler(logWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Types: func(name string) (model.AgentType, bool) {
			if name == "fake" {
				return h.typ, true
			}
			return nil, false
		},
	}
}

// run starts a reconciler (with cfg edited by edit, if not nil) and
// arranges for Run to be checked to return at the end of the test.
func (h *harness) run(edit func(*Config)) *Reconciler {
	h.t.Helper()
	cfg := h.config()
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	h.r = r
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run returned %v; expected nil", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Fatalf("Run did not return within 10s of its context ending")
		}
		_ = r.Close()
		_ = r.Close()
	}
	h.t.Cleanup(h.stop)
	return r
}

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

// res returns a fake resource with a 10s monitor.
func res(id string) model.Resource {
	return model.Resource{ID: id, Type: "fake", Monitor: &model.Op{Interval: model.Duration(10 * time.Second)}}
}

func insts(ids ...string) []Instance {
	out := make([]Instance, len(ids))
	for i, id := range ids {
		out[i] = Instance{ID: id, Resource: res(id)}
	}
	return out
}

// waitState waits until the reconciler's status shows inst in state s and idle.
func (h *harness) waitState(inst string, s State) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%s to be %s", inst, s), func() bool {
		for _, st := range h.r.Status() {
			if st.ID == inst {
				return st.State == s && st.Busy == ""
			}
		}
		return false
	})
}

// waitReported waits until an observation of inst in state s (op when not "") was recorded n times.
func (h *harness) waitReported(inst string, s State, op string, n int) recordedObs {
	h.t.Helper()
	var got []recordedObs
	eventually(h.t, fmt.Sprintf("%d report(s) of %s %s (op %q)", n, inst, s, op), func() bool {
		got = h.rep.find(inst, s, op)
		return len(got) >= n
	})
	return got[n-1]
}

// waitCalls waits until inst saw n calls of op.
func (h *harness) waitCalls(inst, op string, n int) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%d %s call(s) on %s", n, op, inst), func() bool {
		return len(h.sys.callsOf(inst, op)) >= n
	})
}
