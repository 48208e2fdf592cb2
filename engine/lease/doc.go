// Package lease is the resource-lease protocol: what lets a coordinator
// start a lost node's resources elsewhere while that node, cut off, may
// still be running them (engine/DESIGN.md, "Leases").
//
//   - Holder is the node side: the node may run resources while its lease
//     holds, counted from a token it issued before the ack left, so a late
//     renewal only ever shortens it.
//   - Table is the coordinator side: when each node last acked, and from
//     which instant its lease has certainly lapsed (lease × (1 + drift) +
//     margin after that ack), so its resources may be recovered.
//   - Sender renews every live node's lease every lease/8 while the
//     coordinator leads, through a Renewer.
//
// The package is pure protocol: times come from an injected clock.Clock
// and it opens no socket. Renewer is the seam to the transport:
// leasewire.Wire carries renewals as authenticated UDP datagrams,
// test/inproc carries them in memory. engine/coord reads the Table
// to decide a failover; engine/reconcile stops a node's resources when its
// Holder lapses; engine/controller wires the three together.
package lease
