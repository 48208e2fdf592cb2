package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/test/netns"
)

// The agent holding the VIP is frozen (SIGSTOP: a stalled process, its
// pipe to the guard still open): its guard, armed with the lease deadline
// on every extension, kills the web server and deletes the VIP once that
// deadline (+ grace) passes — before any other node holds the VIP (no
// sampled instant shows two holders) — and the page is then served by
// another node. After SIGCONT the node rejoins and one node holds the VIP.
// The test touches nothing of the frozen node but its agent's process.
func TestFailover_AgentFrozen_IPv4(t *testing.T) {
	r := newRig(t, false)
	// HAVEN_E2E_KEEP_LOGS=DIR keeps the agents' whole logs of a passing
	// run too (newRig keeps those of a failing one).
	if dir := os.Getenv("HAVEN_E2E_KEEP_LOGS"); dir != "" {
		t.Cleanup(func() {
			if !t.Failed() {
				for _, n := range r.Bed.Nodes() {
					_ = os.WriteFile(filepath.Join(dir, t.Name()+"-"+n+".log"), []byte(r.C.Node(n).Log()), 0o644)
				}
			}
		})
	}
	w := r.Bed.WatchHolders(r.VIP.Addr(), 2*time.Millisecond)
	r.StartAll()
	old, err := r.WaitServing(converge)
	if err != nil {
		t.Fatalf("initial service: %v", err)
	}
	t.Logf("VIP %s and the web server on %s", r.VIP, old)
	probe := r.Bed.ProbeTCP(netns.ClientName, r.VIPPort(), netns.ProbeOptions{Interval: 50 * time.Millisecond, Timeout: time.Second, Exchange: Exchange})
	defer probe.Stop()
	waitNeigh(t, r, old)
	servers := r.ServerPIDs(old)
	if len(servers) != 1 {
		t.Fatalf("web servers on %s: %v; expected one", old, servers)
	}
	err = netns.Poll(converge, 50*time.Millisecond, func() error {
		if !strings.Contains(r.C.Node(old).Log(), "guard: armed") {
			return errors.New("its log has no \"guard: armed\" line yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s's guard: %v", old, err)
	}

	r.mu.Lock()
	p := r.procs[old]
	r.mu.Unlock()
	pid := p.PID() // ip netns exec and sh exec the agent: its pid
	// Nothing may stay frozen, whatever happens below.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	released, err := r.WaitReleased(old, converge)
	if err != nil {
		t.Fatalf("after SIGSTOP of %s's agent, its guard did not release the VIP and the web server: %v", old, err)
	}
	t.Logf("SIGSTOPped %s's agent; its VIP and web server were seen gone %v later (its guard's doing, at the lease deadline + grace; a figure, not a check)",
		old, released.Sub(fault).Round(time.Millisecond))
	if p.Exited() {
		t.Fatalf("%s's agent exited; expected it frozen", old)
	}
	// The server's end: the earlier of the poll and the guard's own log
	// of the kill (not delayed by the test's polling).
	killed := released
	if k, ok := guardKilledAt(r.C.Node(old).Log(), servers[0]); ok && k.Before(killed) {
		killed = k
	}
	cur, err := r.WaitServing(converge)
	if err != nil {
		t.Fatalf("after the freeze: %v", err)
	}
	if cur == old {
		t.Fatalf("the page is served by %s, whose agent is frozen", old)
	}
	waitNeigh(t, r, cur)
	// The client's loop (every 50 ms) reaches cur.
	var first netns.ProbeResult
	err = netns.Poll(converge, 50*time.Millisecond, func() error {
		var ok bool
		if first, ok = probe.FirstSuccessAfter(fault, func(reply string) bool { return reply == cur }); !ok {
			return fmt.Errorf("the client's loop has not reached %s after the freeze; %s (prober error: %v)", cur, summarize(probe.Results()), probe.Err())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("served by %s; first page from it %v after the SIGSTOP (a figure, not a check)", cur, first.End.Sub(fault).Round(time.Millisecond))
	log := r.C.Node(old).Log()
	if m := watchdogLine.FindStringSubmatch(log); m == nil {
		t.Errorf("%s's log has no WATCHDOG: line of its guard", old)
	} else if dl, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
		late, _ := time.ParseDuration(m[2])
		var taken time.Time
		for _, c := range w.Changes() {
			if c.Time.After(fault) && slices.Contains(c.Holders, cur) {
				taken = c.Time
				break
			}
		}
		t.Logf("%s's lease deadline %v after the SIGSTOP; its guard acted %v after it (grace included), the VIP and server were seen gone %v after it, %s held the VIP %v after it (figures, not checks)",
			old, dl.Sub(fault).Round(time.Millisecond), late.Round(time.Millisecond), released.Sub(dl).Round(time.Millisecond),
			cur, taken.Sub(dl).Round(time.Millisecond))
	}

	// SIGCONT: the node finds its lease lapsed and its resources gone,
	// rejoins, and one node serves.
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, n := range r.Bed.Nodes() {
		if err := r.WaitMembers(n, len(r.Bed.Nodes()), converge); err != nil {
			t.Fatalf("after SIGCONT: %v", err)
		}
	}
	// The resumed agent answers and its own view shows ip and web started
	// together on one node (any: the resumed node's reports may move them
	// back); then one node serves.
	err = netns.Poll(converge, 100*time.Millisecond, func() error {
		s, err := r.Status(old)
		if err != nil {
			return err
		}
		on := map[string]bool{}
		for _, rv := range s.Resources {
			if rv.State != "started" || len(rv.Nodes) != 1 {
				return fmt.Errorf("%s's status: %s %s on %v", old, rv.ID, rv.State, rv.Nodes)
			}
			on[rv.Nodes[0]] = true
		}
		if len(on) != 1 {
			return fmt.Errorf("%s's status: ip and web on %v", old, on)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after SIGCONT: %v", err)
	}
	final, err := r.WaitServing(converge)
	if err != nil {
		t.Fatalf("after SIGCONT: %v", err)
	}
	t.Logf("after SIGCONT: served by %s", final)
	probe.Stop()
	checkOneOwner(t, w)
	// Another node took the VIP only after the frozen node's guard had
	// deleted it.
	for _, c := range w.Changes() {
		if c.Time.After(fault) && c.Time.Before(released) && slices.ContainsFunc(c.Holders, func(h string) bool { return h != old }) {
			t.Errorf("%v held the VIP at %s, before %s's guard released it (%s)", c.Holders,
				c.Time.Format("15:04:05.000"), old, released.Format("15:04:05.000"))
		}
	}
	checkNeverTwice(t, r, map[string]time.Time{old: killed})
}

// watchdogLine matches the guard's WATCHDOG: line (text log format): the
// lease deadline it acted on and how late it acted.
var watchdogLine = regexp.MustCompile(`WATCHDOG: the agent's lease deadline passed.* deadline=(\S+) late=(\S+)`)

// guardKilledAt returns when the guard logged the kill of process group
// pgid (its "torn down" line, written once no member is left; the log's
// millisecond is rounded up), or false.
func guardKilledAt(log string, pgid int) (time.Time, bool) {
	re := regexp.MustCompile(`(?m)^time=(\S+) level=\S+ msg="guard: torn down" .*kind=kill-group .*pgid:` + strconv.Itoa(pgid) + `\b`)
	m := re.FindStringSubmatch(log)
	if m == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return time.Time{}, false
	}
	return at.Add(time.Millisecond), true
}
