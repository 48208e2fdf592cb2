package guard

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

// The test binary plays three roles, chosen by HAVEN_GUARD_TEST_ROLE: the
// tests (unset), an agent that starts a real guard through a Client and
// holds real teardowns (agent), and that guard (guard: Serve on stdin with
// the kill-group, unmount and a file-writing teardown).
const roleEnv = "HAVEN_GUARD_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "guard":
		log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "guard")
		out := Serve(os.Stdin, testKinds(), log)
		log.Info("guard exits", "bye", out.Bye, "torn_down", out.TornDown, "failed", out.Failed)
		os.Exit(0)
	case "agent":
		os.Exit(agentMain())
	}
	os.Exit(m.Run())
}

// touch is a file-based teardown: it writes args["path"] with the instant
// it ran (MonotonicNow, decimal).
func touch(_ context.Context, args map[string]string) error {
	return os.WriteFile(args["path"], []byte(strconv.FormatInt(MonotonicNow(), 10)+"\n"), 0o644)
}

func testKinds() []Kind {
	return []Kind{{KindKillGroup, KillGroup}, {"touch", touch}, {KindUnmount, Unmount}}
}

// agentMain is the agent role: it starts the guard (this binary in the
// guard role), holds a kill-group teardown for $PGID (start time
// $START_TIME) and a touch teardown for $TOUCH, prints "ready GUARDPID",
// then per $THEN: "wait" waits to be killed; "bye" says goodbye and exits;
// "teardown" asks for a teardown now, prints "asked", then waits; "arm"
// arms the guard as a live agent does its lease (every 20 ms, deadline
// 400 ms ahead, grace 50 ms), prints "armed" after the first, and goes on
// until it is stopped or killed.
func agentMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "test-agent")
	if err := os.Setenv(roleEnv, "guard"); err != nil { // the guard inherits it
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := New(Config{Path: "/proc/self/exe", Args: []string{os.Args[0], "-test.run=^$"}, Stderr: os.Stderr, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-done:
		fmt.Fprintln(os.Stderr, "guard did not start:", err)
		return 1
	}
	pgid, _ := strconv.Atoi(os.Getenv("PGID"))
	st, _ := strconv.ParseUint(os.Getenv("START_TIME"), 10, 64)
	kind, args := KillGroupTeardown(pgid, st)
	c.Hold("exec test", model.Teardown{Kind: kind, Args: args})
	c.Hold("touch test", model.Teardown{Kind: "touch", Args: map[string]string{"path": os.Getenv("TOUCH")}})
	c.Hold("released", model.Teardown{Kind: "touch", Args: map[string]string{"path": os.Getenv("TOUCH") + ".released"}})
	c.Release("released")
	fmt.Printf("ready %d\n", c.PID())
	switch os.Getenv("THEN") {
	case "bye":
		c.Bye()
		cancel()
		<-done
		fmt.Println("bye")
		return 0
	case "teardown":
		c.TeardownAll("test asks")
		fmt.Println("asked")
	case "arm":
		c.Arm(time.Now().Add(400*time.Millisecond), 50*time.Millisecond)
		fmt.Println("armed")
		for end := time.Now().Add(5 * time.Minute); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			c.Arm(time.Now().Add(400*time.Millisecond), 50*time.Millisecond)
		}
	case "restart":
		old := c.PID()
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if p := c.PID(); p != 0 && p != old {
				fmt.Printf("restarted %d\n", p)
				break
			}
		}
	}
	time.Sleep(5 * time.Minute) // killed by the test
	return 0
}

// group is a real process group (sh and a background sleep) the test
// owns; it is killed at cleanup.
type group struct {
	pgid  int
	start uint64
	cmd   *exec.Cmd
}

func startGroup(t *testing.T) *group {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "sleep 300 & exec sleep 300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &group{pgid: cmd.Process.Pid, cmd: cmd}
	go func() { _ = cmd.Wait() }() // reap the leader
	t.Cleanup(func() { _ = syscall.Kill(-g.pgid, syscall.SIGKILL) })
	waitFor(t, "the group's two processes", func() bool { return len(members(g.pgid)) == 2 })
	st, ok := startTime(g.pgid)
	if !ok {
		t.Fatalf("no start time for %d", g.pgid)
	}
	g.start = st
	return g
}

// members lists the live processes of group pgid.
func members(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := statFields(pid)
		if ok && len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			out = append(out, pid)
		}
	}
	return out
}

func processGone(pid int) bool {
	f, ok := statFields(pid)
	return !ok || f[0] == "Z" || f[0] == "X"
}

// waitFor polls cond every 10 ms for up to 30 s (generous: a loaded
// machine), failing the test with what on timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agent is a running test agent process.
type agent struct {
	cmd      *exec.Cmd
	guardPID int
	lines    *bufio.Scanner
	logPath  string // the agent's stderr, which the guard shares
}

func startAgent(t *testing.T, g *group, touchPath, then string) *agent {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=agent", "PGID="+strconv.Itoa(g.pgid),
		"START_TIME="+strconv.FormatUint(g.start, 10), "TOUCH="+touchPath, "THEN="+then)
	// The agent's stderr goes to a file (as in production, a file or the
	// journal): the guard inherits it and writes after the agent died.
	errf, err := os.Create(filepath.Join(t.TempDir(), "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = errf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errf.Close()
	a := &agent{cmd: cmd, lines: bufio.NewScanner(out), logPath: errf.Name()}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if a.guardPID > 0 && !processGone(a.guardPID) {
			_ = syscall.Kill(a.guardPID, syscall.SIGKILL)
		}
		if t.Failed() {
			b, _ := os.ReadFile(errf.Name())
			t.Logf("agent and guard log:\n%s", b)
		}
	})
	line := a.next(t)
	if _, err := fmt.Sscanf(line, "ready %d", &a.guardPID); err != nil || a.guardPID <= 0 {
		t.Fatalf("agent said %q; expected ready GUARDPID", line)
	}
	return a
}

func (a *agent) next(t *testing.T) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		if a.lines.Scan() {
			ch <- a.lines.Text()
		}
		close(ch)
	}()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("the agent ended its output early")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("no line from the agent in 30s")
	}
	return ""
}

// An agent process holding a real process group and a file teardown is
// SIGKILLed: its guard kills the group, writes the file (not the released
// one) and exits.
func TestGuard_AgentKilledTearsDownEverythingHeld(t *testing.T) {
	g := startGroup(t)
	touchPath := filepath.Join(t.TempDir(), "touched")
	a := startAgent(t, g, touchPath, "wait")
	if len(members(g.pgid)) != 2 {
		t.Fatalf("the group %d lost a process before the kill: %v", g.pgid, members(g.pgid))
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	killed := time.Now()
	waitFor(t, "the group killed by the guard", func() bool { return len(members(g.pgid)) == 0 })
	t.Logf("group gone %v after the agent's SIGKILL (a figure, not a check)", time.Since(killed).Round(time.Millisecond))
	waitFor(t, "the touch teardown's file", func() bool { _, err := os.Stat(touchPath); return err == nil })
	waitFor(t, "the guard's exit", func() bool { return processGone(a.guardPID) })
	if _, err := os.Stat(touchPath + ".released"); err == nil {
		t.Errorf("the released teardown ran")
	}
}

// An agent that says bye and exits: its guard exits and does nothing.
func TestGuard_ByeTearsDownNothing(t *testing.T) {
	g := startGroup(t)
	touchPath := filepath.Join(t.TempDir(), "touched")
	a := startAgent(t, g, touchPath, "bye")
	if l := a.next(t); l != "bye" {
		t.Fatalf("agent said %q; expected bye", l)
	}
	waitFor(t, "the guard's exit", func() bool { return processGone(a.guardPID) })
	_ = a.cmd.Wait()
	// Give a wrong teardown every chance to show.
	time.Sleep(200 * time.Millisecond)
	if m := members(g.pgid); len(m) != 2 {
		t.Errorf("the group has %v after bye; expected its two processes untouched", m)
	}
	if _, err := os.Stat(touchPath); err == nil {
		t.Errorf("the touch teardown ran after bye")
	}
}

// TeardownAll (the overdue stop) tears everything down while the agent
// lives; a later kill of the agent has nothing left to do.
func TestGuard_TeardownNowWhileTheAgentLives(t *testing.T) {
	g := startGroup(t)
	touchPath := filepath.Join(t.TempDir(), "touched")
	a := startAgent(t, g, touchPath, "teardown")
	if l := a.next(t); l != "asked" {
		t.Fatalf("agent said %q; expected asked", l)
	}
	waitFor(t, "the group killed on request", func() bool { return len(members(g.pgid)) == 0 })
	waitFor(t, "the touch teardown's file", func() bool { _, err := os.Stat(touchPath); return err == nil })
	if processGone(a.guardPID) {
		t.Fatalf("the guard exited after a teardown request; expected it to keep serving")
	}
	if processGone(a.cmd.Process.Pid) {
		t.Fatalf("the agent is gone")
	}
	_ = os.Remove(touchPath)
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	waitFor(t, "the guard's exit", func() bool { return processGone(a.guardPID) })
	if _, err := os.Stat(touchPath); err == nil {
		t.Errorf("a teardown ran twice (the file was written again after the agent's kill)")
	}
}

// The guard is SIGKILLed: the agent restarts it with everything held, and
// the new guard tears down when the agent is then SIGKILLed.
func TestGuard_KilledGuardIsRestartedWithWhatIsHeld(t *testing.T) {
	g := startGroup(t)
	touchPath := filepath.Join(t.TempDir(), "touched")
	a := startAgent(t, g, touchPath, "restart")
	first := a.guardPID
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	line := a.next(t)
	if _, err := fmt.Sscanf(line, "restarted %d", &a.guardPID); err != nil {
		t.Fatalf("agent said %q; expected restarted GUARDPID", line)
	}
	if len(members(g.pgid)) != 2 {
		t.Fatalf("the group was torn down when the guard (not the agent) died")
	}
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	waitFor(t, "the group killed by the restarted guard", func() bool { return len(members(g.pgid)) == 0 })
	waitFor(t, "the touch teardown's file", func() bool { _, err := os.Stat(touchPath); return err == nil })
	waitFor(t, "the restarted guard's exit", func() bool { return processGone(a.guardPID) })
}

// Serve in process: holds, a release, an unknown kind and an unreadable
// line; at end of file the held teardowns run, the released one not.
func TestGuard_ServeEndOfFile(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	in := strings.Join([]string{
		`{"op":"hold","key":"a","kind":"touch","args":{"path":"` + p("a") + `"}}`,
		`{"op":"hold","key":"b","kind":"touch","args":{"path":"` + p("b") + `"}}`,
		`not json`,
		`{"op":"hold","key":"c","kind":"nope"}`,
		`{"op":"release","key":"b"}`,
		"",
	}, "\n")
	out := Serve(strings.NewReader(in), testKinds(), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if out.Bye || out.TornDown != 1 || len(out.Failed) != 1 || !strings.Contains(out.Failed[0], "no handler") {
		t.Errorf("outcome %+v; expected one teardown and c failed for want of a handler", out)
	}
	if _, err := os.Stat(p("a")); err != nil {
		t.Errorf("a was not torn down: %v", err)
	}
	if _, err := os.Stat(p("b")); err == nil {
		t.Errorf("b was released but torn down")
	}
}

// Serve in process: "bye" ends without tearing anything down.
func TestGuard_ServeBye(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a")
	in := `{"op":"hold","key":"a","kind":"touch","args":{"path":"` + path + `"}}` + "\n" + `{"op":"bye"}` + "\n"
	out := Serve(strings.NewReader(in), testKinds(), nil)
	if !out.Bye || out.TornDown != 0 {
		t.Errorf("outcome %+v; expected bye and nothing torn down", out)
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("torn down after bye")
	}
}

// KillGroup skips a group whose leader's pid now belongs to another
// process (another start time), and succeeds on a group that is gone.
func TestGuard_KillGroupChecksTheLeadersStartTime(t *testing.T) {
	g := startGroup(t)
	err := KillGroup(context.Background(), map[string]string{"pgid": strconv.Itoa(g.pgid), "start_time": strconv.FormatUint(g.start+1, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(members(g.pgid)) != 2 {
		t.Fatalf("a group with another leader start time was killed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kind, args := KillGroupTeardown(g.pgid, g.start)
	if kind != KindKillGroup {
		t.Fatalf("kind %q", kind)
	}
	if err := KillGroup(ctx, args); err != nil {
		t.Fatal(err)
	}
	if m := members(g.pgid); len(m) != 0 {
		t.Fatalf("group still has %v", m)
	}
	if err := KillGroup(ctx, args); err != nil {
		t.Errorf("killing a gone group: %v; expected success", err)
	}
}

// Unmount removes a real tmpfs mount (root only) and accepts a directory
// that is not a mount point.
func TestGuard_Unmount(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs here as root: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	// A busy mount: a file open on it.
	f, err := os.Create(filepath.Join(dir, "busy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Unmount(ctx, map[string]string{"directory": dir}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), " "+dir+" ") {
		t.Errorf("%s is still mounted", dir)
	}
	if err := Unmount(ctx, map[string]string{"directory": dir}); err != nil {
		t.Errorf("unmounting a directory that is not a mount point: %v; expected success", err)
	}
	if err := Unmount(ctx, map[string]string{"directory": "relative"}); err == nil {
		t.Errorf("a relative directory was accepted")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
