// Package node assembles one cluster node: the composition root that
// `haven agent` and `haven witness` run, and that test/inproc runs for
// every node of its in-process clusters, so the suite tests the wiring that
// ships. It is named for what it builds — the node that consensus.Node,
// controller.Node and membership are parts of.
//
// New builds, without I/O, what needs none: the replicated state machine,
// membership (gossip, failure detection, quorum), the operator service
// behind the API. Run then binds and starts, in this order: the lease wire,
// the guard, membership, raft, the lease wire's reader, the committed-file
// keeper, the membership event consumer, the controller, the API. Each
// component runs under its own context and they stop in reverse, so the
// shutdown order is explicit:
//
//   - the API stops first, so no request starts a change during shutdown;
//   - raft hands leadership to another voter before it closes (a new
//     coordinator in tens of milliseconds instead of an election timeout),
//     while gossip still reports this node alive, so no peer starts
//     fence-to-win against a node that is merely stopping;
//   - membership leaves last and gracefully, so peers see "left", not "dead".
//
// The controller (engine/controller: the coordinator's leader loop, the
// reconciler and the lease protocol, composed) is built with raft (its Lead
// is raft's OnLeader, after a fresh cluster's first leader committed the
// startup file as version 1) and its node side runs after the membership
// event consumer; it stops before raft closes. When Run's context ends (the
// agent's SIGTERM) the node first stops its resources while still a member
// (controller.Node.StopResources), then the components stop. A witness
// runs only the coordinator side.
//
// The guard (engine/guard) starts first and stops last: a companion
// process that tears down what the resources hold (process groups,
// addresses, mounts) if this process dies without an orderly stop. A
// graceful stop says goodbye to it once the resources are stopped; a stop
// after a component failed does not, so the guard tears down whatever
// still runs, as after a crash.
//
// The safety timings the wiring uses (the takeover, the contact window, the
// watchdog grace) are engine/model's, each beside the inequality it must
// satisfy.
//
// Seams: the raft link (Config.RaftLink: TCP, or a consensus.InmemNetwork
// link), membership (Config.Members) and the lease transport
// (Config.LeaseWire: leasewire's UDP datagrams, or an in-memory one) are
// the real ones unless the caller gives others; everything else — the
// takeover, the contact shortcut between lease acks and raft heartbeats,
// quiet heartbeats, the coordinator handoff, seeding the first
// configuration, the file keeper — runs the same code either way.
package node
