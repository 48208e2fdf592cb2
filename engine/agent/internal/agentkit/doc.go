// Package agentkit holds what the generic resource agents share: the
// sentinel errors (re-exported by engine/agent, which documents them), the
// default operation timings, params decoding into ParamProblems, and running
// a program the way every agent must (own process group killed at the
// deadline, output in a file, haven's environment without systemd's
// variables). It lives under engine/agent/internal because the agent
// packages (engine/agent, engine/agent/alert, engine/agent/ping) are its only
// users: the registry in engine/agent imports alert and ping, so these
// helpers cannot live in engine/agent itself without an import cycle.
package agentkit
