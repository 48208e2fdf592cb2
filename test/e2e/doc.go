// Package e2e holds haven's end-to-end tests: three `haven agent`
// processes, each inside its own node namespace of the test/netns bed,
// run a `vip` resource and an `exec` web server (./websrv) colocated with
// it and ordered after it, while a client namespace fetches the page
// through the VIP. Faults (SIGKILL of the agent holding the VIP, an
// nftables link cut) must move the service to another node without ever
// having two nodes hold the VIP. Rig is shared with the failover
// benchmark (test/bench).
//
// Needs root, iproute2 and nftables (the tests skip otherwise).
package e2e
