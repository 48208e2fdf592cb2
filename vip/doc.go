// Package vip is the virtual IP resource agent (`type: vip`, haven's
// IPaddr2): it adds and removes addresses over netlink (with IPaddr2-style
// labels), announces them with gratuitous ARP or unsolicited neighbour
// advertisements, and monitors them.
//
// Decisions (details and measurements in docs/vip.md):
//   - A VIP keeps its configured prefix, as with IPaddr2, and Start turns on
//     promote_secondaries on the NIC (over rtnetlink) so that neither the VIP
//     nor the node's own address in the same subnet is deleted with the
//     other's removal.
//   - IPv6 VIPs are added with IFA_F_NODAD: usable at once; single ownership
//     is the cluster's job, not duplicate address detection's.
//   - The announcement burst copies IPaddr2's wire pattern (10 broadcast
//     frames 100 ms apart, ARP request and reply alternating); the first
//     frame leaves before Start returns, the rest in the background until
//     Stop, the next Start or Close.
//   - Start fails on an interface that is down or without carrier, instead
//     of bringing it up as IPaddr2 does.
//   - Netlink calls act in the calling thread's network namespace; the agent
//     never switches namespaces.
//
// vip imports only engine/model from haven; cmd/haven registers Type{}
// under TypeName.
package vip
