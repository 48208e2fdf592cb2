package state

import (
	"time"

	"github.com/havenha/haven/engine/model"
)

// Limits on the bounded histories.
const (
	MaxEvents       = 256
	MaxFenceRecords = 128
)

// InfiniteFailCount is the fail count of a fatal failure (start failure), Pacemaker's INFINITY.
const InfiniteFailCount = int(model.Infinity)

// Data is the whole replicated state. Every field is exported so that View
// copies and snapshots are plain JSON.
type Data struct {
	// Index is the raft index of the last applied command.
	Index uint64 `json:"index"`
	// InputIndex is the index of the last command that changed an input of
	// the scheduler. A placement computed from an older index is stale.
	InputIndex uint64 `json:"input_index"`
	// Config is the committed configuration file.
	Config Config `json:"config"`
	// Nodes is per-node state, by node name.
	Nodes map[string]*NodeState `json:"nodes,omitempty"`
	// Resources is per-resource administrative state, by resource id.
	Resources map[string]*ResourceState `json:"resources,omitempty"`
	// Placement is the coordinator's last accepted plan.
	Placement Placement `json:"placement"`
	// Fencing is the fencing history, oldest first, at most MaxFenceRecords.
	Fencing []FenceRecord `json:"fencing,omitempty"`
	// Events is the event log, oldest first, at most MaxEvents.
	Events []Event `json:"events,omitempty"`
	// EventSeq is the sequence number of the last event ever recorded.
	EventSeq uint64 `json:"event_seq"`
}

// Config is the committed configuration file.
type Config struct {
	// Version starts at 0 (nothing committed) and grows by one per accepted SetConfig.
	Version uint64    `json:"version"`
	YAML    []byte    `json:"yaml,omitempty"`
	Index   uint64    `json:"index,omitempty"` // raft index of the commit
	Time    time.Time `json:"time,omitempty"`
	By      string    `json:"by,omitempty"`
}

// NodeState is a node's administrative and observed state.
type NodeState struct {
	Standby     bool `json:"standby,omitempty"`
	Maintenance bool `json:"maintenance,omitempty"`
	// Attributes are transient node attributes (e.g. pingd), set by agents.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Resources is what this node reported about each resource (instance) id.
	Resources map[string]*Observed `json:"resources,omitempty"`
	// FenceRequested says why the node must be fenced (a failure with
	// on_fail fence); cleared by a confirmed fence of the node.
	FenceRequested string `json:"fence_requested,omitempty"`
}

// Observed resource states.
const (
	Started  = "started"
	Stopped  = "stopped"
	Starting = "starting"
	Stopping = "stopping"
	Failed   = "failed"
	Blocked  = "blocked"
)

// Active reports whether an observed state means the instance may be
// running there: started, starting, stopping, failed (not yet stopped) or
// blocked (a failed stop). A node's Desired waits for such an instance to
// be stopped on the other node, and the coordinator counts it as running.
func Active(s string) bool {
	switch s {
	case Started, Starting, Stopping, Failed, Blocked:
		return true
	}
	return false
}

// Observed is one node's report about one resource.
type Observed struct {
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Since       time.Time `json:"since,omitempty"`
	FailCount   int       `json:"fail_count,omitempty"`
	LastFailure time.Time `json:"last_failure,omitempty"`
	// LastFailureID makes failure reports idempotent: a repeated report of the
	// same failure does not count twice.
	LastFailureID string `json:"last_failure_id,omitempty"`
	// LastFailureIndex is the log index at which the last failure was
	// recorded: the coordinator commits a placement based on it or later so
	// the reporting node knows the failure was in view.
	LastFailureIndex uint64 `json:"last_failure_index,omitempty"`
	// Held: a failure with on_fail stop keeps the instance stopped (the
	// coordinator schedules it with target role Stopped) until cleanup or
	// failure_timeout expiry.
	Held bool `json:"held,omitempty"`
	// LapsedAt is the index at which the coordinator recorded this instance
	// stopped because the node was lost and its lease certainly lapsed, or
	// the node was fenced. Reports of an active state the node made before
	// it saw that index are stale (see Report.Seen).
	LapsedAt uint64 `json:"lapsed_at,omitempty"`
}

// ResourceState is a resource's administrative state.
type ResourceState struct {
	// TargetRole overrides the configuration's meta target_role when set ("Started" or "Stopped").
	TargetRole string `json:"target_role,omitempty"`
	// Preferences are move/ban constraints added at runtime (crm_resource --move/--ban).
	Preferences []Preference `json:"preferences,omitempty"`
}

// Preference kinds.
const (
	PrefMove = "move" // prefer Node with INFINITY (one per resource)
	PrefBan  = "ban"  // -INFINITY on Node
)

// Preference is a runtime location preference.
type Preference struct {
	Kind    string     `json:"kind"`
	Node    string     `json:"node"`
	Since   time.Time  `json:"since"`
	Expires *time.Time `json:"expires,omitempty"`
}

// ActiveAt reports whether the preference still applies at now.
func (p Preference) ActiveAt(now time.Time) bool {
	return p.Expires == nil || now.Before(*p.Expires)
}

// Placement is the plan the coordinator committed.
type Placement struct {
	// BasedOn is the state index the plan was computed from.
	BasedOn uint64 `json:"based_on"`
	// Index is the raft index at which it was committed.
	Index uint64    `json:"index"`
	Time  time.Time `json:"time,omitempty"`
	// Placement maps resource, group and clone ids to their nodes (see model.Plan).
	Placement map[string][]string `json:"placement,omitempty"`
	// Assignments lists each primitive instance's target node.
	Assignments []model.Assignment `json:"assignments,omitempty"`
}

// FenceRecord is one fencing attempt.
type FenceRecord struct {
	Index  uint64    `json:"index"`
	Time   time.Time `json:"time"`
	Node   string    `json:"node"`
	Action string    `json:"action"` // off, reboot, on
	Device string    `json:"device,omitempty"`
	OK     bool      `json:"ok"`
	Error  string    `json:"error,omitempty"`
	By     string    `json:"by,omitempty"`
}

// Event is one line of the bounded event log.
type Event struct {
	Seq      uint64    `json:"seq"`
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Node     string    `json:"node,omitempty"`
	Resource string    `json:"resource,omitempty"`
	Message  string    `json:"message"`
}
