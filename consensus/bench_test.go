package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

// Benchmarks report figures; nothing here asserts timings (the machine is shared).
//
//	go test -run '^$' -bench 'Failover|ApplyLatency' -benchtime 1x ./consensus/

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

// newTCPBench is a TLS-over-loopback cluster with fsync on and logs discarded.
// applyRetry applies an idempotent command, retrying when a loaded machine
// made the leader step down mid-commit; it counts those retries.
func applyRetry(b *testing.B, c *tcluster, from string, cmd state.Command, retries *int) {
	for attempt := 0; attempt < 20; attempt++ {
		if _, err := c.apply(from, cmd, waitFor); err == nil {
			return
		} else if !errors.Is(err, ErrUnknownOutcome) && !errors.Is(err, ErrNoLeader) {
			b.Fatal(err)
		}
		*retries++
	}
	b.Fatal("apply kept failing")
}

func newTCPBench(b *testing.B, profile string, names ...string) *tcluster {
	c := newTCPCluster(b, &syncBuffer{}, func(m *model.Cluster) { m.Cluster.Profile = profile }, names...)
	c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c.tune = func(cfg *Config) { cfg.NoSync = false }
	return c
}

// failoverTrials measures, over real TLS on loopback with fsync, the time from
// stopping the leader (raft shutdown, like a crash: no leadership transfer)
// until a survivor has committed a command.
func failoverTrials(b *testing.B, profile string, trials int, retries *int) []time.Duration {
	c := newTCPBench(b, profile, "a", "b", "c")
	c.startAll()
	var out []time.Duration
	for i := 0; i < trials; i++ {
		leader := c.leader()
		applyRetry(b, c, leader, attr(b, "a", "trial", fmt.Sprint(i)), retries)
		c.converged(c.nodes[leader].state.Index())
		var survivor string
		for _, n := range []string{"a", "b", "c"} {
			if n != leader {
				survivor = n
				break
			}
		}
		start := time.Now()
		c.stop(leader)
		applyRetry(b, c, survivor, attr(b, "a", "after", fmt.Sprint(i)), retries)
		out = append(out, time.Since(start))
		c.start(leader)
	}
	return out
}

func benchFailover(b *testing.B, profile string) {
	const trials = 12
	var all []time.Duration
	retries := 0
	for i := 0; i < b.N; i++ {
		all = append(all, failoverTrials(b, profile, trials, &retries)...)
	}
	b.ReportMetric(float64(retries), "retries")
	b.ReportMetric(float64(percentile(all, 0.5).Milliseconds()), "median-ms")
	b.ReportMetric(float64(percentile(all, 0.95).Milliseconds()), "p95-ms")
	b.ReportMetric(float64(len(all)), "trials")
	b.Logf("%s failover trials (ms): %v", profile, all)
}

func BenchmarkFailover_LAN(b *testing.B)  { benchFailover(b, model.ProfileLAN) }
func BenchmarkFailover_Fast(b *testing.B) { benchFailover(b, model.ProfileFast) }

func benchApply(b *testing.B, forwarded bool) {
	c := newTCPBench(b, model.ProfileLAN, "a", "b", "c")
	c.startAll()
	leader := c.leader()
	from := leader
	if forwarded {
		for _, n := range []string{"a", "b", "c"} {
			if n != leader {
				from = n
				break
			}
		}
	}
	const ops = 300
	lat := make([]time.Duration, 0, ops*b.N)
	retries := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < ops; j++ {
			start := time.Now()
			applyRetry(b, c, from, attr(b, "a", "j", fmt.Sprint(j)), &retries)
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(retries), "retries")
}

func BenchmarkApplyLatency_Leader(b *testing.B)    { benchApply(b, false) }
func BenchmarkApplyLatency_Forwarded(b *testing.B) { benchApply(b, true) }

// BenchmarkFailover_PlannedLAN measures a planned stop: the leader transfers
// leadership first, then stops; the time runs until a survivor committed.
func BenchmarkFailover_PlannedLAN(b *testing.B) {
	const trials = 12
	var all []time.Duration
	retries := 0
	for i := 0; i < b.N; i++ {
		c := newTCPBench(b, model.ProfileLAN, "a", "b", "c")
		c.startAll()
		for j := 0; j < trials; j++ {
			leader := c.leader()
			applyRetry(b, c, leader, attr(b, "a", "trial", fmt.Sprint(j)), &retries)
			c.converged(c.nodes[leader].state.Index())
			var survivor string
			for _, n := range []string{"a", "b", "c"} {
				if n != leader {
					survivor = n
					break
				}
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			if err := c.nodes[leader].node.TransferLeadership(ctx); err != nil {
				b.Logf("transfer: %v", err)
			}
			cancel()
			c.stop(leader)
			applyRetry(b, c, survivor, attr(b, "a", "after", fmt.Sprint(j)), &retries)
			all = append(all, time.Since(start))
			c.start(leader)
		}
	}
	b.ReportMetric(float64(percentile(all, 0.5).Milliseconds()), "median-ms")
	b.ReportMetric(float64(percentile(all, 0.95).Milliseconds()), "p95-ms")
	b.ReportMetric(float64(retries), "retries")
	b.ReportMetric(float64(len(all)), "trials")
}
