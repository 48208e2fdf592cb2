// Package engine is haven's cluster brain: the cluster model (engine/model),
// the configuration file (engine/config), the replicated state machine
// (engine/state), the pure Pacemaker-compatible scheduler (engine/scheduler),
// the coordinator and its leader loop (engine/coord), the node reconciler
// (engine/reconcile), the lease protocol (engine/lease), the injected clock
// (engine/clock), one node's composition of them (engine/controller), the
// generic resource agents (engine/agent), votequorum (engine/quorum), the
// simulator (engine/simulate), the operator service (engine/admin) and the
// operator API (engine/api).
//
// engine defines the interfaces it needs from the rest of haven (membership,
// the replicated log, resource agents, fencers) and never imports how they
// work: its core packages import none of raft, memberlist, netlink, gotgt or
// go-ipmi (a test in this folder checks it).
package engine
