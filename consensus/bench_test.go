package consensus

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
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
func newTCPBench(b *testing.B, profile string, names ...string) *tcluster {
	c := newTCPCluster(b, &syncBuffer{}, func(m *model.Cluster) { m.Cluster.Profile = profile }, names...)
	c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c.tune = func(cfg *Config) { cfg.NoSync = false }
	return c
}

// failoverTrials measures, over real TLS on loopback with fsync, the time from
// stopping the leader (raft shutdown, like a crash: no leadership transfer)
// until a survivor has committed a command.
func failoverTrials(b *testing.B, profile string, trials int) []time.Duration {
	c := newTCPBench(b, profile, "a", "b", "c")
	c.startAll()
	var out []time.Duration
	for i := 0; i < trials; i++ {
		leader := c.leader()
		r := c.mustApply(leader, attr(b, "a", "trial", fmt.Sprint(i)))
		c.converged(r.Index)
		var survivor string
		for _, n := range []string{"a", "b", "c"} {
			if n != leader {
				survivor = n
				break
			}
		}
		start := time.Now()
		c.stop(leader)
		c.mustApply(survivor, attr(b, "a", "after", fmt.Sprint(i)))
		out = append(out, time.Since(start))
		c.start(leader)
	}
	return out
}

func benchFailover(b *testing.B, profile string) {
	const trials = 12
	var all []time.Duration
	for i := 0; i < b.N; i++ {
		all = append(all, failoverTrials(b, profile, trials)...)
	}
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < ops; j++ {
			start := time.Now()
			c.mustApply(from, attr(b, "a", "j", fmt.Sprint(j)))
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

func BenchmarkApplyLatency_Leader(b *testing.B)    { benchApply(b, false) }
func BenchmarkApplyLatency_Forwarded(b *testing.B) { benchApply(b, true) }
