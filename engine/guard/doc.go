// Package guard is haven's software watchdog: a companion process that
// tears down what a node's resources hold outside the agent process when
// the agent dies, so a SIGKILLed (or crashed, or OOM-killed) agent leaves no
// resource running while the cluster recovers it elsewhere.
//
// `haven agent` starts the guard at startup from its own binary (the hidden
// `haven guard` subcommand) and keeps the write end of a pipe to its
// standard input. Agents hold teardowns through model.AgentEnv.Guard (the
// Client): exec holds its process group, vip its address, filesystem its
// mount point; they release them after a successful stop. The protocol is
// JSON lines (one Msg per line):
//
//	{"op":"hold","key":"exec /var/lib/haven/n1/resources/web","kind":"kill-group","args":{"pgid":"4242","start_time":"81234"}}
//	{"op":"release","key":"exec /var/lib/haven/n1/resources/web"}
//	{"op":"teardown","reason":"stop after the lease lapsed is overdue"}
//	{"op":"arm","deadline_ns":81234567890123,"grace_ns":75000000}
//	{"op":"disarm"}
//	{"op":"bye"}
//
// The guard (Serve) keeps the held set. When the pipe reaches end of file
// without a "bye" — the agent process is gone, since only it holds the
// write end — it performs every held teardown at once and exits. On "bye"
// (a graceful shutdown, which stopped the resources first) it exits without
// doing anything. "teardown" performs everything held now and keeps
// serving: the agent asks for it when a stop after a lapsed lease is
// overdue, the watchdog's role when no hardware watchdog resets the node.
//
// "arm" is the watchdog for an agent that is alive but frozen (SIGSTOP, a
// long stall): its pipe stays open, so end of file never comes, yet it
// cannot stop its resources when its lease lapses, and the cluster recovers
// them elsewhere a bounded time later. The agent arms the guard with its
// lease's deadline on every extension (an absolute CLOCK_MONOTONIC instant,
// the machine's clock both processes share) and a grace; when deadline +
// grace passes without a newer arm, the guard logs a line starting with
// "WATCHDOG:", performs every held teardown and keeps serving (a later arm
// re-arms it). "disarm" stops the timer (a lapse does not stop resources
// under no_quorum_policy freeze or ignore, nor in maintenance).
//
// The guard runs in its own process group (a signal to the agent's group
// does not reach it), in the agent's network and mount namespaces (it is
// the agent's child), ignores SIGINT, SIGTERM, SIGHUP and SIGPIPE, and logs
// to the agent's standard error. Teardown kinds are handlers registered by
// the binary: this package has kill-group and unmount (system calls only);
// vip registers its netlink handler from cmd/haven, so this package imports
// no netlink.
package guard
