package consensus

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Quiet heartbeats: the leader's pulse comes from its caller.
//
// hashicorp/raft's leader runs one heartbeat goroutine per follower, each
// waking every HeartbeatTimeout/10–/5 (22 times a second per follower on
// the lan profile), answered locally or not (contact.go): without quiet
// heartbeats an idle lan coordinator uses about twice the CPU
// (docs/bench/idle.md). The interval is read from
// the reloadable HeartbeatTimeout of the *leader's* own configuration, and a
// follower's election timer reads its *own*: so while a caller promises to
// call VerifyLeader at least every `every` (the coordinator does, for its
// own lease, once per lease round), the leader raises its HeartbeatTimeout
// (and ElectionTimeout, which raft requires to be at least as long) to
// quietFactor times the configured value. Every VerifyLeader wakes all the
// heartbeat goroutines at once (answered locally for the followers that
// acked a renewal in the contact window, sent otherwise), which keeps
// followers' contact timers fed and the leader's contact times (what raft's
// leader lease checks) fresh. raft restarts its heartbeat timer after each
// heartbeat, so while pulses come it never fires; when they stop, raft's
// own heartbeats come quietFactor times rarer, and the leader lease, which
// wants contact every raft_leader_lease, steps the leader down: a
// coordinator whose lease rounds stopped does not go on leading.
//
// The configured timing comes back (ReloadConfig, which wakes the
// heartbeats at once when the timeout shrinks) when ctx ends (the caller
// stops pulsing), when leadership ends (a follower's election timer reads
// the same setting: ReloadConfig resets it, and raft stamps its last contact
// when a leader steps down, so the reset timer finds it fresh), and before a
// leadership transfer (raft times a transfer with ElectionTimeout).
//
// Invariant: every must be at most half of raft_leader_lease, so a pulse
// that comes late by a whole interval still keeps the leader lease.

// quietFactor multiplies raft's heartbeat and election timeouts on a leader
// that is pulsed (on lan: raft's own heartbeat timer 0.6–1.2 s instead of
// 30–60 ms, and restarted by every pulse).
const quietFactor = 20

// QuietHeartbeats hands the pacing of raft's heartbeats to the caller while
// ctx lives and this node leads: the caller promises to call VerifyLeader
// at least every `every`. It refuses (and changes nothing) when this node
// does not lead or when every exceeds half of raft_leader_lease.
func (n *Node) QuietHeartbeats(ctx context.Context, every time.Duration) error {
	r := n.raft()
	if r == nil || r.State() != raft.Leader {
		return raft.ErrNotLeader
	}
	t := n.cfg.Cluster.EffectiveTiming()
	if every <= 0 || 2*every > t.RaftLeaderLease.D() {
		return fmt.Errorf("quiet heartbeats need a pulse at least every half raft_leader_lease (%s); got %s: raft keeps its own pace",
			t.RaftLeaderLease.D()/2, every)
	}
	n.mu.Lock()
	n.quietGen++
	gen := n.quietGen
	n.quietCtx, n.quietEvery = ctx, every
	n.mu.Unlock()
	if err := n.pace(r, quietFactor); err != nil {
		return err
	}
	if r.State() != raft.Leader {
		// Leadership ended meanwhile, perhaps before watchLeadership's
		// unquiet: a follower's timer must read the configured timeout.
		n.unquiet(r)
		return raft.ErrNotLeader
	}
	go func() {
		<-ctx.Done()
		n.mu.Lock()
		mine := n.quietGen == gen
		n.mu.Unlock()
		if mine {
			n.loud(r)
		}
	}()
	return nil
}

// loud gives raft r its configured heartbeat and election timeouts back.
func (n *Node) loud(r *raft.Raft) {
	if err := n.pace(r, 1); err != nil {
		n.log.Warn("raft heartbeats: could not restore the configured timing", "err", err)
	}
}

// pace sets raft r's heartbeat and election timeouts to factor times the
// configured ones (other reloadable settings unchanged).
func (n *Node) pace(r *raft.Raft, factor time.Duration) error {
	t := n.cfg.Cluster.EffectiveTiming()
	rc := r.ReloadableConfig()
	rc.HeartbeatTimeout = factor * t.RaftHeartbeat.D()
	rc.ElectionTimeout = factor * t.RaftElection.D()
	if err := r.ReloadConfig(rc); err != nil {
		return fmt.Errorf("raft heartbeats: %w", err)
	}
	return nil
}

// unquiet ends quiet heartbeats at once (before a leadership transfer). The
// returned func starts them again, as the last QuietHeartbeats call asked,
// if its context still lives (the transfer failed and this node leads on).
func (n *Node) unquiet(r *raft.Raft) (again func()) {
	n.mu.Lock()
	n.quietGen++
	ctx, every := n.quietCtx, n.quietEvery
	n.quietCtx = nil
	n.mu.Unlock()
	n.loud(r)
	return func() {
		if ctx != nil && ctx.Err() == nil {
			_ = n.QuietHeartbeats(ctx, every) // refused when no longer leader
		}
	}
}
