// Package quorum is haven's one votequorum implementation: corosync's
// arithmetic (expected votes, highest expected, quorum, two_node,
// wait_for_all) as a pure calculator, and its offline form for what-ifs.
//
// Membership feeds the Calculator with the live members it sees, and its
// result is the Quorate of the scheduler's input in the agent; `haven
// simulate` and `haven config validate` ask Offline the same question about a
// configuration. Keeping the arithmetic here, beside the other decisions
// and away from memberlist, is what keeps those answers from drifting apart.
//
// It imports only engine/model: no I/O, no clock, no goroutine.
package quorum
