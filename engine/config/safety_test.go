package config

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// Every timing a configuration file may carry, once Parse accepts it,
// satisfies every inequality of the derived safety timings
// (model.Safety.Violations): the validation rules (Timing.Contradictions)
// imply them, so no agent runs with a takeover, a watchdog grace or a stop
// deadline that lets a resource start twice. Random explicit values over
// each profile.
func TestSafety_EveryAcceptedTimingIsSafe(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	fields := []string{"probe_interval", "probe_timeout", "gossip_interval", "raft_heartbeat", "raft_election",
		"raft_leader_lease", "lease", "no_quorum_delay"}
	profiles := []string{"lan", "fast", "wan"}
	accepted := 0
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "cluster:\n  name: c\n  key_file: k\n  profile: %s\n  timing:\n", profiles[rng.Intn(len(profiles))])
		for _, f := range fields {
			if rng.Intn(2) == 0 {
				// 1ms to 2 minutes, evenly over the orders of magnitude.
				fmt.Fprintf(&b, "    %s: %dus\n", f, int64(1000*math.Pow(10, rng.Float64()*5.1)))
			}
		}
		b.WriteString("    suspicion_mult: 3\n")
		c, err := Parse("t.yaml", []byte(b.String()+twoNodes), Options{})
		if err != nil {
			continue
		}
		accepted++
		if v := c.EffectiveTiming().Safety().Violations(); len(v) > 0 {
			t.Fatalf("accepted:\n%s\nbreaks: %s", b.String(), strings.Join(v, "; "))
		}
	}
	t.Logf("%d of 3000 random timings accepted, all safe", accepted)
	if accepted < 150 {
		t.Fatalf("only %d of 3000 random timings were accepted; the generator no longer explores", accepted)
	}
}
