package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/netns"
)

// converge bounds every wait: generous, the machine is shared and loaded.
// Nothing here asserts how fast anything happens.
const converge = 90 * time.Second

var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "haven-e2e-websrv-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin, err = BuildServer(dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newRig(t *testing.T, v6 bool) *Rig {
	t.Helper()
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "end-to-end namespace test")
	}
	r := New(t, Options{IPv6: v6, ServerBin: serverBin, Profile: os.Getenv("HAVEN_TEST_PROFILE")})
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range r.Bed.Nodes() {
				t.Logf("--- %s's log (tail):\n%s", n, r.LogTail(n, 40))
			}
			t.Logf("server intervals: %+v", r.Intervals())
			// HAVEN_E2E_KEEP_LOGS=DIR keeps the agents' whole logs.
			if dir := os.Getenv("HAVEN_E2E_KEEP_LOGS"); dir != "" {
				for _, n := range r.Bed.Nodes() {
					_ = os.WriteFile(filepath.Join(dir, t.Name()+"-"+n+".log"), []byte(r.C.Node(n).Log()), 0o644)
				}
			}
		}
	})
	return r
}

// checkOneOwner fails the test when the watch saw two nodes hold the VIP
// at one sampled instant (or could not sample).
func checkOneOwner(t *testing.T, w *netns.HolderWatch) {
	t.Helper()
	w.Stop()
	if err := w.Err(); err != nil {
		t.Errorf("sampling the VIP's holders: %v", err)
	}
	if w.Samples() == 0 {
		t.Fatalf("no sample of the VIP's holders was taken")
	}
	if v := w.Violations(); len(v) > 0 {
		t.Errorf("two owners of the VIP at %d sampled instants; first: %v %v", len(v), v[0].Time.Format(time.RFC3339Nano), v[0].Holders)
	}
	var ch []string
	for _, c := range w.Changes() {
		ch = append(ch, fmt.Sprintf("%s %v", c.Time.Format("15:04:05.000"), c.Holders))
	}
	t.Logf("VIP holders over %d samples: %v", w.Samples(), ch)
}

// waitNeigh waits until the client's neighbour entry for the VIP holds mac.
func waitNeigh(t *testing.T, r *Rig, node string) {
	t.Helper()
	want := r.Bed.MAC(node)
	err := netns.Poll(converge, 50*time.Millisecond, func() error {
		got, err := r.Bed.NeighMAC(netns.ClientName, r.VIP.Addr())
		if err != nil {
			return err
		}
		if got.String() != want.String() {
			return fmt.Errorf("client's neighbour entry for %s holds %v; %s's MAC is %v", r.VIP.Addr(), got, node, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The agent holding the VIP is SIGKILLed: its guard (engine/guard) kills
// its web server and deletes the VIP from its namespace, before another
// node takes the VIP; the page is then served by another node, the
// client's neighbour entry for the VIP holds that node's MAC, and no
// sampled instant shows two nodes holding the VIP. The test touches
// nothing of the dead node but its agent's process.
func TestFailover_AgentKilled_IPv4(t *testing.T) { agentKilled(t, false) }

// The same with an IPv6 VIP (unsolicited neighbour advertisements).
func TestFailover_AgentKilled_IPv6(t *testing.T) { agentKilled(t, true) }

func agentKilled(t *testing.T, v6 bool) {
	r := newRig(t, v6)
	w := r.Bed.WatchHolders(r.VIP.Addr(), 2*time.Millisecond)
	r.StartAll()
	old, err := r.WaitServing(converge)
	if err != nil {
		t.Fatalf("initial service: %v", err)
	}
	t.Logf("VIP %s and the web server on %s", r.VIP, old)
	// The client fetches the page through the VIP in a loop (every 50 ms,
	// until the end of the test).
	probe := r.Bed.ProbeTCP(netns.ClientName, r.VIPPort(), netns.ProbeOptions{Interval: 50 * time.Millisecond, Timeout: time.Second, Exchange: Exchange})
	defer probe.Stop()
	waitNeigh(t, r, old)

	fault := time.Now()
	r.Kill(old)
	released, err := r.WaitReleased(old, converge)
	if err != nil {
		t.Fatalf("after SIGKILL of %s's agent, its guard did not release the VIP and the web server: %v", old, err)
	}
	t.Logf("SIGKILLed %s's agent; its VIP and web server were gone %v later (its guard's doing; a figure, not a check)",
		old, released.Sub(fault).Round(time.Millisecond))
	cur, err := r.WaitServing(converge)
	if err != nil {
		t.Fatalf("after the kill: %v", err)
	}
	if cur == old {
		t.Fatalf("the page is still served by %s, whose agent is dead", old)
	}
	waitNeigh(t, r, cur)
	// The loop's own attempts: wait until one reached the new node (one
	// started before it served may still be in flight; stopping the loop
	// at once would cut the first that can succeed).
	var first netns.ProbeResult
	ok := netns.Poll(converge, 20*time.Millisecond, func() error {
		var found bool
		if first, found = probe.FirstSuccessAfter(fault, func(reply string) bool { return reply == cur }); !found {
			return fmt.Errorf("no page from %s yet", cur)
		}
		return nil
	}) == nil
	probe.Stop()
	if !ok {
		t.Fatalf("the client's loop never reached %s after the kill; %s (prober error: %v)", cur, summarize(probe.Results()), probe.Err())
	}
	t.Logf("served by %s; first page from it %v after the kill (a figure, not a check)", cur, first.End.Sub(fault).Round(time.Millisecond))
	for _, res := range probe.Results() {
		if res.Err == nil && res.Start.After(first.End) && res.Reply != cur {
			t.Errorf("a page served by %q after %s took over", res.Reply, cur)
			break
		}
	}
	checkOneOwner(t, w)
	// Another node took the VIP only after the dead node's guard had
	// deleted it.
	for _, c := range w.Changes() {
		if c.Time.Before(released) && slices.ContainsFunc(c.Holders, func(h string) bool { return h != old }) {
			t.Errorf("%v held the VIP at %s, before %s's guard released it (%s)", c.Holders,
				c.Time.Format("15:04:05.000"), old, released.Format("15:04:05.000"))
		}
	}
	// The web server ran on one node at a time, by its own stamps (the
	// dead node's server has no stop stamp: SIGKILLed by its guard, gone
	// by the time WaitReleased saw it gone).
	checkNeverTwice(t, r, map[string]time.Time{old: released})
}

// checkNeverTwice fails when two web servers' lives overlap. killedAt gives
// the end of a server killed without a stop stamp, by node.
func checkNeverTwice(t *testing.T, r *Rig, killedAt map[string]time.Time) {
	t.Helper()
	ivs := r.Intervals()
	for _, o := range overlaps(ivs, killedAt) {
		t.Errorf("web servers on %s (pid %d, from %s) and %s (pid %d, from %s) ran at the same time",
			o[0].Node, o[0].PID, o[0].Start.Format("15:04:05.000"), o[1].Node, o[1].PID, o[1].Start.Format("15:04:05.000"))
	}
	var desc []string
	for _, iv := range ivs {
		desc = append(desc, fmt.Sprintf("%s[%s–%s]", iv.Node, iv.Start.Format("15:04:05.000"), iv.Stop.Format("15:04:05.000")))
	}
	t.Logf("web server lives: %v", desc)
}

// overlaps returns the pairs of server lives that overlap. A life without
// a stop stamp ends at killedAt[node] when its process is gone and was
// killed then, else it counts as still running.
func overlaps(ivs []Interval, killedAt map[string]time.Time) [][2]Interval {
	end := func(iv Interval) time.Time {
		if !iv.Stop.IsZero() {
			return iv.Stop
		}
		if !alive(iv.PID) {
			if k, ok := killedAt[iv.Node]; ok && k.After(iv.Start) {
				return k
			}
		}
		return time.Now().Add(time.Hour)
	}
	var out [][2]Interval
	for i, a := range ivs {
		for _, b := range ivs[i+1:] {
			if a.Start.Before(end(b)) && b.Start.Before(end(a)) {
				out = append(out, [2]Interval{a, b})
			}
		}
	}
	return out
}

// summarize counts a prober's results by reply or error, for messages.
func summarize(rs []netns.ProbeResult) string {
	n := map[string]int{}
	for _, r := range rs {
		k := "ok " + r.Reply
		if r.Err != nil {
			k = r.Err.Error()
		}
		n[k]++
	}
	return fmt.Sprintf("%d attempts: %v", len(rs), n)
}
