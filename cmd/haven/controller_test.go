package main

import (
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

// The new coordinator's extra wait for a node it never heard from: the
// contact window, plus what window + raft_leader_lease exceed
// raft_heartbeat by (the longest a deposed coordinator renews after the
// followers' last ack, minus the earliest a successor is elected).
func TestTakeover_CoversTheDeposedCoordinatorsLeaderLease(t *testing.T) {
	ms := func(n int) model.Duration { return model.Duration(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name   string
		timing model.Timing
		want   time.Duration
	}{
		{"lan", model.Timing{}, 250 * time.Millisecond},
		{"fast", model.Timing{}, 100 * time.Millisecond},
		{"wan", model.Timing{}, 500 * time.Millisecond},
		{"lan", model.Timing{RaftLeaderLease: ms(150)}, 150 * time.Millisecond},
		{"lan", model.Timing{RaftLeaderLease: ms(300)}, 300 * time.Millisecond},
	} {
		c := &model.Cluster{Cluster: model.Settings{Name: "t", Profile: tc.name, Timing: tc.timing}}
		if got := takeover(c); got != tc.want {
			t.Errorf("takeover(%s, leader lease %v) = %v; expected %v", tc.name, c.EffectiveTiming().RaftLeaderLease.D(), got, tc.want)
		}
	}
}
