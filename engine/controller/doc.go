// Package controller composes one node's resource engine out of the
// engine's parts: Node wires the reconciler (engine/reconcile), the lease
// protocol (engine/lease) and the coordinator (engine/coord) to the
// replicated state, the log and the membership view, and drives them.
//
//   - Run pushes a Desired (reconcile.BuildDesired) to the reconciler on
//     every applied index, membership change and no-quorum deadline, hands
//     it the cleanups applied in the cluster, commits the node attributes
//     its agents set, and records its observations through the log
//     (report: observed.report commands).
//   - Lead runs while this node is the raft leader: while the partition is
//     quorate (or no_quorum_policy is ignore) it runs a coord.LeaderLoop
//     over its coord.StateCoordinator and a lease.Sender that renews every
//     live member's lease, this node's own in-process after a leadership
//     confirmation (VerifyLeader).
//   - GrantLease answers a renewal with the node's lease.Holder; the
//     reconciler stops or freezes everything when that lease lapses.
//   - StopResources is the first step of a graceful shutdown.
//
// The package declares the seams the agent fills (NodeConfig): Log and
// Membership (consensus and membership, through package node), a
// lease.Renewer (leasewire.Wire, or test/inproc's in-memory one), a
// model.TypeLookup (engine/agent's registry), a coord.Fencer and a
// coord.Handoff. It imports neither consensus nor membership, no agent and
// no socket code: the real components are built by package node (the
// assembly `haven agent` and test/inproc run). engine/DESIGN.md has the invariants; docs/operations.md
// describes failure handling for users.
package controller
