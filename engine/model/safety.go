package model

import (
	"fmt"
	"time"
)

// Safety timings: the durations the lease protocol, the guard and raft's
// contact shortcut derive from a Timing. Each derivation states beside it
// the inequality it must satisfy and why; Safety.Violations checks them
// all, and safety_test.go checks them for every profile and for random
// timings that validation accepts (Timing.Contradictions). They are here,
// with the profiles, so that changing a profile or a formula shows at once
// what it breaks. engine/DESIGN.md, "Leases", tells the protocol they
// protect.
//
// Names used below: lapse is the instant a node's own lease ends (it then
// stops its resources); recovery is the earliest instant the coordinator may
// start them elsewhere, RecoverBound after the node's newest ack.

// LeaseDrift is the largest relative rate difference assumed between two
// nodes' monotonic clocks (5%): the coordinator measures a node's lease on
// its own clock and waits that much longer.
const LeaseDrift = 0.05

// minLeaseMargin is the smallest margin: a node needs a few milliseconds to
// notice its lapse and signal its resources whatever the lease.
const minLeaseMargin = 20 * time.Millisecond

// LeaseRound is the interval between two lease renewal rounds: lease/8.
//
// Must: lease − 2 × round ≥ ¾ lease. A round echoes the token of the previous
// round's ack, so it extends the lease to that round's time + lease: just
// before the next round, lease − 2 rounds is left, and five lost rounds in
// a row still leave a quarter.
func LeaseRound(lease time.Duration) time.Duration { return lease / 8 }

// LeaseMargin is the coordinator's margin on top of lease × (1 + drift)
// before it recovers a lost node's resources: the time that node has to
// notice its lapse and finish stopping. A tenth of the lease, at least 20ms.
//
// Must: margin ≥ 20ms (> 0): recovery comes strictly after the lapse, as
// measured by the slowest clock the drift allows.
func LeaseMargin(lease time.Duration) time.Duration { return max(lease/10, minLeaseMargin) }

// RecoverBound is how long after a node's newest ack its lease has
// certainly lapsed: lease × (1 + drift) + margin. A renewal echoes only a
// token whose ack is back, and the token was issued before the ack left,
// so the node's lease ends at most lease (on its clock) after the ack.
//
// Must: bound ≥ lease × (1 + LeaseDrift) + 20ms.
func RecoverBound(lease time.Duration, drift float64, margin time.Duration) time.Duration {
	return time.Duration(float64(lease)*(1+drift)) + margin
}

// StopDeadline is how long after its own lapse a node's stop may take
// before the watchdog tears down what its resources hold
// (reconcile.Config.StopDeadline): all the time between the lapse and
// recovery when the clocks tick alike, lease × drift + margin.
//
// Must: 0 < deadline ≤ RecoverBound − lease, so the watchdog acts before any
// other node can start the resources. (With the node's clock at the
// slowest rate the drift allows, only the margin of real time separates
// its lapse from recovery; the guard's own timer, WatchdogGrace, meets
// that.)
func StopDeadline(lease, margin time.Duration) time.Duration {
	return RecoverBound(lease, LeaseDrift, margin) - lease
}

// WatchdogGrace is how long after the lease deadline the guard tears down
// on its own, for a frozen agent that can neither stop its resources nor
// ask: half the stop deadline. The agent tells the guard a new deadline
// only once it moved by at least the grace (halving the guard's wake-ups),
// so the guard holds a deadline up to grace older than the real one and
// fires between the real deadline and grace after it.
//
// Must: 0 < grace and grace × (1 + drift) < margin: the guard never fires
// while the lease holds, and fires before recovery even when the node's
// clock runs at the slowest rate the drift allows (its lapse then comes
// only the margin of real time before recovery).
func WatchdogGrace(lease, margin time.Duration) time.Duration { return StopDeadline(lease, margin) / 2 }

// LeaderConfirmReuse is how old a leadership confirmation (raft
// VerifyLeader) the coordinator may reuse to renew its own lease: lease/16,
// so a round's own renewal and a first contact's immediate echo share one.
//
// Must: reuse ≤ raft_heartbeat + Takeover + StopDeadline. A confirmation
// started at s proves no successor was elected before s + raft_heartbeat
// (the followers' timeout); the coordinator's last own renewal, before s +
// reuse, extends its lease to at most lease after, and a successor waits
// RecoverBound + Takeover from its election before recovering it.
func LeaderConfirmReuse(lease time.Duration) time.Duration { return lease / 16 }

// EffectiveNoQuorumDelay is how long a node without quorum waits before it
// applies no_quorum_policy from its own view: the configured delay, or the
// lease when none is set.
//
// Must: delay > 0. No bound ties it to recovery: under policy stop the lease
// stops the resources in time (the lapse precedes recovery), and freeze and
// ignore stop nothing; it is the fallback for a node whose lease is not
// enforced or not lapsing.
func EffectiveNoQuorumDelay(delay, lease time.Duration) time.Duration {
	if delay > 0 {
		return delay
	}
	return lease
}

// ContactWindow is how recent a node's ack to a lease renewal of the
// current term must be for the raft leader to answer its heartbeat to that
// node locally (consensus.Config.ContactFresh): half raft_heartbeat. The
// follower's raft is fed by every renewal it accepts, and by real
// heartbeats again once the window passed.
//
// Must: window + raft_heartbeat/5 < raft_heartbeat. hashicorp/raft's leader
// sends a heartbeat at least every raft_heartbeat/5, so a follower whose
// last ack opened the window hears one before its own timeout: election
// speed is unchanged.
func (t Timing) ContactWindow() time.Duration { return t.RaftHeartbeat.D() / 2 }

// Takeover is how much longer than RecoverBound a new coordinator waits,
// counted from its election, before it recovers the resources of a node it
// never heard from (lease.TableConfig.Takeover): the time a deposed
// coordinator may still renew leases. A follower's last ack at t0 lets the
// old leader answer heartbeats locally until t0 + window, and raft's
// leader lease keeps it leading until raft_leader_lease after that, so it
// renews until t0 + window + leader lease at the latest; the new
// coordinator cannot be elected before t0 + raft_heartbeat. The wait is
// the difference, plus one contact window kept on top as slack.
//
// Must: takeover ≥ window + raft_leader_lease − raft_heartbeat (the deposed
// coordinator's last renewal precedes the successor's wait), and takeover ≥
// window.
func (t Timing) Takeover() time.Duration {
	w := t.ContactWindow()
	return w + max(0, w+t.RaftLeaderLease.D()-t.RaftHeartbeat.D())
}

// Safety is every derived timing of one Timing, with the default margin.
type Safety struct {
	Lease, RaftHeartbeat, RaftLeaderLease time.Duration

	LeaseRound, LeaseMargin, RecoverBound, StopDeadline, WatchdogGrace time.Duration
	LeaderConfirmReuse, ContactWindow, Takeover, NoQuorumDelay         time.Duration
}

// Safety derives every safety timing from t.
func (t Timing) Safety() Safety {
	l := t.Lease.D()
	m := LeaseMargin(l)
	return Safety{
		Lease: l, RaftHeartbeat: t.RaftHeartbeat.D(), RaftLeaderLease: t.RaftLeaderLease.D(),
		LeaseRound: LeaseRound(l), LeaseMargin: m, RecoverBound: RecoverBound(l, LeaseDrift, m),
		StopDeadline: StopDeadline(l, m), WatchdogGrace: WatchdogGrace(l, m),
		LeaderConfirmReuse: LeaderConfirmReuse(l), ContactWindow: t.ContactWindow(), Takeover: t.Takeover(),
		NoQuorumDelay: EffectiveNoQuorumDelay(t.NoQuorumDelay.D(), l),
	}
}

// Violations lists every inequality of the derivations above that s breaks,
// each with its values. Empty means safe.
func (s Safety) Violations() []string {
	var out []string
	must := func(ok bool, format string, a ...any) {
		if !ok {
			out = append(out, fmt.Sprintf(format, a...))
		}
	}
	must(s.Lease-2*s.LeaseRound >= s.Lease*3/4,
		"lease round %s: lease − 2 × round = %s is below ¾ lease", s.LeaseRound, s.Lease-2*s.LeaseRound)
	must(s.LeaseMargin >= minLeaseMargin, "lease margin %s is below %s", s.LeaseMargin, minLeaseMargin)
	must(s.RecoverBound >= time.Duration(float64(s.Lease)*(1+LeaseDrift))+minLeaseMargin,
		"recover bound %s is below lease × (1 + %v) + %s", s.RecoverBound, LeaseDrift, minLeaseMargin)
	must(s.StopDeadline > 0 && s.StopDeadline <= s.RecoverBound-s.Lease,
		"stop deadline %s is not in (0, recover bound − lease = %s]", s.StopDeadline, s.RecoverBound-s.Lease)
	must(s.WatchdogGrace > 0 && time.Duration(float64(s.WatchdogGrace)*(1+LeaseDrift)) < s.LeaseMargin,
		"watchdog grace %s: expected 0 < grace × (1 + %v) < margin %s", s.WatchdogGrace, LeaseDrift, s.LeaseMargin)
	must(s.LeaderConfirmReuse <= s.RaftHeartbeat+s.Takeover+s.StopDeadline,
		"leader confirmation reuse %s exceeds raft_heartbeat + takeover + stop deadline = %s", s.LeaderConfirmReuse, s.RaftHeartbeat+s.Takeover+s.StopDeadline)
	must(s.ContactWindow > 0 && s.ContactWindow+s.RaftHeartbeat/5 < s.RaftHeartbeat,
		"contact window %s: expected 0 < window + raft_heartbeat/5 < raft_heartbeat %s", s.ContactWindow, s.RaftHeartbeat)
	must(s.Takeover >= s.ContactWindow+s.RaftLeaderLease-s.RaftHeartbeat && s.Takeover >= s.ContactWindow,
		"takeover %s is below window + raft_leader_lease − raft_heartbeat = %s or the window %s",
		s.Takeover, s.ContactWindow+s.RaftLeaderLease-s.RaftHeartbeat, s.ContactWindow)
	must(s.NoQuorumDelay > 0, "no-quorum delay %s is not positive", s.NoQuorumDelay)
	return out
}
