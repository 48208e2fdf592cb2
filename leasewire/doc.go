// Package leasewire carries the lease protocol (engine/lease) between
// nodes: each renewal and its ack is one UDP datagram on the API's port
// number, authenticated with an HMAC-SHA256 tag under a key every node
// derives from the cluster key (membership.Keys.Lease).
//
// Wire implements lease.Renewer for the coordinator (one datagram out, then
// a wait for the ack's token or a refusal) and answers renewals addressed
// to this node with the function given to SetGrant (the node's
// lease.Holder, through engine/controller.Node.GrantLease). The protocol
// itself — rounds, echoed tokens, the coordinator's bound from the last
// ack — lives in engine/lease; this package only moves its values. A lost
// datagram is not resent: the sender's next round, lease/8 later, sends a
// fresh renewal with the newest token to echo.
//
// Why datagrams and not the API's HTTP: a request costs about a millisecond
// of CPU on each side (a request context, timers, connection goroutines,
// JSON), and renewals run eight times a lease for every node; a datagram
// each way carries the same values with one read and one write, read and
// written with raw system calls (internal/rawudp). docs/bench/idle.md has
// the figures.
//
// The engine's decision packages import no socket code; this package is
// the transport they are given (package node builds it, test/e2e exercises it
// across network namespaces).
package leasewire
