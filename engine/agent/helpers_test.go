package agent

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
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

func pidAlive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z'
}
