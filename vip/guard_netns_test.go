package vip_test

import (
	"sync"
	"testing"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/test/netns"
	"github.com/havenha/haven/vip"
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

func (g *recGuard) get(key string) (model.Teardown, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.held[key]
	return t, ok
}

// The vip agent holds its address in the guard once started and releases
// it once stopped; the held teardown (vip.Teardown, run by the guard in
// the agent's namespace) removes the address and leaves the node's own.
func TestVIP_GuardTeardownRemovesTheAddress(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "IPv4"
		if v6 {
			name = "IPv6"
		}
		t.Run(name, func(t *testing.T) {
			bed := netns.New(t, netns.Options{Nodes: []string{"n1"}, IPv6: v6})
			v := bed.HostAddr4(60)
			own := bed.Addr4("n1").Addr()
			if v6 {
				v, own = bed.HostAddr6(60), bed.Addr6("n1").Addr()
			}
			g := &recGuard{held: map[string]model.Teardown{}}
			a, err := vip.Type{}.New(model.Resource{ID: "ip", Type: vip.TypeName, Params: map[string]any{"ip": v.String(), "nic": "eth0"}},
				model.AgentEnv{Node: "n1", Logger: testLog(t), Guard: g})
			if err != nil {
				t.Fatal(err)
			}
			ag := a.(*vip.Agent)
			t.Cleanup(func() { _ = ag.Close() })
			key := "vip " + v.Addr().String()
			start(t, bed, "n1", ag)
			td, ok := g.get(key)
			if !ok || td.Kind != vip.TeardownKind || td.Args["nic"] != "eth0" || td.Args["ip"] != v.Addr().String() {
				t.Fatalf("held %+v (%v); expected a %s teardown of %s on eth0", td, ok, vip.TeardownKind, v.Addr())
			}
			stop(t, bed, "n1", ag)
			if _, ok := g.get(key); ok {
				t.Fatalf("still held after Stop")
			}
			start(t, bed, "n1", ag)
			td, _ = g.get(key)
			_ = ag.Close() // the agent is gone: only the address is left
			if err := bed.Do("n1", func() error { return vip.Teardown(ctx(t), td.Args) }); err != nil {
				t.Fatal(err)
			}
			if es := vipEntries(t, bed, "n1", v.Addr()); len(es) != 0 {
				t.Fatalf("vip still present after the teardown: %+v", es)
			}
			if ok, _ := bed.HasAddr("n1", own); !ok {
				t.Fatal("the teardown removed the node's own address")
			}
			// Again: an absent address is success.
			if err := bed.Do("n1", func() error { return vip.Teardown(ctx(t), td.Args) }); err != nil {
				t.Fatalf("second teardown: %v", err)
			}
		})
	}
}
