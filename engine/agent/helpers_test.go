package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

// TestMain doubles as a helper program: with HAVEN_AGENT_TEST_HELPER set,
// the test binary plays a service instead of running tests.
func TestMain(m *testing.M) {
	switch os.Getenv("HAVEN_AGENT_TEST_HELPER") {
	case "http":
		// Listen on HELPER_ADDR after HELPER_DELAY, answer 200 on /.
		if d, err := time.ParseDuration(os.Getenv("HELPER_DELAY")); err == nil {
			time.Sleep(d)
		}
		fmt.Println("helper listening on", os.Getenv("HELPER_ADDR"))
		err := http.ListenAndServe(os.Getenv("HELPER_ADDR"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/bad" {
				http.Error(w, "unhealthy", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		}))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case "":
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv("HAVEN_AGENT_TEST_HELPER"))
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// tWriter routes slog output to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testEnv(t testing.TB) model.AgentEnv {
	return model.AgentEnv{Node: "node1", DataDir: t.TempDir(), Logger: testLogger(t)}
}

func opCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root (mounts, namespaces, process credentials); run the tests as root")
	}
}

// freePort returns a 127.0.0.1 port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustNew(t testing.TB, typ model.AgentType, res model.Resource, env model.AgentEnv) model.Agent {
	t.Helper()
	a, err := typ.New(res, env)
	if err != nil {
		t.Fatalf("New(%s): %v", res.ID, err)
	}
	return a
}

func wantStatus(t testing.TB, a model.Agent, want model.Status) error {
	t.Helper()
	st, err := a.Monitor(opCtx(t, 20*time.Second))
	if st != want {
		t.Fatalf("Monitor = %s (err %v), want %s", st, err, want)
	}
	return err
}

func pidAlive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z'
}
