package consensus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// heartbeatTimeout is raft r's current (reloadable) heartbeat timeout.
func heartbeatTimeout(n *Node) time.Duration {
	r := n.raft()
	if r == nil {
		return 0
	}
	return r.ReloadableConfig().HeartbeatTimeout
}

// A pulsed leader (QuietHeartbeats + VerifyLeader every half leader lease)
// sends far fewer heartbeats than raft's own pace, keeps its leadership and
// its term, and gets the configured timing back when the pulses end.
func TestQuietHeartbeats_PulsesPaceTheLeader(t *testing.T) {
	c := newCluster(t, nil, "n1", "n2", "n3")
	c.startAll()
	leader := c.leader()
	ln := c.nodes[leader].node
	c.mustApply(leader, attr(t, "n1", "k", "v0"))
	tm := c.model.EffectiveTiming()
	hb, ll := tm.RaftHeartbeat.D(), tm.RaftLeaderLease.D()

	// Refusals change nothing.
	if err := ln.QuietHeartbeats(context.Background(), ll); err == nil {
		t.Fatalf("QuietHeartbeats with a pulse of a whole leader lease (%v) was accepted; expected a refusal", ll)
	}
	for name, tn := range c.nodes {
		if name != leader {
			if err := tn.node.QuietHeartbeats(context.Background(), ll/2); !errors.Is(err, raft.ErrNotLeader) {
				t.Fatalf("QuietHeartbeats on follower %s = %v; expected ErrNotLeader", name, err)
			}
		}
	}
	if got := heartbeatTimeout(ln); got != hb {
		t.Fatalf("heartbeat timeout after refusals = %v; expected the configured %v", got, hb)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	every := ll / 2
	if err := ln.QuietHeartbeats(ctx, every); err != nil {
		t.Fatal(err)
	}
	if got := heartbeatTimeout(ln); got != quietFactor*hb {
		t.Fatalf("heartbeat timeout while quiet = %v; expected %v", got, quietFactor*hb)
	}
	pulses := make(chan struct{})
	var npulse atomic.Uint64
	go func() {
		defer close(pulses)
		for ctx.Err() == nil {
			_ = ln.VerifyLeader(ctx)
			npulse.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}()

	term := ln.CurrentTerm()
	real0, _ := ln.HeartbeatCounts()
	p0 := npulse.Load()
	const window = 3 * time.Second
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for name, tn := range c.nodes {
			if got := tn.node.CurrentTerm(); got != term {
				t.Fatalf("%s moved to term %d (from %d) while the leader was pulsed", name, got, term)
			}
		}
		if !ln.IsLeader() {
			t.Fatalf("%s lost its leadership while pulsed every %v", leader, every)
		}
	}
	real1, _ := ln.HeartbeatCounts()
	sent, pulsed := real1-real0, npulse.Load()-p0
	// Pulses send one heartbeat per follower each. raft's own timer, at a
	// quiet leader's pace, restarts at every pulse and never fires while
	// they come; at its configured pace it would send at least one per
	// follower every heartbeat/5. A few more for slack.
	most := 2*(pulsed+1) + 8
	own := 2 * uint64(window/(hb/5))
	t.Logf("in %v a pulsed leader sent %d heartbeats to 2 followers for %d pulses; raft's own pace sends at least %d more (figures)", window, sent, pulsed, own)
	if sent == 0 || sent > most {
		t.Errorf("a pulsed leader sent %d heartbeats in %v for %d pulses; expected some, and at most %d (one per follower and pulse)", sent, window, pulsed, most)
	}
	res := c.mustApply(leader, attr(t, "n2", "k", "v1"))
	c.converged(res.Index)

	cancel()
	<-pulses
	c.eventually("the configured heartbeat timeout back once the pulses end", func() bool { return heartbeatTimeout(ln) == hb })
	if !ln.IsLeader() {
		t.Fatalf("%s lost its leadership when the pulses ended", leader)
	}
}

// A quiet leader that is no longer pulsed steps down on raft's leader lease
// (a coordinator whose lease rounds stopped must not go on leading), and
// every node gets the configured timing back; the cluster elects again.
// A leadership transfer runs with the configured timing.
func TestQuietHeartbeats_UnpulsedLeaderStepsDownAndTimingComesBack(t *testing.T) {
	c := newCluster(t, nil, "n1", "n2", "n3")
	c.startAll()
	leader := c.leader()
	ln := c.nodes[leader].node
	hb := c.model.EffectiveTiming().RaftHeartbeat.D()
	every := c.model.EffectiveTiming().RaftLeaderLease.D() / 2

	if err := ln.QuietHeartbeats(context.Background(), every); err != nil {
		t.Fatal(err)
	}
	c.eventually(leader+" stepping down without pulses", func() bool { return !ln.IsLeader() })
	c.eventually("the configured heartbeat timeout back on "+leader, func() bool { return heartbeatTimeout(ln) == hb })
	next := c.leader()
	res := c.mustApply(next, attr(t, "n1", "k", "v1"))
	c.converged(res.Index)

	// Transfer: quiet first, then a transfer, which restores the timing.
	nn := c.nodes[next].node
	if err := nn.QuietHeartbeats(context.Background(), every); err != nil {
		t.Fatal(err)
	}
	to := ""
	for name := range c.nodes {
		if name != next {
			to = name
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := nn.TransferLeadershipTo(ctx, to); err != nil {
		t.Fatal(err)
	}
	if got := heartbeatTimeout(nn); got != hb {
		t.Fatalf("heartbeat timeout on %s after a transfer = %v; expected the configured %v", next, got, hb)
	}
	c.eventually(to+" leading after the transfer", func() bool { return c.nodes[to].node.IsLeader() })
}
