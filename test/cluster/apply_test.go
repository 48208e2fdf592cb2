package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api/client"
	"github.com/havenha/haven/engine/config"
)

// outcome of one apply in a stream.
type outcome int

const (
	committed   outcome = iota // the agent answered success
	notCommited                // refused before submission or rejected: must be absent
	unknown                    // submitted, result unknown: present at most once
)

func classify(err error) outcome {
	if err == nil {
		return committed
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		if ce.Status == 503 && strings.Contains(ce.Message, "outcome is unknown") {
			return unknown
		}
		if ce.Status == 503 && strings.Contains(ce.Message, "no raft leader") || ce.Status == 409 {
			return notCommited
		}
	}
	// A transport error: the agent may have died after receiving the request.
	return unknown
}

// TestApply_KillLeaderDuringStream: a stream of `config apply` (each adds a
// resource xN to the committed file) across all nodes while the leader is
// SIGKILLed and later restarted. Afterwards every node holds the same
// committed file, which is also on disk in every node's own file; every
// apply that returned success is in it; none was applied twice
// (config_version = 1 (seed) + successes + unknown outcomes that landed);
// applies refused before submission are absent.
func TestApply_KillLeaderDuringStream(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.StartAll()
	leader, _ := c.WaitConverged(1, converge)

	// Two appliers run at once (so some applies also lose to each other with
	// a 409) while the main goroutine kills and restarts the leader.
	type attempt struct {
		id string
		o  outcome
	}
	var mu sync.Mutex
	var attempts []attempt
	successes := 0
	versions := map[uint64]string{}
	stop := make(chan struct{})
	var inflight atomic.Int32 // applies sent and not answered
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("x%d%03d", w, i)
				run := c.Running()
				if len(run) == 0 {
					continue
				}
				n := run[(i+w)%len(run)]
				cur, err := n.Config()
				if err == nil && (cur.Stale || cur.Version == 0) {
					err = fmt.Errorf("copy not confirmed current (version %d)", cur.Version)
				}
				if err != nil {
					time.Sleep(100 * time.Millisecond) // nothing sent
					continue
				}
				inflight.Add(1)
				res, err := apply(n, withResource(cur.YAML, id), cur.Version)
				inflight.Add(-1)
				o := classify(err)
				mu.Lock()
				attempts = append(attempts, attempt{id, o})
				if err == nil {
					successes++
					if !res.Applied || res.Version != cur.Version+1 {
						t.Errorf("apply %s on %s: %+v, want applied as version %d", id, n.Name, res, cur.Version+1)
					}
					if prev, dup := versions[res.Version]; dup {
						t.Errorf("version %d reported committed for %s and %s", res.Version, prev, id)
					}
					versions[res.Version] = id
				} else if o != notCommited {
					t.Logf("apply %s on %s: %v", id, n.Name, err)
				}
				mu.Unlock()
			}
		}()
	}
	waitSuccesses := func(n int) {
		t.Helper()
		deadline := time.Now().Add(converge)
		for time.Now().Before(deadline) {
			mu.Lock()
			s := successes
			mu.Unlock()
			if s >= n {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		t.Fatalf("fewer than %d applies succeeded within %s", n, converge)
	}
	waitSuccesses(8)
	// Freeze the leader first (SIGSTOP), so that applies are caught in
	// flight, forwarded to it or sent to it directly; then SIGKILL it.
	c.Node(leader).Signal(syscall.SIGSTOP)
	for deadline := time.Now().Add(5 * time.Second); inflight.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("SIGKILL the frozen leader %s with %d applies in flight", leader, inflight.Load())
	c.Node(leader).Kill()
	waitSuccesses(20)
	t.Logf("restart %s", leader)
	c.Node(leader).Start()
	waitSuccesses(32)
	close(stop)
	wg.Wait()

	final := committedEverywhere(t, c, 1)
	c.WaitConverged(final.Version, converge)
	cl, err := config.Parse("final", []byte(final.YAML), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	succeeded, landedUnknown, unknowns, refused := 0, 0, 0, 0
	for _, a := range attempts {
		_, present := cl.Resource(a.id)
		switch a.o {
		case committed:
			succeeded++
			if !present {
				t.Errorf("apply %s returned success but is not in the committed configuration", a.id)
			}
		case notCommited:
			refused++
			if present {
				t.Errorf("apply %s was refused but is in the committed configuration", a.id)
			}
		case unknown:
			unknowns++
			if present {
				landedUnknown++
			}
		}
	}
	if want := uint64(1 + succeeded + landedUnknown); final.Version != want {
		t.Errorf("config_version %d, want %d = 1 seed + %d successes + %d unknown outcomes that landed (an apply counted twice?)",
			final.Version, want, succeeded, landedUnknown)
	}
	t.Logf("%d applies: %d succeeded, %d refused (409 or no leader), %d unknown outcomes of which %d landed; final version %d on every node and file",
		len(attempts), succeeded, refused, unknowns, landedUnknown, final.Version)
}

// TestApply_ConcurrentStaleBaseRefused: two applies with the same base sent
// at once to different nodes: exactly one commits, the other gets 409 with
// both versions and changes nothing. Then the CLI with a stale --base fails
// with a clear message.
func TestApply_ConcurrentStaleBaseRefused(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.StartAll()
	c.WaitConverged(1, converge)
	cur, err := c.Node("a").Config()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = apply(c.Node(name), withResource(cur.YAML, "x"+name), cur.Version)
		}()
	}
	wg.Wait()
	ok, conflicts := 0, 0
	for _, err := range errs {
		var ce *client.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ce) && ce.Status == 409 && ce.BaseVersion != nil && *ce.BaseVersion == cur.Version &&
			ce.CurrentVersion != nil && *ce.CurrentVersion == cur.Version+1 && strings.Contains(ce.Message, "another change was committed first"):
			conflicts++
		default:
			t.Errorf("concurrent apply: %v", err)
		}
	}
	if ok != 1 || conflicts != 1 {
		t.Fatalf("%d succeeded and %d conflicted, want 1 and 1", ok, conflicts)
	}
	final := committedEverywhere(t, c, cur.Version+1)
	if final.Version != cur.Version+1 {
		t.Fatalf("version %d, want %d", final.Version, cur.Version+1)
	}

	// The CLI with a stale base.
	file := filepath.Join(t.TempDir(), "next.yaml")
	if err := os.WriteFile(file, []byte(withResource(final.YAML, "xcli")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := c.CLI("config", "apply", file, "--base", fmt.Sprint(cur.Version), "--socket", c.Node("a").Socket)
	if err == nil || !strings.Contains(stderr, fmt.Sprintf("changed since version %d (now version %d)", cur.Version, final.Version)) {
		t.Fatalf("stale CLI apply: err %v stderr %q, want a refusal naming both versions", err, stderr)
	}
	// Without --base it reads the current version and commits.
	out, stderr, err := c.CLI("config", "apply", file, "-c", c.ConfigPath, "--node", "b")
	if err != nil || !strings.Contains(out, "+ resource xcli") || !strings.Contains(out, fmt.Sprintf("committed configuration version %d", final.Version+1)) {
		t.Fatalf("CLI apply: %v\n%s%s", err, out, stderr)
	}
	committedEverywhere(t, c, final.Version+1)
}

// TestApply_DiffAndDryRunChangeNothing: `config diff` and `config apply
// --dry-run` print the diff and leave the version alone; an invalid file
// is refused with its position.
func TestApply_DiffAndDryRunChangeNothing(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.StartAll()
	c.WaitConverged(1, converge)
	cur, _ := c.Node("a").Config()
	next := strings.Replace(withResource(cur.YAML, "x1"), `command: [/bin/sleep, "1000"]`, `command: [/bin/sleep, "2000"]`, 1)
	file := filepath.Join(t.TempDir(), "next.yaml")
	if err := os.WriteFile(file, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "diff", file}, {"config", "apply", "--dry-run", file}} {
		out, stderr, err := c.CLI(append(args, "--socket", c.Node("b").Socket)...)
		if err != nil || !strings.Contains(out, "+ resource x1") || !strings.Contains(out, "~ resource r0") ||
			!strings.Contains(out, `params.command: ["/bin/sleep","1000"] -> ["/bin/sleep","2000"]`) ||
			!strings.Contains(out, "placement changes:\n  x1: stopped -> ") {
			t.Errorf("%v: %v\n%s%s", args, err, out, stderr)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte(strings.Replace(next, "type: exec", "typo: exec", 1)), 0o600)
	if _, stderr, err := c.CLI("config", "apply", bad, "--socket", c.Node("b").Socket); err == nil || !strings.Contains(stderr, "bad.yaml:") {
		t.Errorf("invalid file: %v %q, want a refusal naming the file and position", err, stderr)
	}
	if v, _ := c.Node("c").Config(); v.Version != cur.Version {
		t.Fatalf("version moved from %d to %d after diff/dry-run/invalid apply", cur.Version, v.Version)
	}
}

// TestApply_AddressChangeRefusedWithSteps: changing a node's address (or
// port) live is refused with the steps to do it instead; nothing changes.
func TestApply_AddressChangeRefusedWithSteps(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.StartAll()
	c.WaitConverged(1, converge)
	cur, _ := c.Node("a").Config()
	oldAddr := c.Node("c").Addresses[0]
	moved := strings.Replace(cur.YAML, "addresses: ["+oldAddr+"]", "addresses: [127.0.0.99]", 1)
	if moved == cur.YAML {
		t.Fatalf("address %s not found in\n%s", oldAddr, cur.YAML)
	}
	file := filepath.Join(t.TempDir(), "moved.yaml")
	_ = os.WriteFile(file, []byte(moved), 0o600)
	_, stderr, err := c.CLI("config", "apply", file, "--socket", c.Node("a").Socket)
	if err == nil || !strings.Contains(stderr, "cannot change live") || !strings.Contains(stderr, "remove the node") || !strings.Contains(stderr, "nothing changed") {
		t.Fatalf("address change: err %v stderr %q, want a refusal with the steps", err, stderr)
	}
	portMoved := strings.Replace(cur.YAML, fmt.Sprintf("api_port: %d", c.Node("b").API), "api_port: 1", 1)
	_ = os.WriteFile(file, []byte(portMoved), 0o600)
	if _, stderr, err := c.CLI("config", "apply", file, "--socket", c.Node("a").Socket); err == nil || !strings.Contains(stderr, "node b's addresses or ports change") {
		t.Fatalf("port change: err %v stderr %q", err, stderr)
	}
	keyMoved := strings.Replace(cur.YAML, "key_file: authkey", "key_file: otherkey", 1)
	_ = os.WriteFile(file, []byte(keyMoved), 0o600)
	if _, stderr, err := c.CLI("config", "apply", file, "--socket", c.Node("a").Socket); err == nil || !strings.Contains(stderr, "cluster key cannot change live") {
		t.Fatalf("key change: err %v stderr %q", err, stderr)
	}
	if v, _ := c.Node("b").Config(); v.Version != cur.Version {
		t.Fatalf("version moved from %d to %d after refused applies", cur.Version, v.Version)
	}
}
