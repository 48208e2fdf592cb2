// Package coord is the coordinator: what the raft leader of a quorate
// partition decides for the whole cluster, and the loop that decides it.
//
//   - LeaderLoop barriers (the leader has applied everything committed
//     before it), then computes and commits on every trigger, at the
//     instant a proposal says the result may change (RecheckAt) and on a
//     timer. It runs the lease sender while it leads and marks the lease
//     table leading from its start. Its seam is Coordinator (Barrier,
//     Propose, Commit); Run it under a context cancelled when leadership
//     or quorum is lost.
//   - BuildInput (input.go) maps the replicated state, the membership view,
//     the lease table (as a snapshot of plain times) and the fencing history
//     onto the scheduler's input, deciding nothing; Decide runs the
//     scheduler, whose classify stage (engine/scheduler classify.go) is
//     where a failover is decided: which lost node's resources may start
//     elsewhere (its lease has certainly lapsed, stonith off; or it is
//     fenced), which node must be fenced first, and whether the coordinator
//     role moves (a handoff action). Pure apart from reading the lease table.
//   - StateCoordinator implements Coordinator over engine/state, the log,
//     the membership view and the lease.Table: Propose runs Decide, starts
//     the plan's fences, and hands the coordinator role over when the plan
//     says so and the committed placement is settled; Commit records the
//     lapsed nodes' instances as stopped, forgets entries no longer
//     configured, or commits the placement (ErrStalePlan when the state
//     moved on).
//
// Seams it declares and others fill: Log and Membership (consensus and
// membership, through package node), Fencer (fencing), Handoff (raft
// leadership transfer), and the lease.Sender's Renewer (leasewire). It
// imports no agent, no raft or memberlist, and opens no socket;
// engine/controller composes it with the node side.
package coord
