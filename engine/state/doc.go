// Package state is haven's replicated state machine: the cluster-wide facts
// that the raft log (package consensus) replicates to every node.
//
// It holds the committed configuration (raw YAML and a monotonically
// increasing version), node administrative state (standby, maintenance,
// transient attributes), resource administrative state (target role, move and
// ban preferences with optional expiry), the placement committed by the
// coordinator with the state index it was computed from, the resource states
// observed and reported by nodes (with fail counts and failure times), the
// fencing history, and a bounded event log.
//
// Rules that keep replicas identical:
//   - Apply is deterministic: it never reads the clock (times travel inside
//     commands, stamped by the proposer), never depends on map iteration
//     order, and never parses the YAML (a parser upgrade must not change what a
//     replica stores). Snapshots are JSON, whose map keys are sorted.
//   - Commands are typed and versioned in one table (commands.go). The
//     proposer checks a command with Validate before it reaches the log, so a
//     command a replica cannot apply is refused up front. If one is found in
//     the log anyway, Apply panics: going on would make replicas diverge.
//   - A command that is well formed but not applicable (a stale SetConfig base
//     version, a plan computed from an outdated state) is a deterministic no-op
//     whose Result carries the reason.
//
// Resource leases (the coordinator's renewals) are deliberately not here: they
// are frequent, carry nothing worth replaying, and would grow the log for no
// benefit. engine/DESIGN.md describes them.
//
// Readers get deep copies (View) and an index watch (Watch, WaitIndex) so the
// leader loop can schedule on every change. This package imports no raft.
package state
