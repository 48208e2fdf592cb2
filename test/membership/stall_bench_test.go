package membership

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/test/harness"
)

// BenchmarkStallTolerance pauses one agent with SIGSTOP for a range of
// durations (then SIGCONT) and counts, per duration, how often the others
// suspected it or declared it dead: the longest stall (GC pause, VM
// freeze, swap storm) a profile rides through. Not a timed test:
//
//	go test -run XXX -bench BenchmarkStallTolerance -benchtime 1x ./test/membership
//
// HAVEN_BENCH_PROFILES (default "lan,fast"), HAVEN_BENCH_TRIALS (default 5).
func BenchmarkStallTolerance(b *testing.B) {
	trials := envInt("HAVEN_BENCH_TRIALS", 5)
	stalls := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond,
		700 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	var report []string
	for i := 0; i < b.N; i++ {
		for _, p := range strings.Split(envStr("HAVEN_BENCH_PROFILES", "lan,fast"), ",") {
			c := harness.New(b, harness.Spec{Profile: p, Nodes: []harness.NodeSpec{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}})
			c.StartAll()
			waitAll(c, 3)
			victim := c.Node("n2")
			for _, d := range stalls {
				suspected, dead := 0, 0
				for t := 0; t < trials; t++ {
					t0 := time.Now()
					victim.Signal(syscall.SIGSTOP)
					time.Sleep(d) // the stall being measured
					victim.Signal(syscall.SIGCONT)
					waitAll(c, 3) // back to three (it refutes or rejoins)
					time.Sleep(300 * time.Millisecond)
					s, x := 0, 0
					for _, n := range []string{"n1", "n3"} {
						s += len(logEvents(c.Node(n).LogPath, t0, "Suspect n2 has failed"))
						x += len(logEvents(c.Node(n).LogPath, t0, `msg="node dead"`, "node=n2 "))
					}
					if s > 0 {
						suspected++
					}
					if x > 0 {
						dead++
					}
				}
				line := fmt.Sprintf("profile=%-4s stall=%-6v trials=%d suspected_in=%d declared_dead_in=%d", p, d, trials, suspected, dead)
				report = append(report, line)
				fmt.Fprintln(os.Stdout, line)
			}
			c.KillAll()
		}
	}
	fmt.Println("\nsummary:")
	for _, r := range report {
		fmt.Println(r)
	}
}
