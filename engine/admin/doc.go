// Package admin is the operator service: what every administrative request
// means, how it is checked against the committed state, and which
// replicated commands it produces. Service implements engine/api's Backend,
// AdminBackend and PlacementBackend, so the HTTP server calls it directly;
// package node only fills its small interfaces from the running node (Log:
// commit a state.Command, barrier, consensus status; Members: gossip and
// quorum; Engine: the resource engine's status) and hands it to api.New.
//
// Every request is checked against the committed configuration (the file
// the agent started with while none is committed) and this node's replica
// of the state. Requests that change something first pass a barrier through
// the leader, so the checks see everything committed before them, and they
// return once this node applied the result, so the next read here shows it.
// A refused request commits nothing and says why with an *api.Error: 400
// bad input, 404 unknown resource or node (naming the known ones), 409 a
// configuration edited from a stale version, 422 a request that cannot be
// honoured, 503 no leader (a majority of the voters must run).
//
// The requests, with their Pacemaker equivalents:
//
//   - Move RES NODE (pcs resource move, crm_resource --move): one move
//     preference per resource, INFINITY on NODE, replacing any earlier move;
//     a ban of RES on NODE is cleared first. Clones (and members of clones)
//     cannot be moved: their instances run on every allowed node. A move to
//     a node where the scheduler says RES cannot run (standby, offline,
//     -INFINITY) is refused with the reasons unless forced; a witness or an
//     unknown node is refused regardless.
//   - Move RES without NODE: ban RES from the one node it runs on now
//     (crm_resource --move without --node); refused when it runs nowhere or
//     on several nodes.
//   - Ban RES [NODE] (pcs resource ban): -INFINITY on NODE, default where it
//     runs now.
//   - A lifetime makes a move or ban expire (crm_resource --lifetime,
//     api.ParseLifetime's forms); without one it stays until Clear.
//   - Clear RES [NODE] (pcs resource clear): removes RES's move and ban
//     preferences, or only those naming NODE. Nothing to clear commits
//     nothing.
//   - SetTargetRole RES Stopped|Started|"" (pcs resource disable|enable):
//     Stopped keeps RES (a group's or clone's members too) stopped
//     everywhere. Started where nothing above it stops it drops the runtime
//     role instead, like pcs removing target-role=Stopped, so the file's
//     meta target_role applies again; it stays Started where the file or a
//     disabled group or clone above would keep RES stopped.
//   - Cleanup RES [NODE] (pcs resource cleanup, crm_resource --cleanup):
//     forgets the fail counts, failed and blocked states and on_fail=stop
//     holds of RES's member primitives on NODE or everywhere; the
//     coordinator then places them again.
//   - Standby NODE on|off (pcs node standby|unstandby): nothing is placed on
//     NODE while on, so its resources move away.
//   - Maintenance NODE on|off (pcs node maintenance|unmaintenance): NODE's
//     resources are left alone (neither started, stopped nor monitored) and
//     nothing new is placed there. A witness refuses both.
//   - ApplyConfig (cibadmin --replace with an epoch check): the new file is
//     validated, diffed against the committed one and committed with its
//     base version, refused with 409 if another change was committed since;
//     changes a running cluster cannot make (voter set, addresses and ports,
//     the key file, the data directory) are refused with the steps to take.
//
// Move, Ban, Clear, SetTargetRole and ApplyConfig answer with what the
// scheduler will do: it is run on this node's state as the coordinator
// builds its input (Config.Input), once as it is and once with the change,
// and the resources, groups and clones whose nodes differ are listed.
// Status, Where and Constraints are local reads and answer without quorum.
package admin
