package model

import (
	"context"
	"log/slog"
)

// Status is what a monitor observed.
type Status int

const (
	// StatusStopped: the resource is cleanly not running here (OCF_NOT_RUNNING).
	StatusStopped Status = iota
	// StatusRunning: the resource runs and is healthy (OCF_SUCCESS).
	StatusRunning
	// StatusFailed: the resource is in a failed state (any OCF error).
	StatusFailed
)

func (s Status) String() string {
	switch s {
	case StatusStopped:
		return "stopped"
	case StatusRunning:
		return "running"
	case StatusFailed:
		return "failed"
	}
	return "unknown"
}

// Agent runs one resource instance on this node. Contracts:
//   - Start on a started resource and Stop on a stopped one succeed (idempotent).
//   - Every method honours ctx's deadline (the operation timeout) and returns
//     promptly when it ends.
//   - Monitor returns StatusFailed with a reason in err when unhealthy; an error
//     with StatusStopped means the check itself could not be made.
type Agent interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Monitor(ctx context.Context) (Status, error)
}

type probeKey struct{}

// WithProbe marks ctx as a probe: the first, one-off monitor of a resource
// on a node (the reconciler marks it; agents read it with IsProbe). OCF
// scripts then see OCF_RESKEY_CRM_meta_interval=0, as under Pacemaker, and
// some (Filesystem, LVM…) skip checks that would fail on a node where the
// resource never ran. It lives here, beside Agent, so that the reconciler
// and the agents share it without the reconciler importing any agent.
func WithProbe(ctx context.Context) context.Context { return context.WithValue(ctx, probeKey{}, true) }

// IsProbe reports whether ctx was marked by WithProbe.
func IsProbe(ctx context.Context) bool { v, _ := ctx.Value(probeKey{}).(bool); return v }

// AgentEnv is what the node gives an agent when creating it.
type AgentEnv struct {
	Node    string       // this node's name
	DataDir string       // a private folder for this resource instance's files
	Logger  *slog.Logger // never nil
	// SetAttribute records a transient node attribute (used by ping); may be nil.
	SetAttribute func(name, value string)
	// Guard, when not nil, undoes what the agent holds outside the agent
	// process if the agent dies (see Guard); nil when no guard runs.
	Guard Guard
}

// Guard is the node's guard (engine/guard): a companion process that
// performs every held Teardown at once when the agent process dies without
// an orderly exit, so a crashed agent leaves no resource running (a
// software watchdog). An agent whose resource lives outside the agent
// process (a process group, an address, a mount) holds a teardown once the
// resource is up and releases it once it stopped. Safe for concurrent use;
// Hold with the same key replaces the teardown.
type Guard interface {
	Hold(key string, t Teardown)
	Release(key string)
}

// Teardown is what the guard does for one held resource: Kind names a
// handler the guard process knows (kill-group, unmount, vip-address…),
// Args are its arguments. It crosses a pipe as JSON.
type Teardown struct {
	Kind string            `json:"kind"`
	Args map[string]string `json:"args,omitempty"`
}

// ParamProblem is one problem in a resource's params: the key it concerns
// ("" for the params as a whole) and what is wrong and expected.
type ParamProblem struct {
	Key string
	Msg string
}

// OpDefaults are a type's default operation settings (used when the file
// gives none).
type OpDefaults struct {
	MonitorInterval Duration
	MonitorTimeout  Duration
	StartTimeout    Duration
	StopTimeout     Duration
}

// AgentType is a resource type: `vip`, `exec`, `ocf:heartbeat:IPaddr2`…
// Implementations live in engine/agent and vip and are registered by
// cmd/haven.
type AgentType interface {
	// Validate checks params without touching the system.
	Validate(params map[string]any) []ParamProblem
	// New builds an agent for one resource instance (no I/O).
	New(res Resource, env AgentEnv) (Agent, error)
	// Defaults returns the type's default operation timings.
	Defaults() OpDefaults
}

// TypeLookup finds the AgentType for a resource type name.
type TypeLookup func(typeName string) (AgentType, bool)
