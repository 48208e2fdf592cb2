// Package scheduler decides where haven's resources run and which actions
// get them there. It follows Pacemaker 2.1's scheduler so that constraints
// mean in haven what they meant in Pacemaker.
//
// Compute is a pure function of its Input and a time: no goroutines, clocks,
// I/O or map-iteration-order dependence. It runs a pipeline of small named
// stages, each recording the score contributions it makes so that the
// Explanation can say, for every resource and node, why the node won or lost:
//
//	classify    each node is online, standby, maintenance, offline, unclean,
//	            lost-unclean, lost-lease-lapsed or fenced, with the reason, from
//	            membership, the coordinator's lease snapshot and the fencing
//	            history (classify.go: where a failover is decided); with stonith,
//	            fence actions
//	build       the working set: nodes sorted by name, resources (groups, clone
//	            instances), effective meta attributes, colocations
//	observe     observed state: where each instance runs or failed, fail counts
//	eligibility offline, unclean, standby and maintenance nodes are -INFINITY
//	locations   location constraints (fixed or rule) and move/ban preferences
//	stickiness  resource stickiness on the current node; fail count at
//	            migration_threshold bans the node (until failure_timeout)
//	sort        assignment order: priority, then configuration order (Pacemaker
//	            2.1 with the default placement strategy)
//	assign      each resource in order, colocation targets first, dependents'
//	            scores merged in (Pacemaker's native/group/clone allocate)
//	runnable    quorum policy; a resource whose mandatory order "first" or
//	            INFINITY colocation target cannot run does not run; mandatory
//	            colocations hold even through colocation loops
//	transition  stops (reverse order) before starts; moves, restarts
//	fence hold  nothing leaves a node being fenced before the fence is
//	            confirmed; fences come first in the plan
//	handoff     a settled plan hands the coordinator role to a live voter
//	            running nothing (coordinator input only)
//
// Scores are model.Score: INFINITY = 1,000,000, sums saturate and -INFINITY
// beats +INFINITY. A node can run a resource when its score is >= 0 and the
// node is online, clean, not in standby or maintenance.
//
// Ties between nodes with equal scores are broken as Pacemaker does: the node
// with fewer resources already assigned, then the node already running the
// resource, then the node name in byte order. (When the best score is > 0 and
// the current node has it, the current node wins before the count.)
//
// Observed state on a node that is offline and clean counts as stopped; on an
// unclean node it counts as running until the node is fenced, and actions
// that take a resource off it say so.
//
// Clone instances are named as Pacemaker names anonymous clone instances: the
// cloned primitive's id, a colon and the instance number ("rs-unbound:0"); a
// cloned group's instance is "GROUP:N" with members "MEMBER:N".
//
// See docs/scheduler.md for the semantics, the oracle agreement rate and the
// remaining differences from Pacemaker.
package scheduler
