package model

import (
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// The derived safety timings of each built-in profile, and every
// inequality holding for them.
func TestSafety_Profiles(t *testing.T) {
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	want := map[string]Safety{
		ProfileLAN: {Lease: ms(1000), RaftHeartbeat: ms(300), RaftLeaderLease: ms(250),
			LeaseRound: ms(125), LeaseMargin: ms(100), RecoverBound: ms(1150), StopDeadline: ms(150), WatchdogGrace: ms(75),
			LeaderConfirmReuse: ms(62.5), ContactWindow: ms(150), Takeover: ms(250), NoQuorumDelay: ms(1000)},
		ProfileFast: {Lease: ms(400), RaftHeartbeat: ms(150), RaftLeaderLease: ms(100),
			LeaseRound: ms(50), LeaseMargin: ms(40), RecoverBound: ms(460), StopDeadline: ms(60), WatchdogGrace: ms(30),
			LeaderConfirmReuse: ms(25), ContactWindow: ms(75), Takeover: ms(100), NoQuorumDelay: ms(400)},
		ProfileWAN: {Lease: ms(10000), RaftHeartbeat: ms(1000), RaftLeaderLease: ms(500),
			LeaseRound: ms(1250), LeaseMargin: ms(1000), RecoverBound: ms(11500), StopDeadline: ms(1500), WatchdogGrace: ms(750),
			LeaderConfirmReuse: ms(625), ContactWindow: ms(500), Takeover: ms(500), NoQuorumDelay: ms(10000)},
	}
	if len(want) != len(Profiles) {
		t.Fatalf("%d profiles, %d expected here; add the new profile's figures", len(Profiles), len(want))
	}
	for name, w := range want {
		got := Profiles[name].Safety()
		if got != w {
			t.Errorf("%s: derived %+v\nexpected %+v", name, got, w)
		}
		if v := got.Violations(); len(v) > 0 {
			t.Errorf("%s breaks: %s", name, strings.Join(v, "; "))
		}
	}
}

// Every timing validation accepts (no Contradictions) satisfies every
// inequality: a random set of explicit values over each profile.
func TestSafety_RandomAcceptedTimings(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	// Between 1ms and 2 minutes, evenly over the orders of magnitude.
	dur := func() Duration {
		return Duration(time.Duration(float64(time.Millisecond) * math.Pow(10, rng.Float64()*5.1)))
	}
	names := []string{ProfileLAN, ProfileFast, ProfileWAN}
	accepted := 0
	for i := 0; i < 20000; i++ {
		c := &Cluster{Cluster: Settings{Profile: names[rng.Intn(len(names))]}}
		e := &c.Cluster.Timing
		for _, f := range []*Duration{&e.ProbeInterval, &e.ProbeTimeout, &e.GossipInterval, &e.RaftHeartbeat,
			&e.RaftElection, &e.RaftLeaderLease, &e.Lease, &e.NoQuorumDelay} {
			if rng.Intn(2) == 0 {
				*f = dur()
			}
		}
		tm := c.EffectiveTiming()
		if len(tm.Contradictions()) > 0 {
			continue
		}
		accepted++
		if v := tm.Safety().Violations(); len(v) > 0 {
			t.Fatalf("accepted timing %+v breaks: %s", tm, strings.Join(v, "; "))
		}
	}
	t.Logf("%d of 20000 random timings accepted, all safe", accepted)
	if accepted < 1000 {
		t.Fatalf("only %d of 20000 random timings were accepted; the generator no longer explores", accepted)
	}
}

// Violations names each broken inequality (the check can fail).
func TestSafety_ViolationsNameTheRule(t *testing.T) {
	good := Profiles[ProfileLAN].Safety()
	for _, tc := range []struct {
		name   string
		mutate func(*Safety)
		want   string
	}{
		{"takeover", func(s *Safety) { s.Takeover = s.ContactWindow / 2 }, "takeover"},
		{"grace", func(s *Safety) { s.WatchdogGrace = s.LeaseMargin }, "watchdog grace"},
		{"stop deadline", func(s *Safety) { s.StopDeadline = s.RecoverBound }, "stop deadline"},
		{"window", func(s *Safety) { s.ContactWindow = s.RaftHeartbeat }, "contact window"},
		{"round", func(s *Safety) { s.LeaseRound = s.Lease / 4 }, "lease round"},
		{"reuse", func(s *Safety) { s.LeaderConfirmReuse = s.Lease }, "leader confirmation"},
		{"margin", func(s *Safety) { s.LeaseMargin = time.Millisecond }, "lease margin"},
		{"bound", func(s *Safety) { s.RecoverBound = s.Lease }, "recover bound"},
		{"no quorum", func(s *Safety) { s.NoQuorumDelay = 0 }, "no-quorum delay"},
	} {
		s := good
		tc.mutate(&s)
		v := strings.Join(s.Violations(), "; ")
		if !strings.Contains(v, tc.want) {
			t.Errorf("%s broken: violations %q do not name %q", tc.name, v, tc.want)
		}
	}
}

// The margin's 20ms floor, and the default no-quorum delay.
func TestSafety_Floors(t *testing.T) {
	if m := LeaseMargin(50 * time.Millisecond); m != 20*time.Millisecond {
		t.Errorf("margin for a 50ms lease: %s; expected the 20ms floor", m)
	}
	if d := EffectiveNoQuorumDelay(0, time.Second); d != time.Second {
		t.Errorf("no-quorum delay unset: %s; expected the lease", d)
	}
	if d := EffectiveNoQuorumDelay(3*time.Second, time.Second); d != 3*time.Second {
		t.Errorf("no-quorum delay 3s: %s", d)
	}
	if g := WatchdogGrace(time.Second, 300*time.Millisecond); g != 175*time.Millisecond {
		t.Errorf("grace for a 1s lease and a 300ms margin: %s; expected 175ms", g)
	}
}

// The new coordinator's extra wait for a node it never heard from: the
// contact window, plus what window + raft_leader_lease exceed
// raft_heartbeat by (the longest a deposed coordinator renews after the
// followers' last ack, minus the earliest a successor is elected).
func TestTakeover_CoversTheDeposedCoordinatorsLeaderLease(t *testing.T) {
	for _, tc := range []struct {
		name   string
		timing Timing
		want   time.Duration
	}{
		{ProfileLAN, Timing{}, 250 * time.Millisecond},
		{ProfileFast, Timing{}, 100 * time.Millisecond},
		{ProfileWAN, Timing{}, 500 * time.Millisecond},
		{ProfileLAN, Timing{RaftLeaderLease: ms(150)}, 150 * time.Millisecond},
		{ProfileLAN, Timing{RaftLeaderLease: ms(300)}, 300 * time.Millisecond},
	} {
		c := &Cluster{Cluster: Settings{Name: "t", Profile: tc.name, Timing: tc.timing}}
		if got := c.EffectiveTiming().Takeover(); got != tc.want {
			t.Errorf("takeover(%s, leader lease %v) = %v; expected %v", tc.name, c.EffectiveTiming().RaftLeaderLease.D(), got, tc.want)
		}
	}
}
