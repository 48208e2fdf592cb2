package vip_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/netns"
	"github.com/havenha/haven/vip"
)

const helperEnv = "HAVEN_VIP_HELPER_PARAMS"

// TestHelperVIPProcess is not a test: TestVIP_ProcessMode runs the test
// binary as a child inside a node namespace (the whole process there, as the
// agent runs in production) with this test selected. It starts the VIP,
// prints "started", and on SIGTERM stops it and prints "stopped".
func TestHelperVIPProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		testenv.Skip(t, testenv.Helper, "helper process for TestVIP_ProcessMode")
	}
	var params map[string]any
	if err := json.Unmarshal([]byte(raw), &params); err != nil {
		t.Fatal(err)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	ag, err := vip.Type{}.New(model.Resource{ID: "vip", Type: vip.TypeName, Params: params},
		model.AgentEnv{Node: "helper", Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	err = ag.Start(ctx)
	cancel() // as a reconciler would: the burst must outlive the op context
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("started")
	select {
	case <-term:
	case <-time.After(60 * time.Second):
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ag.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("stopped")
}

// TestVIP_ProcessMode moves a VIP between two agent processes that each run
// wholly inside their node's namespace.
func TestVIP_ProcessMode(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1", "n2"}, Client: true})
	v := bed.HostAddr4(64)
	params, _ := json.Marshal(map[string]any{"ip": v.String(), "nic": "eth0"})
	env := []string{helperEnv + "=" + string(params)}
	argv := []string{os.Args[0], "-test.run=^TestHelperVIPProcess$", "-test.v", "-test.count=1"}
	waitOutput := func(p *netns.Proc, s string) {
		t.Helper()
		if err := netns.Poll(20*time.Second, 10*time.Millisecond, func() error {
			if !strings.Contains(p.Output(), s) {
				return fmt.Errorf("helper in %s has not printed %q:\n%s", p.NS, s, p.Output())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	p1 := bed.StartEnv("n1", env, argv...)
	waitOutput(p1, "started")
	if _, err := bed.Exec(netns.ClientName, "ping", "-c1", "-W1", v.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := neighIs(bed, v.Addr(), bed.MAC("n1")); err != nil {
		t.Fatal(err)
	}
	capt := bed.Capture(netns.ClientName, netns.Dev, netns.IsARP)
	if err := p1.Term(); err != nil {
		t.Fatal(err)
	}
	waitOutput(p1, "stopped")
	if hs := holders(t, bed, v.Addr()); len(hs) != 0 {
		t.Fatalf("after stop on n1 the vip is on %v", hs)
	}
	p2 := bed.StartEnv("n2", env, argv...)
	waitOutput(p2, "started")
	if err := netns.Poll(2*time.Second, 5*time.Millisecond, func() error { return neighIs(bed, v.Addr(), bed.MAC("n2")) }); err != nil {
		t.Fatal(err)
	}
	fs := waitAnnouncements(t, capt, v.Addr(), vip.DefaultArpCount, 3*time.Second, 300*time.Millisecond)
	if len(fs) != vip.DefaultArpCount {
		t.Fatalf("captured %d announcements from the n2 process, want %d", len(fs), vip.DefaultArpCount)
	}
	checkARPBurst(t, fs, v.Addr(), bed.MAC("n2"))
	if err := p2.Term(); err != nil {
		t.Fatal(err)
	}
	waitOutput(p2, "stopped")
	if err := p2.Wait(10 * time.Second); err != nil {
		t.Fatalf("helper on n2: %v\n%s", err, p2.Output())
	}
}
