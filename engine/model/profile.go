package model

import (
	"fmt"
	"time"
)

// Profiles are the named timing sets of cluster.profile. Figures behind the
// choices are in docs/benchmarks.md; membership and consensus read their
// parts from here so one table governs the whole cluster.
//
//   - lan (default): failover in about a second (the lease); gossip, which
//     failover no longer waits for, declares a dead node in 2-3 s, without
//     false suspicions when one node is loaded.
//   - fast: sub-second failover on quiet, dedicated networks.
//   - wan: memberlist's and raft's conservative defaults.
var Profiles = map[string]Timing{
	ProfileLAN: {
		ProbeInterval: ms(500), ProbeTimeout: ms(250), GossipInterval: ms(500), SuspicionMult: 2,
		RaftHeartbeat: ms(300), RaftElection: ms(300), RaftLeaderLease: ms(250),
		Lease: ms(1000), NoQuorumDelay: ms(1000),
	},
	ProfileFast: {
		ProbeInterval: ms(250), ProbeTimeout: ms(125), GossipInterval: ms(250), SuspicionMult: 2,
		RaftHeartbeat: ms(150), RaftElection: ms(150), RaftLeaderLease: ms(100),
		Lease: ms(400), NoQuorumDelay: ms(400),
	},
	ProfileWAN: {
		ProbeInterval: ms(5000), ProbeTimeout: ms(3000), GossipInterval: ms(500), SuspicionMult: 6,
		RaftHeartbeat: ms(1000), RaftElection: ms(1000), RaftLeaderLease: ms(500),
		Lease: ms(10000), NoQuorumDelay: ms(10000),
	},
}

func ms(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }

// EffectiveTiming merges the explicit cluster.timing values over the profile's.
func (c *Cluster) EffectiveTiming() Timing {
	t := Profiles[c.ProfileName()]
	e := c.Cluster.Timing
	pick := func(dst *Duration, v Duration) {
		if v != 0 {
			*dst = v
		}
	}
	pick(&t.ProbeInterval, e.ProbeInterval)
	pick(&t.ProbeTimeout, e.ProbeTimeout)
	pick(&t.GossipInterval, e.GossipInterval)
	pick(&t.RaftHeartbeat, e.RaftHeartbeat)
	pick(&t.RaftElection, e.RaftElection)
	pick(&t.RaftLeaderLease, e.RaftLeaderLease)
	pick(&t.Lease, e.Lease)
	pick(&t.NoQuorumDelay, e.NoQuorumDelay)
	if e.SuspicionMult != 0 {
		t.SuspicionMult = e.SuspicionMult
	}
	return t
}

// Contradictions lists the ways a merged timing set cannot work, each naming
// the two settings and what is expected. Empty means consistent.
func (t Timing) Contradictions() []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if t.ProbeTimeout >= t.ProbeInterval {
		bad("probe_timeout %s is not below probe_interval %s; expected probe_timeout < probe_interval", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.SuspicionMult < 1 {
		bad("suspicion_mult %d is below 1; expected 1 or more", t.SuspicionMult)
	}
	if t.RaftLeaderLease > t.RaftHeartbeat {
		bad("raft_leader_lease %s exceeds raft_heartbeat %s; expected raft_leader_lease <= raft_heartbeat", t.RaftLeaderLease, t.RaftHeartbeat)
	}
	if t.RaftElection < t.RaftHeartbeat {
		bad("raft_election %s is below raft_heartbeat %s; expected raft_election >= raft_heartbeat", t.RaftElection, t.RaftHeartbeat)
	}
	if t.Lease <= t.RaftHeartbeat {
		bad("lease %s is not above raft_heartbeat %s; expected lease > raft_heartbeat so renewals can arrive", t.Lease, t.RaftHeartbeat)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"probe_interval", t.ProbeInterval}, {"probe_timeout", t.ProbeTimeout}, {"gossip_interval", t.GossipInterval},
		{"raft_heartbeat", t.RaftHeartbeat}, {"raft_election", t.RaftElection}, {"raft_leader_lease", t.RaftLeaderLease}, {"lease", t.Lease}} {
		if d.v < ms(5) {
			bad("%s %s is below 5ms; expected at least 5ms", d.name, d.v)
		}
	}
	return out
}
