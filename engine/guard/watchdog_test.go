package guard

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

// The watchdog: the guard's arm timer tears down what is held when the
// agent's lease deadline (+ grace) passes without a newer one, while the
// agent's pipe stays open (a frozen agent never closes it).

// startGuard starts a real guard process (this binary in the guard role)
// through a Client run by the test process itself, which keeps the pipe
// open for the whole test. It returns the client and the guard's log.
func startGuard(t *testing.T) (*Client, string) {
	t.Helper()
	t.Setenv(roleEnv, "guard") // the guard inherits it
	logf, err := os.Create(filepath.Join(t.TempDir(), "guard.log"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Path: "/proc/self/exe", Args: []string{os.Args[0], "-test.run=^$"}, Stderr: logf, RestartDelay: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logf, nil)).With("component", "test-client")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		pid := c.PID()
		cancel() // closes the pipe: the guard tears down what is left and exits
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Errorf("the client's Run did not return 60s after its context ended")
		}
		if pid > 0 && !processGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("guard log:\n%s", b)
		}
		logf.Close()
	})
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatalf("the guard did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the guard did not start in 30s")
	}
	return c, logf.Name()
}

// holdBoth holds a kill-group teardown for g and a touch teardown for path.
func holdBoth(c *Client, name string, g *group, path string) {
	kind, args := KillGroupTeardown(g.pgid, g.start)
	c.Hold("exec "+name, model.Teardown{Kind: kind, Args: args})
	c.Hold("touch "+name, model.Teardown{Kind: "touch", Args: map[string]string{"path": path}})
}

// stampOf reads the instant (CLOCK_MONOTONIC ns) the touch teardown wrote
// into path, once it exists.
func stampOf(t *testing.T, path string) int64 {
	t.Helper()
	var ns int64
	waitFor(t, "the touch teardown's file "+filepath.Base(path), func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		ns = v
		return err == nil
	})
	return ns
}

// A deadline in the near future: the group is killed and the file written
// at deadline + grace, not before, while the pipe stays open; the guard
// keeps serving, and a later arm with a deadline already past re-arms it
// and fires at once.
func TestWatchdog_DeadlinePassedTearsDownAtDeadlinePlusGrace(t *testing.T) {
	c, logPath := startGuard(t)
	g := startGroup(t)
	touched := filepath.Join(t.TempDir(), "touched")
	holdBoth(c, "a", g, touched)
	grace := 150 * time.Millisecond
	c.Arm(time.Now().Add(300*time.Millisecond), grace)
	dl, gr := c.Armed()
	if dl == 0 || gr != grace {
		t.Fatalf("Armed() = %d, %v; expected a deadline and grace %v", dl, gr, grace)
	}
	fire := dl + int64(grace)
	waitFor(t, "the group killed by the watchdog", func() bool { return len(members(g.pgid)) == 0 })
	at := stampOf(t, touched)
	if at < fire {
		t.Errorf("torn down %v before deadline + grace", time.Duration(fire-at))
	}
	t.Logf("torn down %v after deadline + grace (a figure, not a check)", time.Duration(at-fire).Round(time.Microsecond))
	if processGone(c.PID()) {
		t.Fatalf("the guard exited after the watchdog fired; expected it to keep serving")
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "WATCHDOG: ") {
		t.Errorf("no WATCHDOG: line in the guard's log")
	}

	// It keeps serving: a new hold, and an arm whose deadline is past
	// (but later than the one that fired: now is past it + grace).
	g2 := startGroup(t)
	touched2 := filepath.Join(t.TempDir(), "touched2")
	holdBoth(c, "b", g2, touched2)
	c.Arm(time.Now().Add(-grace/2), 0)
	waitFor(t, "the second group killed by the re-armed watchdog", func() bool { return len(members(g2.pgid)) == 0 })
	stampOf(t, touched2)
	// The first teardowns stay held (the agent, frozen, still counts them
	// held): they ran again, harmlessly.
	if again := stampOf(t, touched); again <= at {
		t.Errorf("the first touch teardown did not run again at the second firing (stamp %d, then %d)", at, again)
	}
}

// Re-arming before the deadline postpones the teardown, for as long as the
// agent keeps re-arming; once it stops, the teardown comes at the last
// deadline + grace.
func TestWatchdog_RearmPostpones(t *testing.T) {
	c, _ := startGuard(t)
	g := startGroup(t)
	touched := filepath.Join(t.TempDir(), "touched")
	holdBoth(c, "a", g, touched)
	// Deadlines 2 s ahead, re-armed every 100 ms for 4 s: far past the
	// first deadline + grace. Generous: a loaded machine may delay an arm.
	const ahead, grace = 2 * time.Second, 500 * time.Millisecond
	c.Arm(time.Now().Add(ahead), grace)
	first, _ := c.Armed()
	for end := time.Now().Add(2*ahead + time.Second/2); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		c.Arm(time.Now().Add(ahead), grace)
		if len(members(g.pgid)) != 2 {
			t.Fatalf("the group was torn down while the agent kept re-arming (%v after the first deadline + grace)",
				time.Duration(MonotonicNow()-first-int64(grace)))
		}
	}
	if now := MonotonicNow(); now < first+int64(grace) {
		t.Fatalf("the re-arming loop ended before the first deadline + grace")
	}
	last, _ := c.Armed()
	waitFor(t, "the group killed after the re-arming stopped", func() bool { return len(members(g.pgid)) == 0 })
	at := stampOf(t, touched)
	if at < last+int64(grace) {
		t.Errorf("torn down %v before the last deadline + grace", time.Duration(last+int64(grace)-at))
	}
	t.Logf("torn down %v after the last deadline + grace (a figure, not a check)", time.Duration(at-last-int64(grace)).Round(time.Microsecond))
}

// Disarm cancels: nothing is torn down well past the deadline; the guard
// still serves (a teardown request then runs).
func TestWatchdog_DisarmCancels(t *testing.T) {
	c, logPath := startGuard(t)
	g := startGroup(t)
	touched := filepath.Join(t.TempDir(), "touched")
	holdBoth(c, "a", g, touched)
	const grace = 100 * time.Millisecond
	c.Arm(time.Now().Add(300*time.Millisecond), grace)
	dl, _ := c.Armed()
	c.Disarm()
	if d, _ := c.Armed(); d != 0 {
		t.Fatalf("Armed() after Disarm = %d; expected 0", d)
	}
	// Watch until a second past deadline + grace.
	for MonotonicNow() < dl+int64(grace)+int64(time.Second) {
		if len(members(g.pgid)) != 2 {
			t.Fatalf("the group was torn down after Disarm")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(touched); err == nil {
		t.Fatalf("the touch teardown ran after Disarm")
	}
	c.TeardownAll("test asks")
	waitFor(t, "the group killed on request after the disarm", func() bool { return len(members(g.pgid)) == 0 })
	b, _ := os.ReadFile(logPath)
	if strings.Contains(string(b), "WATCHDOG") {
		t.Errorf("a WATCHDOG line after Disarm")
	}
}

// A real agent process arms its guard as it does its lease, then is
// frozen (SIGSTOP): its pipe stays open, yet the guard kills the group at
// the last deadline + grace and keeps running. After SIGCONT the agent
// goes on; killing it then ends the guard.
func TestWatchdog_FrozenAgentIsTornDown(t *testing.T) {
	g := startGroup(t)
	touchPath := filepath.Join(t.TempDir(), "touched")
	a := startAgent(t, g, touchPath, "arm")
	if l := a.next(t); l != "armed" {
		t.Fatalf("agent said %q; expected armed", l)
	}
	// The agent's Arm only queues the state for its writer: freeze it once
	// the guard has received an arm, or it may be frozen before the first
	// arm leaves (and the guard, never armed, rightly waits forever).
	waitFor(t, "the guard's first arm", func() bool {
		b, _ := os.ReadFile(a.logPath)
		return strings.Contains(string(b), "guard: armed")
	})
	pid := a.cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := MonotonicNow()
	waitFor(t, "the frozen agent's group killed by the watchdog", func() bool { return len(members(g.pgid)) == 0 })
	at := stampOf(t, touchPath)
	// The last arm was sent at most about 20 ms before the freeze, with a
	// deadline 400 ms ahead and a grace of 50 ms.
	t.Logf("torn down %v after the agent was frozen (last deadline ≈ 400 ms after its last arm, + 50 ms grace; a figure, not a check)",
		time.Duration(at-frozen).Round(time.Millisecond))
	if processGone(a.guardPID) {
		t.Fatalf("the guard exited while the agent was frozen; expected it to keep serving")
	}
	if processGone(pid) {
		t.Fatalf("the agent is gone; expected it frozen")
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	waitFor(t, "the guard's exit after the agent's kill", func() bool { return processGone(a.guardPID) })
}

// A guard that dies while armed is restarted with the arm (and the holds):
// the new guard tears down at the deadline + grace.
func TestWatchdog_RestartedGuardGetsTheArm(t *testing.T) {
	c, _ := startGuard(t)
	g := startGroup(t)
	touched := filepath.Join(t.TempDir(), "touched")
	holdBoth(c, "a", g, touched)
	const grace = 100 * time.Millisecond
	c.Arm(time.Now().Add(2*time.Second), grace)
	dl, _ := c.Armed()
	old := c.PID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the guard restarted", func() bool { p := c.PID(); return p != 0 && p != old })
	waitFor(t, "the group killed by the restarted guard's watchdog", func() bool { return len(members(g.pgid)) == 0 })
	at := stampOf(t, touched)
	if at < dl+int64(grace) {
		t.Errorf("torn down %v before deadline + grace", time.Duration(dl+int64(grace)-at))
	}
	if processGone(c.PID()) {
		t.Errorf("the restarted guard exited after the watchdog fired")
	}
}

// Serve in process: an arm without a deadline is ignored; an arm whose
// deadline is past fires; an arm with the deadline that already fired is
// stale and ignored; end of file still tears down.
func TestWatchdog_ServeStaleArmIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a")
	pr, pw := io.Pipe()
	done := make(chan Outcome, 1)
	go func() { done <- Serve(pr, testKinds(), slog.New(slog.NewTextHandler(testWriter{t}, nil))) }()
	write := func(s string) {
		t.Helper()
		if _, err := io.WriteString(pw, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"op":"hold","key":"a","kind":"touch","args":{"path":"` + path + `"}}`)
	write(`{"op":"arm","grace_ns":1}`)
	dl := strconv.FormatInt(MonotonicNow()-int64(time.Second), 10)
	write(`{"op":"arm","deadline_ns":` + dl + `}`)
	stampOf(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	write(`{"op":"arm","deadline_ns":` + dl + `}`) // stale
	pw.Close()
	var out Outcome
	select {
	case out = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return 30s after end of file")
	}
	if out.Watchdog != 1 || out.TornDown != 1 || out.Bye {
		t.Errorf("outcome %+v; expected one watchdog firing (the stale arm ignored) and one teardown at end of file", out)
	}
}

// An agent that holds nothing keeps its guard disarmed (its lease
// extensions are not sent: an idle node would wake both processes every
// lease/8 for a watchdog with nothing to tear down). The first Hold sends
// the current deadline with it, and the last Release disarms again.
func TestWatchdog_IdleAgentKeepsTheGuardDisarmed(t *testing.T) {
	c, logPath := startGuard(t)
	logHas := func(s string) bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), s)
	}
	const grace = 50 * time.Millisecond
	const armedLine, idleFired = "guard: armed:", "it holds nothing to tear down"

	// Nothing held: arms are not sent, so nothing fires past deadline + grace.
	c.Arm(time.Now().Add(200*time.Millisecond), grace)
	dl, _ := c.Armed()
	for MonotonicNow() < dl+int64(grace)+int64(500*time.Millisecond) {
		time.Sleep(20 * time.Millisecond)
	}
	if logHas(armedLine) || logHas(idleFired) {
		t.Fatalf("the guard was armed while the agent held nothing")
	}

	// The first hold carries the current deadline: the watchdog fires at it.
	c.Arm(time.Now().Add(300*time.Millisecond), grace)
	g := startGroup(t)
	touched := filepath.Join(t.TempDir(), "touched")
	holdBoth(c, "a", g, touched)
	fire, _ := c.Armed()
	waitFor(t, "the group killed by the watchdog armed with the first hold", func() bool { return len(members(g.pgid)) == 0 })
	if at := stampOf(t, touched); at < fire+int64(grace) {
		t.Errorf("torn down %v before deadline + grace", time.Duration(fire+int64(grace)-at))
	}

	// Re-armed while holding, then everything released: the last release
	// disarms, so the deadline passes without the guard noticing.
	c.Arm(time.Now().Add(300*time.Millisecond), grace)
	waitFor(t, "the guard re-armed while holding", func() bool { return strings.Count(readFile(logPath), armedLine) >= 2 })
	c.Release("exec a")
	c.Release("touch a")
	dl, _ = c.Armed()
	for MonotonicNow() < dl+int64(grace)+int64(500*time.Millisecond) {
		time.Sleep(20 * time.Millisecond)
	}
	if logHas(idleFired) {
		t.Fatalf("the guard stayed armed after the agent released everything")
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
