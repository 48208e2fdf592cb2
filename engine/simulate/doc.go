// Package simulate is `haven simulate`'s engine, crm_simulate's equivalent:
// it takes a starting state (a configuration's steady state, a saved
// scheduler input, or a Pacemaker CIB read by engine/cib), applies what-if
// changes (nodes down, up, in standby, failed monitors, node attributes, no
// quorum), recomputes quorum with engine/quorum's votequorum arithmetic and
// runs the scheduler, all offline and pure. cmd/haven only parses flags and
// prints the Result.
//
// A node taken down is lost: with stonith off it is lost long enough for its
// lease to have certainly lapsed, so its resources start elsewhere; with
// stonith on it must be fenced first (crm_simulate's --node-fail), so the
// plan fences it and holds its resources, and AfterFence is the plan once
// those fences are confirmed, as crm_simulate shows the transition after a
// successful fence.
package simulate
