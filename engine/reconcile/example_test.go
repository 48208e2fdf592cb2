package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/reconcile"
)

// dummyType is a resource type whose agents only remember whether they run.
type dummyType struct{}

func (d dummyType) Validate(map[string]any) []model.ParamProblem { return nil }
func (d dummyType) Defaults() model.OpDefaults                   { return model.OpDefaults{} }
func (d dummyType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	return dummyAgent{id: res.ID}, nil
}

type dummyAgent struct{ id string }

func (dummyAgent) Start(context.Context) error { return nil }
func (dummyAgent) Stop(context.Context) error  { return nil }
func (dummyAgent) Monitor(context.Context) (model.Status, error) {
	return model.StatusStopped, nil
}

// How an adapter wires one node: a lease holder fed by the lease wire
// (leasewire), a reporter that records observations through the raft leader,
// and a Set on every applied index.
func Example() {
	clk := clock.System{}
	holder, _ := lease.NewHolder(time.Second, clk, nil)
	defer holder.Close()

	done := make(chan struct{})
	index := uint64(100)
	reporter := reconcile.ReporterFunc(func(ctx context.Context, o reconcile.Observation) (uint64, error) {
		fmt.Println(o.Instance, o.State, o.Op) // the adapter would commit it through the leader
		index++
		if o.State == reconcile.StateStarted {
			close(done)
		}
		return index, nil
	})
	dir, _ := os.MkdirTemp("", "haven-example")
	defer os.RemoveAll(dir)
	r, err := reconcile.New(reconcile.Config{
		Node: "n1", DataDir: dir, Clock: clk, Reporter: reporter, Lease: holder,
		Types: func(string) (model.AgentType, bool) { return dummyType{}, true },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = r.Run(ctx); close(stopped) }()

	// The lease wire's answer to renewals from the coordinator (two rounds: the
	// first only hands out a token).
	tok, _ := holder.Grant(lease.Renewal{Term: 3, Leader: "n2"})
	_, _ = holder.Grant(lease.Renewal{Term: 3, Leader: "n2", Echo: tok})

	// On every applied index: what this node must run.
	r.Set(reconcile.Desired{Index: 7, PlanIndex: 7, Instances: []reconcile.Instance{
		{ID: "web", Resource: model.Resource{ID: "web", Type: "dummy"}},
	}})
	<-done
	cancel()
	<-stopped
	// Output:
	// web stopped probe
	// web starting start
	// web started start
}
