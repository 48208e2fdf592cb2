// Package agenttest holds the test helpers that the tests of every agent
// package (engine/agent, engine/agent/alert, engine/agent/ping) share: an
// AgentEnv logging to the test, operation contexts, polling with a deadline,
// a free loopback port, and a network namespace pair with no route out.
// Only _test files import it.
package agenttest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

// tWriter routes slog output to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Logger logs at debug level to t.Log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Env is an AgentEnv for node1 with a fresh data directory and Logger.
func Env(t testing.TB) model.AgentEnv {
	return model.AgentEnv{Node: "node1", DataDir: t.TempDir(), Logger: Logger(t)}
}

// OpCtx is an operation's context: it ends after d or with the test.
func OpCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// NeedRoot skips (through testenv, so CI counts it) unless running as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root (mounts, namespaces, process credentials); run the tests as root")
	}
}

// FreePort returns a 127.0.0.1 port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Eventually polls cond every 20ms until it holds or d passes.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MustNew builds typ's agent for res or fails the test.
func MustNew(t testing.TB, typ model.AgentType, res model.Resource, env model.AgentEnv) model.Agent {
	t.Helper()
	a, err := typ.New(res, env)
	if err != nil {
		t.Fatalf("New(%s): %v", res.ID, err)
	}
	return a
}

// WantStatus monitors a (within 20s) and fails the test unless it answers
// want; it returns Monitor's error.
func WantStatus(t testing.TB, a model.Agent, want model.Status) error {
	t.Helper()
	st, err := a.Monitor(OpCtx(t, 20*time.Second))
	if st != want {
		t.Fatalf("Monitor = %s (err %v), want %s", st, err, want)
	}
	return err
}

// ReadEnvFile reads an `env` dump (KEY=VALUE lines) into a map.
func ReadEnvFile(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// Netns creates two network namespaces joined by a veth pair: the
// returned one has lo up and hv0 with 10.251.0.1/24; its peer (the
// returned name + "-p") has hv1 with 10.251.0.2/24. Nothing routes out of
// either; both are deleted when the test ends.
func Netns(t testing.TB) string {
	t.Helper()
	NeedRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.MissingPackage(t, "iproute2", "ip is not installed")
	}
	b := make([]byte, 4)
	rand.Read(b)
	ns, peer := "haventest-"+hex.EncodeToString(b), "haventest-"+hex.EncodeToString(b)+"-p"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	run("ip", "netns", "add", peer)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", peer).Run() })
	run("ip", "link", "add", "hv0", "netns", ns, "type", "veth", "peer", "name", "hv1", "netns", peer)
	for _, n := range []string{ns, peer} {
		run("ip", "-n", n, "link", "set", "lo", "up")
	}
	run("ip", "-n", ns, "link", "set", "hv0", "up")
	run("ip", "-n", peer, "link", "set", "hv1", "up")
	run("ip", "-n", ns, "addr", "add", "10.251.0.1/24", "dev", "hv0")
	run("ip", "-n", peer, "addr", "add", "10.251.0.2/24", "dev", "hv1")
	return ns
}
