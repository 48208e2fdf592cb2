// Package inproc runs whole haven clusters inside one test process: raft on
// consensus.NewInmemNetwork, engine/state, and engine/controller.Node per
// node, with a membership view and a lease transport the tests control, and
// real exec resources (sh processes that stamp their start and stop times
// into a shared log, so ordering and "never on two nodes" are checked from
// the processes' own clocks).
package inproc
