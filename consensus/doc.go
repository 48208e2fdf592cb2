// Package consensus owns the replicated resource log: hashicorp/raft wiring
// that adapts engine/state's state machine to raft.FSM, the key-authenticated
// transport, bootstrap from the node list, voter selection from weighted
// votes, the witness, and two-node fence-to-win recovery.
package consensus
