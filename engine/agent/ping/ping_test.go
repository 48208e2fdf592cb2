package ping

import (
	"context"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

// attrLog records SetAttribute calls.
type attrLog struct {
	mu  sync.Mutex
	set []attrSet
}

type attrSet struct {
	name, value string
	at          time.Time
}

func (l *attrLog) record(name, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set = append(l.set, attrSet{name, value, time.Now()})
}

func (l *attrLog) snapshot() []attrSet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]attrSet(nil), l.set...)
}

func (l *attrLog) last() (attrSet, bool) {
	s := l.snapshot()
	if len(s) == 0 {
		return attrSet{}, false
	}
	return s[len(s)-1], true
}

func (l *attrLog) waitValue(t *testing.T, d time.Duration, v string) attrSet {
	t.Helper()
	var got attrSet
	agenttest.Eventually(t, d, "attribute value "+v, func() bool {
		s, ok := l.last()
		got = s
		return ok && s.value == v
	})
	return got
}

func pingEnv(t *testing.T, l *attrLog) model.AgentEnv {
	env := agenttest.Env(t)
	env.SetAttribute = l.record
	return env
}

func TestPing_TCPReachabilityAndDampen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed := agenttest.FreePort(t) // nothing listens there
	var l attrLog
	a := agenttest.MustNew(t, Type{}, model.Resource{ID: "ping1", Params: map[string]any{
		"host_list": []any{ln.Addr().String(), closed}, "method": "tcp", "multiplier": 1000,
		"interval": "100ms", "dampen": "500ms", "timeout": "300ms", "attempts": 1,
	}}, pingEnv(t, &l))
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s, ok := l.last(); !ok || s.name != "pingd" || s.value != "1000" {
		t.Fatalf("after start: %+v, want pingd=1000 set at once", s)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("second start: %v", err)
	}
	lost := time.Now()
	ln.Close()
	s := l.waitValue(t, 10*time.Second, "0")
	if d := s.at.Sub(lost); d < 500*time.Millisecond {
		t.Errorf("new value written %s after the host went away, before dampen (500ms)", d)
	}
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.last(); s.value != "" {
		t.Fatalf("after stop the attribute is %q, want deleted (empty)", s.value)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestPing_FlapShorterThanDampenIsNotWritten(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	var l attrLog
	typ := Type{}
	ag := agenttest.MustNew(t, typ, model.Resource{ID: "p", Params: map[string]any{
		"host_list": "a b", "multiplier": 5, "attribute": "net", "interval": "100ms", "dampen": "2s",
	}}, pingEnv(t, &l))
	pa := ag.(*pingAgent)
	pa.probe = func(_ context.Context, h string) bool { return h == "a" || up.Load() }
	if err := pa.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	defer pa.Stop(agenttest.OpCtx(t, 5*time.Second))
	l.waitValue(t, 5*time.Second, "10")
	up.Store(false)
	time.Sleep(400 * time.Millisecond) // several rounds see 5, within the dampen delay
	up.Store(true)
	time.Sleep(2500 * time.Millisecond) // the dampen timer fires with the value back at 10
	for _, s := range l.snapshot() {
		if s.name != "net" || s.value != "10" {
			t.Fatalf("writes %+v: a flap shorter than dampen must not be written", l.snapshot())
		}
	}
}

func TestPing_Validate(t *testing.T) {
	for _, c := range []struct {
		params  map[string]any
		wantKey string
	}{
		{map[string]any{"host_list": "192.168.33.31", "dampen": "5s", "multiplier": 1000}, ""},
		{map[string]any{"host_list": []any{"a", "b"}, "method": "icmp"}, ""},
		{map[string]any{}, "host_list"},
		{map[string]any{"host_list": "a:80", "method": "tcp"}, ""},
		{map[string]any{"host_list": "a", "method": "tcp"}, "host_list"},
		{map[string]any{"host_list": "a", "method": "udp"}, "method"},
		{map[string]any{"host_list": "-f", "method": "icmp"}, "host_list"},
		{map[string]any{"host_list": "a", "multiplier": -1}, "multiplier"},
		{map[string]any{"host_list": "a", "interval": "10ms"}, "interval"},
	} {
		ps := Type{}.Validate(c.params)
		if c.wantKey == "" && len(ps) > 0 || c.wantKey != "" && (len(ps) == 0 || ps[0].Key != c.wantKey) {
			t.Errorf("%v: problems %v, want key %q", c.params, ps, c.wantKey)
		}
	}
}

// TestPing_ICMPInNamespace runs TestPingICMPHelper inside a test network
// namespace (pings never leave it): 10.251.0.2 is the veth peer,
// 10.251.0.99 nobody.
func TestPing_ICMPInNamespace(t *testing.T) {
	if _, err := exec.LookPath("ping"); err != nil {
		testenv.MissingPackage(t, "iputils-ping", "ping is not installed")
	}
	ns := agenttest.Netns(t)
	exe, _ := os.Executable()
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run", "^TestPingICMPHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "HAVEN_PING_HELPER_PEER="+ns+"-p")
	out, err := cmd.CombinedOutput()
	t.Logf("helper in %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("helper failed: %v", err)
	}
}

func TestPingICMPHelper(t *testing.T) {
	peer := os.Getenv("HAVEN_PING_HELPER_PEER")
	if peer == "" {
		testenv.Skip(t, testenv.Helper, "runs only inside TestPing_ICMPInNamespace's namespace")
	}
	var l attrLog
	a := agenttest.MustNew(t, Type{}, model.Resource{ID: "ping", Params: map[string]any{
		"host_list": "127.0.0.1 10.251.0.2 10.251.0.99", "multiplier": 100,
		"interval": "300ms", "dampen": "200ms", "timeout": "500ms", "attempts": 1,
	}}, pingEnv(t, &l))
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.last(); s.value != "200" {
		t.Fatalf("first value %q, want 200 (127.0.0.1 and 10.251.0.2 answer, 10.251.0.99 does not)", s.value)
	}
	if out, err := exec.Command("ip", "-n", peer, "link", "set", "hv1", "down").CombinedOutput(); err != nil {
		t.Fatalf("link down: %v: %s", err, out)
	}
	l.waitValue(t, 10*time.Second, "100")
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.last(); s.value != "" {
		t.Fatalf("after stop %q, want deleted", s.value)
	}
}
