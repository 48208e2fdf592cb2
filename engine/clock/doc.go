// Package clock is the engine's injected time source: the Clock interface
// (Now, one-shot and periodic timers, timeouts on that clock), System, the
// real monotonic clock, and Fake, a clock that moves only when a test or a
// simulation advances it.
//
// Every engine package that waits (the reconciler, the leader loop, the
// lease holder and sender) takes a Clock instead of calling time.Now or
// time.NewTimer, so its behaviour over time is tested deterministically on
// a Fake, and a wall-clock step never stretches or shortens a lease.
// System wraps the Go runtime's timers (on an idle agent they cost no more
// than timerfds read through the poller: docs/bench/idle.md).
package clock
