package membership

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/harness"
)

// BenchmarkDetection measures failure detection with real agents: SIGKILL
// one node, then read every survivor's log for the time it logged the node
// dead; the detection time of a trial is the latest survivor's. It prints
// min/median/p95/max per profile and cluster size, then repeats with a CPU
// hog on one survivor (two busy loops and that agent pinned to CPU 0 with
// taskset) and counts false suspicions (a live node suspected or declared
// dead) during a quiet period. Not a timed test: run it on purpose,
//
//	go test -run XXX -bench BenchmarkDetection -benchtime 1x -timeout 30m ./test/membership
//
// Environment: HAVEN_BENCH_TRIALS (default 10), HAVEN_BENCH_PROFILES
// (default "lan,fast"), HAVEN_BENCH_SIZES (default "3,5"), HAVEN_BENCH_QUIET
// (quiet period under the hog, default 20s), HAVEN_BENCH_HOGS (busy loops
// sharing CPU 0 with the hogged agent, default 2), HAVEN_BENCH_TIMING (raw YAML
// for cluster.timing, to try values, e.g. "{probe_timeout: 150ms}").
// Results: docs/bench/membership.md.
func BenchmarkDetection(b *testing.B) {
	trials := envInt("HAVEN_BENCH_TRIALS", 10)
	profiles := strings.Split(envStr("HAVEN_BENCH_PROFILES", "lan,fast"), ",")
	var sizes []int
	for _, s := range strings.Split(envStr("HAVEN_BENCH_SIZES", "3,5"), ",") {
		n, _ := strconv.Atoi(s)
		sizes = append(sizes, n)
	}
	quiet, _ := time.ParseDuration(envStr("HAVEN_BENCH_QUIET", "20s"))
	timing := os.Getenv("HAVEN_BENCH_TIMING")
	var report []string
	for i := 0; i < b.N; i++ {
		for _, p := range profiles {
			for _, n := range sizes {
				for _, hog := range []bool{false, true} {
					res := detectionRun(b, p, n, trials, hog, quiet, timing)
					report = append(report, res)
					fmt.Println(res)
				}
			}
		}
	}
	fmt.Println("\nsummary:")
	for _, r := range report {
		fmt.Println(r)
	}
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

var logTime = regexp.MustCompile(`^time=(\S+) `)

// logEvents returns the times of log lines matching all of subs, at or after since.
func logEvents(path string, since time.Time, subs ...string) []time.Time {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		ok := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		m := logTime.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, m[1])
		if err == nil && !t.Before(since) {
			out = append(out, t)
		}
	}
	return out
}

func waitAll(c *harness.Cluster, votes int) {
	for _, n := range c.Nodes {
		n.WaitQuorum(fmt.Sprintf("%d votes", votes), 60*time.Second, func(q api.QuorumView) bool { return q.TotalVotes == votes })
	}
}

func detectionRun(b *testing.B, profile string, size, trials int, hog bool, quiet time.Duration, timing string) string {
	names := []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7"}[:size]
	var specs []harness.NodeSpec
	for _, n := range names {
		specs = append(specs, harness.NodeSpec{Name: n})
	}
	extra := ""
	if timing != "" {
		extra = "  timing: " + timing
	}
	c := harness.New(b, harness.Spec{Profile: profile, Nodes: specs, ClusterExtra: extra})
	c.StartAll()
	waitAll(c, size)
	label := fmt.Sprintf("profile=%s nodes=%d hog=%v", profile, size, hog)
	if hog {
		label = fmt.Sprintf("profile=%s nodes=%d hogs=%d", profile, size, envInt("HAVEN_BENCH_HOGS", 2))
	}
	if timing != "" {
		label += " timing=" + timing
	}
	// The hogged survivor is n1; victims rotate over the others.
	falseSusp, falseDead := 0, 0
	if hog {
		stop := startHog(b, c.Node("n1").PID())
		defer stop()
		// Quiet period: nobody is killed; any suspicion is false.
		start := time.Now()
		time.Sleep(quiet) // the measurement window itself, not a wait for a result
		for _, n := range c.Nodes {
			falseSusp += len(logEvents(n.LogPath, start, "has failed, no acks received"))
			falseDead += len(logEvents(n.LogPath, start, `msg="node dead"`))
		}
	}
	var samples []time.Duration
	failed := 0
	for t := 0; t < trials; t++ {
		victim := c.Node(names[1+t%(size-1)])
		t0 := time.Now()
		victim.Kill()
		deadline := time.Now().Add(60 * time.Second)
		var worst time.Duration
		for _, s := range c.Nodes {
			if s == victim {
				continue
			}
			for {
				ev := logEvents(s.LogPath, t0, `msg="node dead"`, "node="+victim.Name+" ")
				if len(ev) > 0 {
					worst = max(worst, ev[0].Sub(t0))
					break
				}
				if time.Now().After(deadline) {
					failed++
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		samples = append(samples, worst)
		victim.Start()
		waitAll(c, size)
	}
	c.KillAll()
	slices.Sort(samples)
	pick := func(q float64) time.Duration {
		if len(samples) == 0 {
			return 0
		}
		i := int(q*float64(len(samples))+0.999999) - 1
		return samples[max(0, min(i, len(samples)-1))]
	}
	res := fmt.Sprintf("%-32s trials=%d min=%v median=%v p95=%v max=%v undetected=%d",
		label, len(samples), pick(0).Round(time.Millisecond), pick(0.5).Round(time.Millisecond),
		pick(0.95).Round(time.Millisecond), pick(1).Round(time.Millisecond), failed)
	if hog {
		res += fmt.Sprintf(" quiet=%v false_suspicions=%d false_deaths=%d", quiet, falseSusp, falseDead)
	}
	b.ReportMetric(float64(pick(0.5).Milliseconds()), strings.NewReplacer(" ", "_", "=", "-").Replace(label)+"_median_ms")
	return res
}

// startHog pins the agent pid to CPU 0 and starts busy loops there (two,
// or HAVEN_BENCH_HOGS)
// (each bounded by timeout 600 s); stop kills them by PID.
func startHog(b *testing.B, pid int) func() {
	if _, err := exec.LookPath("taskset"); err != nil {
		testenv.MissingPackage(b, "util-linux", "taskset is not installed")
	}
	if out, err := exec.Command("taskset", "-a", "-p", "-c", "0", strconv.Itoa(pid)).CombinedOutput(); err != nil {
		b.Fatalf("taskset the agent: %v %s", err, out)
	}
	var hogs []*exec.Cmd
	for i := 0; i < envInt("HAVEN_BENCH_HOGS", 2); i++ {
		cmd := exec.Command("taskset", "-c", "0", "timeout", "600", "sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			b.Fatalf("start hog: %v", err)
		}
		hogs = append(hogs, cmd)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for _, h := range hogs {
			// The hog's own process group (taskset -> timeout -> sh), by id.
			_ = syscall.Kill(-h.Process.Pid, syscall.SIGKILL)
			_ = h.Wait()
		}
	}
	b.Cleanup(stop)
	return stop
}
