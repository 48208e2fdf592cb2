package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/reconcile"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/leasewire"
)

// fakeLog records commands and answers with increasing indexes.
type fakeLog struct {
	cmds  []state.Command
	err   error
	value json.RawMessage // the result's Value
}

func (f *fakeLog) Apply(_ context.Context, c state.Command) (state.Result, error) {
	f.cmds = append(f.cmds, c)
	return state.Result{Index: uint64(len(f.cmds)), Value: f.value}, f.err
}
func (f *fakeLog) Barrier(context.Context) error { return nil }

// noRenewer reaches no other node.
type noRenewer struct{}

func (noRenewer) Renew(context.Context, string, lease.Renewal) (uint64, error) {
	return 0, errors.New("no other node in this test")
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type fakeMembers struct{}

func (fakeMembers) Alive(string) bool { return true }
func (fakeMembers) Quorate() bool     { return true }

func newTestNode(t *testing.T, log Log) *Node {
	t.Helper()
	n, err := NewNode(NodeConfig{Name: "n1", State: state.New(state.Options{}), Log: log, Members: fakeMembers{},
		Term: func() uint64 { return 1 }, Renewer: noRenewer{}, Types: func(string) (model.AgentType, bool) { return nil, false },
		DataDir: t.TempDir(), Lease: time.Second, Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNode_ReportMapsFailures(t *testing.T) {
	fl := &fakeLog{}
	n := newTestNode(t, fl)
	cases := []struct {
		o     reconcile.Observation
		state string
		fail  *state.Failure
	}{
		{reconcile.Observation{ID: "n1@1-1", Node: "n1", Instance: "hb:0", State: reconcile.StateStarted, Op: reconcile.OpStart}, state.Started, nil},
		{reconcile.Observation{ID: "n1@1-2", Node: "n1", Instance: "web", State: reconcile.StateFailed, Op: reconcile.OpStart, OnFail: reconcile.OnFailRestart, Reason: "exit 1"}, state.Failed,
			&state.Failure{ID: "n1@1-2", Op: reconcile.OpStart, Reason: "exit 1", Fatal: true, OnFail: reconcile.OnFailRestart}},
		{reconcile.Observation{ID: "n1@1-3", Node: "n1", Instance: "web", State: reconcile.StateFailed, Op: reconcile.OpMonitor, OnFail: reconcile.OnFailStop, Reason: "gone"}, state.Failed,
			&state.Failure{ID: "n1@1-3", Op: reconcile.OpMonitor, Reason: "gone", OnFail: reconcile.OnFailStop}},
		{reconcile.Observation{ID: "n1@1-4", Node: "n1", Instance: "web", State: reconcile.StateFailed, Op: reconcile.OpMonitor, OnFail: reconcile.OnFailIgnore}, state.Started, nil},
	}
	for i, tc := range cases {
		idx, err := n.report(context.Background(), tc.o)
		if err != nil || idx != uint64(i+1) {
			t.Fatalf("report %d: index %d err %v", i, idx, err)
		}
		c := fl.cmds[i]
		var r state.Report
		if err := jsonUnmarshal(c.Body, &r); err != nil {
			t.Fatal(err)
		}
		if c.Type != state.CmdReport || r.Resource != tc.o.Instance || r.State != tc.state || !reflect.DeepEqual(r.Failure, tc.fail) {
			t.Errorf("report %d: %s %+v failure %+v; want %s %+v", i, c.Type, r, r.Failure, tc.state, tc.fail)
		}
	}
	// A failure the state did not count (stale): index 0, wait for nothing.
	fl.value = json.RawMessage(`{"failure_ignored":true}`)
	if idx, err := n.report(context.Background(), cases[2].o); err != nil || idx != 0 {
		t.Errorf("uncounted failure: index %d err %v; want 0 (no placement will be computed from it)", idx, err)
	}
	fl.value = nil
	fl.err = errors.New("no leader")
	if _, err := n.report(context.Background(), cases[0].o); err == nil {
		t.Error("a failed apply must be an error (the reconciler retries)")
	}
}

// The node answers renewals over the lease wire (leasewire, on loopback
// UDP sockets) with its holder.
func TestNode_GrantsLeaseOverTheWire(t *testing.T) {
	n := newTestNode(t, &fakeLog{})
	key := []byte("0123456789abcdef0123456789abcdef")
	addrs := map[string]net.Addr{}
	var mu sync.Mutex
	start := func(name string) *leasewire.Wire {
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		addrs[name] = conn.LocalAddr()
		mu.Unlock()
		w, err := leasewire.New(leasewire.Config{Conn: conn, Key: key, Name: name, Addr: func(node string) (net.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			if a, ok := addrs[node]; ok {
				return a, nil
			}
			return nil, errors.New("no such node")
		}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return w
	}
	start("n1").SetGrant(n.GrantLease)
	r := start("n2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := r.Renew(ctx, "n1", lease.Renewal{Term: 5, Leader: "n2", Index: 7})
	if err != nil || tok == 0 {
		t.Fatalf("first renewal: token %d err %v", tok, err)
	}
	if _, err := r.Renew(ctx, "n1", lease.Renewal{Term: 5, Leader: "n2", Echo: tok, Index: 9}); err != nil {
		t.Fatal(err)
	}
	if !n.LeaseHolder().Valid(t0) {
		t.Error("lease not valid after an echoed renewal")
	}
	if got := n.LeaseHolder().CatchUp(); got != 9 {
		t.Errorf("catch-up index %d; want 9 (renewals received while the lease was not valid)", got)
	}
	if st := n.Status(); !st.LeaseValid || st.Leading || st.Node != "n1" {
		t.Errorf("status %+v; want a valid lease, not leading", st)
	}
	if _, err := r.Renew(ctx, "n1", lease.Renewal{Term: 4, Leader: "n3"}); !errors.Is(err, lease.ErrStale) {
		t.Errorf("older term: err %v; want lease.ErrStale", err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
