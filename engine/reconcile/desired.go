package reconcile

import (
	"context"
	"time"

	"github.com/havenha/haven/engine/model"
)

// Mode says how far a node may act on its desired instances.
type Mode int

const (
	// ModeRun: stop what must not run here, start what must.
	ModeRun Mode = iota
	// ModeFreeze: start nothing, stop nothing because placement changed;
	// running instances keep running and are monitored (Pacemaker's
	// no-quorum-policy=freeze). A failed instance is still stopped.
	ModeFreeze
	// ModeStopAll: stop every instance on this node, in reverse start order.
	ModeStopAll
	// ModeMaintenance: touch nothing — no probes, monitors, starts or stops —
	// whatever the placement or the lease (Pacemaker's maintenance mode for
	// a node). Leaving it probes every instance again.
	ModeMaintenance
)

func (m Mode) String() string {
	switch m {
	case ModeRun:
		return "run"
	case ModeFreeze:
		return "freeze"
	case ModeStopAll:
		return "stop-all"
	case ModeMaintenance:
		return "maintenance"
	}
	return "unknown"
}

// Instance is one resource instance as the reconciler sees it.
type Instance struct {
	// ID is the instance id: the primitive id, or "PRIMITIVE:N" for a clone
	// instance (model.Assignment.Instance).
	ID string
	// Resource is the primitive's definition.
	Resource model.Resource
	// After lists the instances that must be observed started (here or on
	// any node) before this one starts: the `first` side of every mandatory
	// order constraint with this instance as `then`, and the previous member
	// of its group. The reconciler waits for each; it does not infer order
	// from anything else.
	After []string
	// Unmanaged: the cluster must not touch this instance here (Pacemaker's
	// is-managed=false, or maintenance of the resource): no probes,
	// monitors, starts or stops. When it is managed again it is probed.
	Unmanaged bool
}

// Desired is what this node must run, derived from the replicated state at
// Index. The adapter pushes a new value on every applied index (Set is
// cheap and level-triggered; the same value twice changes nothing).
type Desired struct {
	// Index is the state index the value was derived from (the applied index).
	Index uint64
	// PlanIndex is the state index the committed placement in that state was
	// computed from (its base index). A failure recorded at index N is in the
	// coordinator's view in every placement with PlanIndex >= N: only then
	// does a failed instance start here again. Zero means "use Index", which
	// is right only when the adapter commits a placement after every
	// failure before it applies further entries (see coord.Proposal.Changed).
	PlanIndex uint64
	// Instances are the instances this node must run, in start order (the
	// scheduler's order). Stops run in the reverse order.
	Instances []Instance
	// Others are the other configured instances this node could run (for a
	// clone: the one instance id this node would use). The reconciler probes
	// them once to learn what already runs here and stops any that does.
	Others []Instance
	// Mode is the cluster's wish for this node (ModeRun normally; ModeStopAll
	// when the node is in standby or the cluster lost quorum with policy stop;
	// ModeFreeze for policy freeze). A lapsed lease can only make it stricter.
	Mode Mode
	// Blocked lists the instances the replicated state records as blocked
	// on this node (a failed stop or on_fail block, not cleaned up). A
	// reconciler that has not probed such an instance yet (it just started)
	// leaves it alone as blocked instead of probing and acting on it.
	Blocked []string
	// NoQuorumPolicy overrides Config.NoQuorumPolicy when not empty
	// (the committed configuration's cluster.no_quorum_policy).
	NoQuorumPolicy string
	// StartedOn returns the nodes where an instance is currently observed started
	// (the replicated observed state). It is called from the
	// reconciler's goroutine and must be safe for that; nil means "nowhere".
	StartedOn func(instance string) []string
}

// State is an instance's observed state, as shown by `haven status`.
type State string

// Observed states (DESIGN.md §8's resource states).
const (
	StateStarting State = "starting"
	StateStarted  State = "started"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
	StateFailed   State = "failed"
	StateBlocked  State = "blocked"
)

// Operation names, as reported in Observation.Op.
const (
	OpProbe   = "probe"
	OpStart   = "start"
	OpStop    = "stop"
	OpMonitor = "monitor"
)

// on_fail values (model.Op.OnFail).
const (
	OnFailRestart = "restart"
	OnFailStop    = "stop"
	OnFailStandby = "standby"
	OnFailIgnore  = "ignore"
	OnFailFence   = "fence"
	OnFailBlock   = "block"
)

// Observation is one state change of one instance on one node. Recording
// the same observation twice must have the effect of recording it once.
type Observation struct {
	// ID is unique per observation ("NODE@RUN-SEQ"): a report retried after
	// an error that was in fact committed carries the same ID, so the state
	// machine can count a failure once.
	ID       string
	Node     string
	Instance string // instance id ("web", "unbound:1")
	Resource string // primitive id
	State    State
	// Op is the operation that produced the observation (probe, start, stop,
	// monitor).
	Op string
	// OnFail is the effective on_fail of the failed operation (failures only):
	// the leader applies standby, fence and the fail count from it.
	OnFail string
	// Reason says what failed or why the instance is blocked.
	Reason string
	// At is the node's clock reading (informational; not comparable across nodes).
	At time.Time
	// Index is the Desired index the node was acting on.
	Index uint64
}

// Reporter records observations in the cluster's replicated state.
type Reporter interface {
	// Report returns once o is durably recorded (committed in the log),
	// with the log index at which it was recorded, numbered like
	// Desired.Index (a Desired with Index >= that index was computed with
	// the observation in view), or 0 when the record changed nothing a
	// placement depends on (a stale failure the state did not count: the
	// reconciler then waits for no new placement). The reconciler calls it
	// from one goroutine, in order, and retries on error.
	Report(ctx context.Context, o Observation) (index uint64, err error)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(ctx context.Context, o Observation) (uint64, error)

// Report calls f.
func (f ReporterFunc) Report(ctx context.Context, o Observation) (uint64, error) { return f(ctx, o) }
