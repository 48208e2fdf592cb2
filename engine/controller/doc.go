// Package controller runs resources: the coordinator's leader loop (barrier,
// then schedule and commit on every trigger), the per-node reconciler that
// converges this node's resource instances to the committed placement, and
// the lease machinery that keeps a cut-off node from running what a quorate
// coordinator recovers elsewhere.
//
// The package imports neither consensus nor membership (nor raft or
// memberlist). The reconciler and the leader loop see the rest of haven
// through a few seams, and Node (node.go) implements them over
// engine/state and engine/scheduler, with small interfaces (Log,
// Membership, Renewer) that cmd/haven fills with the real components:
//
//   - Reporter: records an Observation in the replicated log (through the
//     raft leader) and returns the log index at which it was recorded.
//   - Desired: the adapter pushes, on every applied index, the instances this
//     node must run (in start order, each with the instances that must be
//     observed started first), the other configured instances this node must
//     probe, and a Mode (run, freeze, stop-all).
//   - Coordinator: Barrier, Propose (build the scheduler input from state,
//     membership, quorum and the LeaseTable; run the scheduler) and Commit (a
//     plan with its base index; ErrStalePlan when stale) for the LeaderLoop.
//   - Renewer: sends one lease renewal to one node and returns the token of
//     its ack (the coordinator side); LeaseWire (lease_udp.go) carries it as
//     authenticated UDP datagrams and answers with LeaseHolder.Grant.
//   - Clock: an injected monotonic clock; FakeClock drives the tests.
//
// Reconciler.Run is level-triggered: on every Set, operation result, lease
// change and timer it recomputes what to do from the desired and the
// observed state, issues at most one start or stop at a time (stops first,
// in reverse start order; then starts in order) — except in stop-all, where
// everything stops at once, dependents first —, one operation at a time per
// instance, each under its timeout, and reports every state change.
// Failure handling follows engine/DESIGN.md; docs/operations.md describes it
// for users.
package controller
