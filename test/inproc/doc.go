// Package inproc runs whole haven clusters inside one test process: every
// node is package node, the assembly `haven agent` runs, with raft on
// consensus.NewInmemNetwork, a membership view and a lease transport the
// tests control in its seams (seams_test.go), and real exec resources (sh
// processes that stamp their start and stop times into a shared log, so
// ordering and "never on two nodes" are checked from the processes' own
// clocks).
package inproc
