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
//   - BuildInput (input.go) is where a failover is decided: it maps the
//     replicated state, the membership view and the lease table onto the
//     scheduler's input. A node gossip does not see, or whose lease has
//     certainly lapsed, is offline; its resources are recovered only once
//     its lease has certainly lapsed (without stonith) or its fence is
//     confirmed (with stonith); until then it is unclean. Pure apart from
//     reading the lease table.
//   - StateCoordinator implements Coordinator over engine/state, the log,
//     the membership view and the lease.Table: Propose runs BuildInput,
//     starts the fences it asks for, runs engine/scheduler and holds back
//     what a fence must precede (holdForFence), and hands the coordinator
//     role to an idle voter when this node runs resources
//     (HandoffTarget); Commit records the lapsed nodes' instances as
//     stopped, forgets entries no longer configured, or commits the
//     placement (ErrStalePlan when the state moved on).
//
// Seams it declares and others fill: Log and Membership (consensus and
// membership, through cmd/haven), Fencer (fencing), Handoff (raft
// leadership transfer), and the lease.Sender's Renewer (leasewire). It
// imports no agent, no raft or memberlist, and opens no socket;
// engine/controller composes it with the node side.
package coord
