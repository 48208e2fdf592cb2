// Package reconcile is the node side of the engine: it converges this
// node's resource instances to the committed placement.
//
//   - BuildDesired maps the replicated state (engine/state) onto a Desired:
//     the instances this node must run, in start order, each with the
//     instances that must be observed started first; the other configured
//     instances it must probe; and a Mode (run, freeze, stop-all,
//     maintenance). CleanupsSince expands the cleanups applied in the
//     cluster into this node's instances. Both are pure.
//   - Reconciler.Run is level-triggered: on every Set, operation result,
//     lease change and timer it recomputes what to do from the desired and
//     the observed state, issues at most one start or stop at a time (stops
//     first, in reverse start order; then starts in order) — except in
//     stop-all, where everything stops at once, dependents first —, one
//     operation at a time per instance, each under its timeout, and reports
//     every state change through a Reporter.
//
// Its seams: agents come from a model.TypeLookup and run behind
// model.Agent (this package imports no agent: a probe is marked with
// model.WithProbe); observations leave through Reporter (the adapter commits
// them through the raft leader and answers with their log index); the
// lease is a lease.Holder (a lapsed lease stops or freezes everything,
// whatever the placement says); time is a clock.Clock. engine/controller
// wires it to the state, the log and the lease; no socket is opened here.
//
// Failure handling (on_fail, fail counts, the wait for a placement computed
// with a failure in view) follows engine/DESIGN.md; docs/operations.md
// describes it for users.
package reconcile
