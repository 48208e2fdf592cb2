// Package agent holds haven's resource agent registry and the generic agents
// that manage what runs on a node: exec (a supervised process), systemd
// (units over D-Bus), ocf:PROVIDER:AGENT (existing OCF scripts) and
// filesystem (mount/umount). Builtin also registers ping (engine/agent/ping:
// a node attribute from host reachability) and alert (engine/agent/alert:
// notifications by SMTP, webhook or script); their shared helpers live in
// engine/agent/internal/agentkit. Other packages' types (vip) are added with
// Register.
//
// Every agent implements model.Agent and honours its contracts: Start and
// Stop are idempotent, every operation returns when its context ends, and
// Monitor reports running, stopped or failed. Agents keep what must survive
// a restart of haven (an exec process's pid, an alert resource's started
// flag) in their AgentEnv.DataDir, so a restarted node can monitor and stop
// what it started earlier. Agents do no I/O in New; a reconciler creates one
// Agent per resource instance and drives it with Start, Stop and Monitor
// under the operation timeouts.
//
// Errors that a caller should act on wrap the sentinels of this package
// (the same values in every agent package):
// ErrNotInstalled and ErrNotConfigured are hard errors (Pacemaker's
// OCF_ERR_INSTALLED and OCF_ERR_CONFIGURED) after which retrying on the same
// node is pointless; anything else is a soft failure.
package agent
