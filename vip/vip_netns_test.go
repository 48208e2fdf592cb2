package vip_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/test/netns"
	"github.com/havenha/haven/vip"
)

// testLog routes slog to t.Log until the test ends (background announcers
// may log a little later).
func testLog(t *testing.T) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

var _ io.Writer = (*tlogWriter)(nil)

// newAgent builds a vip agent; it is stopped at cleanup in its namespace.
func newAgent(t *testing.T, bed *netns.Bed, node string, params map[string]any) *vip.Agent {
	t.Helper()
	a, err := vip.Type{}.New(model.Resource{ID: "vip-" + node, Type: vip.TypeName, Params: params},
		model.AgentEnv{Node: node, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ag := a.(*vip.Agent)
	t.Cleanup(func() { _ = ag.Close() })
	return ag
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func start(t *testing.T, bed *netns.Bed, node string, a *vip.Agent) {
	t.Helper()
	if err := bed.Do(node, func() error { return a.Start(ctx(t)) }); err != nil {
		t.Fatalf("start on %s: %v", node, err)
	}
}

func stop(t *testing.T, bed *netns.Bed, node string, a *vip.Agent) {
	t.Helper()
	if err := bed.Do(node, func() error { return a.Stop(ctx(t)) }); err != nil {
		t.Fatalf("stop on %s: %v", node, err)
	}
}

func monitor(t *testing.T, bed *netns.Bed, node string, a *vip.Agent) (model.Status, error) {
	t.Helper()
	var st model.Status
	var merr error
	if err := bed.Do(node, func() error { st, merr = a.Monitor(ctx(t)); return nil }); err != nil {
		t.Fatal(err)
	}
	return st, merr
}

func wantStatus(t *testing.T, bed *netns.Bed, node string, a *vip.Agent, want model.Status) {
	t.Helper()
	st, err := monitor(t, bed, node, a)
	if st != want {
		t.Fatalf("monitor on %s = %v (%v), want %v", node, st, err, want)
	}
	if want == model.StatusFailed && err == nil {
		t.Fatalf("monitor failed without a reason")
	}
}

// vipEntries returns the `ip -j addr` entries for ip in a namespace.
func vipEntries(t *testing.T, bed *netns.Bed, node string, ip netip.Addr) []netns.AddrInfo {
	t.Helper()
	ifs, err := bed.Ifaces(node)
	if err != nil {
		t.Fatal(err)
	}
	var out []netns.AddrInfo
	for _, i := range ifs {
		for _, a := range i.AddrInfo {
			if a.Local == ip.String() {
				out = append(out, a)
			}
		}
	}
	return out
}

func TestVIP_AddRemoveIdempotentWithLabel(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}})
	v := bed.HostAddr4(50)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0", "label": "web"})

	wantStatus(t, bed, "n1", a, model.StatusStopped)
	stop(t, bed, "n1", a) // stop when absent: success
	start(t, bed, "n1", a)
	start(t, bed, "n1", a) // start twice: success, one entry
	es := vipEntries(t, bed, "n1", v.Addr())
	if len(es) != 1 || es[0].PrefixLen != 24 || es[0].Label != "eth0:web" || !es[0].Secondary {
		t.Fatalf("vip entries after two starts: %+v; want one secondary /24 labelled eth0:web", es)
	}
	out := bed.MustExec("n1", "ip", "-4", "addr", "show", "dev", "eth0")
	if !strings.Contains(out, v.String()) || !strings.Contains(out, "eth0:web") {
		t.Fatalf("ip -4 addr show lacks the labelled vip:\n%s", out)
	}
	wantStatus(t, bed, "n1", a, model.StatusRunning)
	// The client side answers on the VIP.
	if _, err := bed.Exec("n1", "ping", "-c1", "-W1", v.Addr().String()); err != nil {
		t.Fatal(err)
	}
	stop(t, bed, "n1", a)
	stop(t, bed, "n1", a) // stop twice
	if es := vipEntries(t, bed, "n1", v.Addr()); len(es) != 0 {
		t.Fatalf("vip still present after stop: %+v", es)
	}
	wantStatus(t, bed, "n1", a, model.StatusStopped)
	// The node's own address is untouched.
	if ok, _ := bed.HasAddr("n1", bed.Addr4("n1").Addr()); !ok {
		t.Fatal("stop removed the node's own address")
	}
}

func TestVIP_StartRepairsWrongPrefixAndLabel(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}})
	v := bed.HostAddr4(51)
	bed.MustExec("n1", "ip", "addr", "add", v.Addr().String()+"/32", "dev", "eth0", "label", "eth0:old")
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "label": "new"}) // no nic: found by subnet... or by holder
	start(t, bed, "n1", a)
	es := vipEntries(t, bed, "n1", v.Addr())
	if len(es) != 1 || es[0].PrefixLen != 24 || es[0].Label != "eth0:new" {
		t.Fatalf("entries %+v; want the one /24 labelled eth0:new", es)
	}
}

func TestVIP_DefaultNIC(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}})
	// Found by subnet, prefix taken from it.
	v := bed.HostAddr4(52).Addr()
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String()})
	start(t, bed, "n1", a)
	es := vipEntries(t, bed, "n1", v)
	if len(es) != 1 || es[0].PrefixLen != 24 {
		t.Fatalf("entries %+v; want one /24 found from eth0's subnet", es)
	}
	wantStatus(t, bed, "n1", a, model.StatusRunning)
	stop(t, bed, "n1", a)

	// No interface in the subnet.
	far := newAgent(t, bed, "n1", map[string]any{"ip": "172.31.250.9/24"})
	err := bed.Do("n1", func() error { return far.Start(ctx(t)) })
	if err == nil || !strings.Contains(err.Error(), "set nic") {
		t.Fatalf("start outside every subnet: %v; want an error asking for nic", err)
	}
	// Two interfaces in the subnet: ambiguous.
	bed.MustExec("n1", "ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1")
	bed.MustExec("n1", "ip", "addr", "add", bed.HostAddr4(200).String(), "dev", "dum0")
	err = bed.Do("n1", func() error { return a.Start(ctx(t)) })
	if err == nil || !strings.Contains(err.Error(), "several interfaces") {
		t.Fatalf("start with two candidate interfaces: %v; want ambiguity error", err)
	}
}

func TestVIP_SecondarySurvivesPrimaryRemoval(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}})
	v := bed.HostAddr4(53)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0"})
	if out := bed.MustExec("n1", "cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"); strings.TrimSpace(out) != "0" {
		t.Logf("promote_secondaries was %q before start", strings.TrimSpace(out))
	}
	start(t, bed, "n1", a)
	if out := bed.MustExec("n1", "cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"); strings.TrimSpace(out) != "1" {
		t.Fatalf("promote_secondaries = %q after start, want 1", strings.TrimSpace(out))
	}
	// Remove the node's primary address: the VIP (a secondary) survives,
	// promoted to primary.
	bed.MustExec("n1", "ip", "addr", "del", bed.Addr4("n1").String(), "dev", "eth0")
	es := vipEntries(t, bed, "n1", v.Addr())
	if len(es) != 1 || es[0].Secondary {
		t.Fatalf("after removing the primary, vip entries = %+v; want it present and promoted", es)
	}
	wantStatus(t, bed, "n1", a, model.StatusRunning)

	// The other way round: the VIP first, then the node's address (now a
	// secondary of the VIP); stopping the VIP must not take it away.
	bed.MustExec("n1", "ip", "addr", "add", bed.Addr4("n1").String(), "dev", "eth0")
	stop(t, bed, "n1", a)
	if ok, _ := bed.HasAddr("n1", bed.Addr4("n1").Addr()); !ok {
		t.Fatal("stopping the vip (primary) removed the node's own (secondary) address")
	}
}

func TestVIP_IPv6NoDAD(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}, IPv6: true})
	v := bed.HostAddr6(0x50)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0"})
	start(t, bed, "n1", a)
	es := vipEntries(t, bed, "n1", v.Addr())
	if len(es) != 1 || es[0].Tentative || !es[0].NoDAD || es[0].PrefixLen != 64 {
		t.Fatalf("v6 vip entries right after start: %+v; want one /64, nodad, not tentative", es)
	}
	// Routed locally as soon as Start returns (Start waits for the kernel
	// to complete the address).
	if out := bed.MustExec("n1", "ip", "-6", "route", "get", v.Addr().String()); !strings.HasPrefix(strings.TrimSpace(out), "local ") {
		t.Fatalf("right after Start, ip -6 route get %s = %q, want a local route", v.Addr(), out)
	}
	// Usable at once: bind to it.
	if _, err := bed.Exec("n1", "ping", "-c1", "-W1", "-I", v.Addr().String(), bed.Addr6("n1").Addr().String()); err != nil {
		t.Fatalf("ping from the fresh v6 vip: %v", err)
	}
	wantStatus(t, bed, "n1", a, model.StatusRunning)
	start(t, bed, "n1", a)
	if es := vipEntries(t, bed, "n1", v.Addr()); len(es) != 1 {
		t.Fatalf("second start: %+v", es)
	}
	stop(t, bed, "n1", a)
	stop(t, bed, "n1", a)
	wantStatus(t, bed, "n1", a, model.StatusStopped)
}

func TestVIP_MonitorLinkStates(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}})
	v := bed.HostAddr4(54)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0", "arp_count": 0})
	start(t, bed, "n1", a)
	wantStatus(t, bed, "n1", a, model.StatusRunning)

	if err := bed.LinkDown("n1"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, bed, "n1", a, model.StatusFailed)
	if err := bed.LinkUp("n1"); err != nil {
		t.Fatal(err)
	}
	if err := netns.Poll(5*time.Second, 20*time.Millisecond, func() error {
		if st, err := monitor(t, bed, "n1", a); st != model.StatusRunning {
			return fmt.Errorf("monitor %v (%v)", st, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("after link up: %v", err)
	}
	// Carrier loss (switch port down): still failed, with the reason.
	if err := bed.PortDown("n1"); err != nil {
		t.Fatal(err)
	}
	if err := netns.Poll(5*time.Second, 20*time.Millisecond, func() error {
		st, err := monitor(t, bed, "n1", a)
		if st != model.StatusFailed || err == nil || !strings.Contains(err.Error(), "carrier") {
			return fmt.Errorf("monitor %v (%v)", st, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("port down: %v", err)
	}
	if err := bed.PortUp("n1"); err != nil {
		t.Fatal(err)
	}
	stop(t, bed, "n1", a)
	wantStatus(t, bed, "n1", a, model.StatusStopped)
}

func TestVIP_StartFailsOnDeadLink(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}})
	v := bed.HostAddr4(55)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0"})
	for _, c := range []struct {
		name       string
		fault, fix func(string) error
		want       string
	}{
		{"link down", bed.LinkDown, bed.LinkUp, "administratively down"},
		{"no carrier", bed.PortDown, bed.PortUp, "no carrier"},
	} {
		if err := c.fault("n1"); err != nil {
			t.Fatal(err)
		}
		err := netns.Poll(5*time.Second, 20*time.Millisecond, func() error {
			err := bed.Do("n1", func() error { return a.Start(ctx(t)) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				return fmt.Errorf("start: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v; want an error saying %q", c.name, err, c.want)
		}
		if es := vipEntries(t, bed, "n1", v.Addr()); len(es) != 0 {
			t.Fatalf("%s: failed start left %+v", c.name, es)
		}
		if err := c.fix("n1"); err != nil {
			t.Fatal(err)
		}
	}
	// Healthy again: starts (the carrier may take a moment to return).
	if err := netns.Poll(5*time.Second, 20*time.Millisecond, func() error {
		return bed.Do("n1", func() error { return a.Start(ctx(t)) })
	}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, bed, "n1", a, model.StatusRunning)
}

// TestVIP_IPv6LinkDownDropsAddress documents a kernel fact: with the
// default keep_addr_on_down=0 Linux removes IPv6 addresses from a link set
// down, so a v6 VIP monitors as stopped, not failed.
func TestVIP_IPv6LinkDownDropsAddress(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}, IPv6: true})
	v := bed.HostAddr6(0x56)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0", "arp_count": 0})
	start(t, bed, "n1", a)
	if err := bed.LinkDown("n1"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, bed, "n1", a, model.StatusStopped)
	if err := bed.LinkUp("n1"); err != nil {
		t.Fatal(err)
	}
	start(t, bed, "n1", a)
	wantStatus(t, bed, "n1", a, model.StatusRunning)
}
