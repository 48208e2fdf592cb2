package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// stateLog applies every command to st at the next index, as raft would.
type stateLog struct {
	mu sync.Mutex
	st *state.State
}

func (l *stateLog) Apply(_ context.Context, c state.Command) (state.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := c.Encode()
	if err != nil {
		return state.Result{}, err
	}
	return l.st.Apply(l.st.Index()+1, b), nil
}

func (l *stateLog) Barrier(context.Context) error { return nil }

type aliveOnly map[string]bool

func (a aliveOnly) Alive(n string) bool { return a[n] }
func (a aliveOnly) Quorate() bool       { return true }

// The coordinator on its own, over a real state machine: a lost node's
// resource stays unclean while its lease may hold, is recorded stopped once
// the lease has certainly lapsed (the plan is then stale and recomputed),
// and is placed on the surviving node.
func TestStateCoordinator_RecoversALostNodeOnlyAfterItsLease(t *testing.T) {
	cl := &model.Cluster{Nodes: []model.Node{{Name: "n1"}, {Name: "n2"}},
		Resources: []model.Resource{{ID: "web", Type: "exec"}}}
	st := state.New(state.Options{Parse: func([]byte) (*model.Cluster, error) { return cl, nil }})
	log := &stateLog{st: st}
	ctx := context.Background()
	must := func(typ string, body any) {
		t.Helper()
		c, err := state.NewCommand(typ, t0, "test", body)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := log.Apply(ctx, c); err != nil || res.Err() != nil {
			t.Fatalf("%s: %v %v", typ, err, res.Err())
		}
	}
	must(state.CmdSetConfig, state.SetConfig{YAML: []byte("cluster: {}")})
	must(state.CmdReport, state.Report{Node: "n2", Resource: "web", State: state.Started})
	tab, err := lease.NewTable(lease.DefaultTableConfig(time.Second)) // bound 1.15 s
	if err != nil {
		t.Fatal(err)
	}
	tab.BecameLeader(t0)
	triggered := 0
	co := newTestCoordinator(t, log, tab, func(c *Config) {
		c.State, c.Members, c.Trigger = st, aliveOnly{"n1": true}, func() { triggered++ }
	})

	p, err := co.Propose(ctx, t0.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if got := co.Unclean(); len(got) != 1 || got[0] != "n2" {
		t.Fatalf("unclean %v while n2's lease may hold; want [n2]", got)
	}
	if !p.RecheckAt.Equal(t0.Add(tab.Config().Bound() + time.Millisecond)) {
		t.Errorf("recheck at %v; want just past the bound", p.RecheckAt)
	}
	if cp, _ := p.Plan.(coordPlan); len(cp.lapsed) != 0 {
		t.Fatalf("lapse recorded while n2's lease may hold: %v", cp.lapsed)
	}
	if p.Changed {
		// The placement may already name n1 (the scheduler notes that n2
		// is unclean); n1 starts nothing before n2's stop is recorded.
		if err := co.Commit(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if o := st.View().Nodes["n2"].Resources["web"]; o.State != state.Started {
		t.Fatalf("web on n2 is %s before the lease lapsed; want still started", o.State)
	}

	now := t0.Add(2 * time.Second)
	p, err = co.Propose(ctx, now)
	if err != nil || !p.Changed || len(p.Why) != 1 || !strings.Contains(p.Why[0], "node n2 lost and its lease has certainly lapsed") {
		t.Fatalf("past the bound: %+v %v; want web recorded stopped on n2", p, err)
	}
	if err := co.Commit(ctx, p); !errors.Is(err, ErrStalePlan) {
		t.Fatalf("commit of the lapse record: %v; want ErrStalePlan (recompute from it)", err)
	}
	if o := st.View().Nodes["n2"].Resources["web"]; o.State != state.Stopped {
		t.Fatalf("web on n2 is %s; want recorded stopped", o.State)
	}

	if o := st.View().Nodes["n2"].Resources["web"]; o.LapsedAt == 0 {
		t.Errorf("web on n2: %+v; want marked as recorded on the lease", o)
	}
	if p, err = co.Propose(ctx, now); err != nil {
		t.Fatal(err)
	}
	if p.Changed {
		if err := co.Commit(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.View().Placement.Placement["web"]; len(got) != 1 || got[0] != "n1" {
		t.Fatalf("web placed on %v; want [n1]", got)
	}
	if p, err := co.Propose(ctx, now); err != nil || p.Changed {
		t.Fatalf("nothing changed since the commit: %+v %v; want no proposal", p, err)
	}
	if triggered != 0 {
		t.Errorf("Trigger called %d times without a fence", triggered)
	}
}

func TestStateCoordinator_ConfigValidateNamesEveryProblem(t *testing.T) {
	_, err := New(Config{})
	for _, want := range []string{"Name is empty", "State is nil", "Log is nil", "Members is nil", "Leases is nil", "Clock is nil"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(Config{}) error %v does not say %q", err, want)
		}
	}
}
