// Package demo runs `haven demo`'s live part: the built-in example's three
// nodes as real `haven agent` processes on loopback, a crash of the node
// running the web group, and the failover as a user sees it (the time until
// the group runs elsewhere, the status before and after). cmd/haven prints
// the plan first and calls Live; everything Live starts, it stops.
package demo
