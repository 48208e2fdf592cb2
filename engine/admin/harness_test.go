package admin

// harness_test.go runs the service without processes: a log that applies
// each command straight into a real state.State (as raft's FSM would on
// the leader), a membership view and an engine set by the test, a clock
// the test moves, and the coordinator's own scheduler input builder.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/coord"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

// memLog is Log over a state.State: Apply validates, applies at the next
// index and returns the result as consensus.Node.Apply does.
type memLog struct {
	st *state.State
	mu sync.Mutex
	// index is the last index applied.
	index uint64
	// barrierErr, when set, is what Barrier returns (no leader).
	barrierErr error
	// applyErr, when set, is what Apply returns without applying.
	applyErr error
	// beforeApply runs before the next command (a concurrent commit).
	beforeApply func()
	// refusalInResult: a refusal comes back in the Result only, not as
	// the error too.
	refusalInResult bool
	// applied are the commands committed, in order.
	applied []state.Command
	status  LogStatus
}

func (l *memLog) Apply(_ context.Context, cmd state.Command) (state.Result, error) {
	if f := l.beforeApply; f != nil {
		l.beforeApply = nil
		f()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.applyErr != nil {
		return state.Result{}, l.applyErr
	}
	b, err := cmd.Encode()
	if err != nil {
		return state.Result{}, err
	}
	if err := state.Validate(b); err != nil {
		return state.Result{}, Mark(ErrInvalid, fmt.Errorf("%w: %v", ErrInvalid, err))
	}
	l.index++
	res := l.st.Apply(l.index, b)
	l.applied = append(l.applied, cmd)
	if l.refusalInResult {
		return res, nil
	}
	return res, res.Err()
}

func (l *memLog) Barrier(context.Context) error { return l.barrierErr }
func (l *memLog) Status() LogStatus             { return l.status }

// commands are the types committed since mark, in order.
func (l *memLog) commandsSince(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.applied[mark:] {
		out = append(out, c.Type)
	}
	return out
}

func (l *memLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.applied)
}

// members is a membership view set by the test.
type members struct {
	mu      sync.Mutex
	c       *model.Cluster
	offline map[string]bool
	quorate bool
}

func (m *members) Alive(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.offline[node]
}

func (m *members) Quorum() api.QuorumView {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := api.QuorumView{Quorate: m.quorate, Flags: []string{}, Members: []api.MemberView{}}
	for _, n := range m.c.Nodes {
		q.Members = append(q.Members, api.MemberView{Name: n.Name, Votes: 1, Online: !m.offline[n.Name], Links: []api.LinkView{}})
	}
	return q
}

func (m *members) down(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offline[node] = true
}

// engine is a resource engine status set by the test.
type engine struct {
	view api.ControllerView
	ok   bool
}

func (e *engine) Status() (api.ControllerView, bool) { return e.view, e.ok }

// clock is a time the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// coordinatorInput is what the agent wires: the coordinator's own builder.
func coordinatorInput(c *model.Cluster, v state.Data, self string, alive func(string) bool, quorate bool, now time.Time) scheduler.Input {
	return coord.BuildInput(coord.Input{View: v, Cluster: c, Self: self, Alive: alive, Quorate: quorate}, now).Input
}

// testYAML: three resource nodes and a witness; web (never on n3), a group
// g of a and b, both sticky (so a preview shows only what a request moves),
// a clone of c, and off (stopped in the file).
const testYAML = `cluster: {name: t, key_file: k}
nodes:
  - {name: n1, addresses: [127.0.0.1]}
  - {name: n2, addresses: [127.0.0.2]}
  - {name: n3, addresses: [127.0.0.3]}
  - {name: w, addresses: [127.0.0.4], role: witness}
resources:
  - {id: web, type: exec, params: {command: [/bin/true]}, meta: {stickiness: 100}}
  - {id: a, type: exec, params: {command: [/bin/true]}, meta: {stickiness: 100}}
  - {id: b, type: exec, params: {command: [/bin/true]}, meta: {stickiness: 100}}
  - {id: c, type: exec, params: {command: [/bin/true]}}
  - {id: off, type: exec, params: {command: [/bin/true]}, meta: {target_role: Stopped}}
groups:
  - {id: g, resources: [a, b]}
clones:
  - {id: c-clone, resource: c}
constraints:
  - location: {id: web-never-n3, resource: web, node: n3, score: -INFINITY}
`

type harness struct {
	t       *testing.T
	svc     *Service
	st      *state.State
	log     *memLog
	members *members
	engine  *engine
	clock   *clock
	startup *model.Cluster
}

func parse(t *testing.T, yaml string) *model.Cluster {
	t.Helper()
	c, err := config.Parse("t.yaml", []byte(yaml), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newHarness is a service on n1 with testYAML as the startup file; commit
// is whether the file is committed (version 1) before the test starts.
func newHarness(t *testing.T, commit bool) *harness {
	t.Helper()
	startup := parse(t, testYAML)
	st := state.New(state.Options{Parse: func(b []byte) (*model.Cluster, error) {
		return config.Parse("committed configuration", b, config.Options{})
	}})
	h := &harness{t: t, st: st, log: &memLog{st: st, status: LogStatus{State: "Leader", Leader: "n1", Term: 3, Applied: 0, Voters: []string{"n1", "n2", "w"}}},
		members: &members{c: startup, offline: map[string]bool{}, quorate: true}, engine: &engine{},
		clock: &clock{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}, startup: startup}
	svc, err := New(Config{Node: "n1", Startup: startup, State: st, Log: h.log, Members: h.members, Engine: h.engine,
		Input: coordinatorInput, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	if commit {
		h.apply(state.CmdSetConfig, state.SetConfig{Base: 0, YAML: []byte(testYAML)})
	}
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// apply commits a command as another component would (a node's report,
// the coordinator's plan), failing the test on a refusal.
func (h *harness) apply(typ string, body any) {
	h.t.Helper()
	cmd, err := state.NewCommand(typ, h.clock.Now(), "test", body)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.log.Apply(context.Background(), cmd); err != nil {
		h.t.Fatalf("apply %s: %v", typ, err)
	}
}

// report records what a node observes of a resource instance.
func (h *harness) report(node, instance, st string) {
	h.t.Helper()
	h.apply(state.CmdReport, state.Report{Node: node, Resource: instance, State: st})
}

// fail records a failed monitor of an instance on a node.
func (h *harness) fail(node, instance, id string) {
	h.t.Helper()
	h.apply(state.CmdReport, state.Report{Node: node, Resource: instance, State: state.Failed, Reason: "monitor: process exited",
		Failure: &state.Failure{ID: id, Op: "monitor", Reason: "process exited"}})
}

// running reports web on n1, the group on n2 and the clone on n1 and n2.
func (h *harness) running() {
	h.t.Helper()
	h.report("n1", "web", state.Started)
	h.report("n2", "a", state.Started)
	h.report("n2", "b", state.Started)
	h.report("n1", "c:0", state.Started)
	h.report("n2", "c:1", state.Started)
}

// apiError asserts err is an *api.Error with status and a message holding
// every want.
func apiError(t *testing.T, err error, status int, want ...string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T); expected an *api.Error %d", err, err, status)
	}
	if e.Status != status {
		t.Errorf("status %d (%s); expected %d", e.Status, e.Message, status)
	}
	for _, w := range want {
		if !strings.Contains(e.Message, w) {
			t.Errorf("message %q lacks %q", e.Message, w)
		}
	}
}
