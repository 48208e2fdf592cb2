package scheduler

import (
	"time"

	"github.com/havenha/haven/engine/model"
)

// Input is everything the scheduler decides from: the committed configuration
// and a snapshot of the cluster's state. It is plain data (JSON-serialisable:
// it is also the `haven simulate --state FILE` format) and Compute never
// modifies it.
type Input struct {
	// Cluster is the committed configuration.
	Cluster *model.Cluster `json:"cluster,omitempty"`
	// Nodes is the status of each configured node, keyed by node name. A
	// configured node missing from the map is offline (and clean).
	Nodes map[string]NodeStatus `json:"nodes"`
	// Quorate says whether this partition has quorum. Without quorum the
	// cluster's no_quorum_policy applies: stop (everything stops), freeze
	// (nothing new starts, running resources stay), ignore (as if quorate).
	Quorate bool `json:"quorate"`
	// Resources is the observed state of resource instances, one entry per
	// primitive (or clone instance) per node where it is known. Entries with
	// state "stopped" and no failures may be left out.
	Resources []Observed `json:"resources,omitempty"`
	// Admin holds administrative overrides from the replicated state.
	Admin Admin `json:"admin,omitempty"`
	// Stonith: fencing is on and the coordinator can fence. A lost node the
	// state shows running something is fenced before its resources start
	// elsewhere, never recovered on its lease alone; so is a live node with
	// a fence request (on_fail fence) or a blocked instance (a failed stop).
	Stonith bool `json:"stonith,omitempty"`
	// Leases: every node's Lease holds the coordinator's lease snapshot. A
	// lost node with active resources is then recovered only once its lease
	// has certainly lapsed; without Leases (offline what-ifs, Pacemaker
	// CIBs) a node that is not online runs nothing.
	Leases bool `json:"leases,omitempty"`
	// Coordinator, when set, lets the plan hand the coordinator role over
	// (a handoff action) once the cluster is settled.
	Coordinator *Coordinator `json:"coordinator,omitempty"`
}

// Coordinator names the node computing the plan and the raft voters.
type Coordinator struct {
	Self   string   `json:"self"`
	Voters []string `json:"voters"`
}

// LeaseSnapshot is what the coordinator's lease table says about a node, as
// plain times on the coordinator's clock.
type LeaseSnapshot struct {
	// RecoverAt: after this instant the node's lease has certainly lapsed
	// (its last ack, or this coordinator's election, plus lease × (1 +
	// drift) + margin); zero when unknown.
	RecoverAt time.Time `json:"recover_at,omitzero"`
	// LapseAt: after this instant the node counts as lost even while gossip
	// sees it (no ack for a whole bound and a renewal unanswered); zero when
	// there is no such evidence.
	LapseAt time.Time `json:"lapse_at,omitzero"`
	// Fenced: a fence of the node was confirmed in this coordinator's term.
	Fenced bool `json:"fenced,omitempty"`
	// Answering: the node acked a renewal recently (a handoff target must).
	Answering bool `json:"answering,omitempty"`
}

// FenceAttempt is the newest fencing attempt against a node.
type FenceAttempt struct {
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

// NodeStatus is one node's membership and administrative status.
type NodeStatus struct {
	// Online: the node is a live member of this partition.
	Online bool `json:"online"`
	// Unclean: the node was lost while it may still run resources (not yet
	// fenced). Like offline it runs nothing new.
	Unclean bool `json:"unclean,omitempty"`
	// Standby: administrative standby; the node runs no resources.
	Standby bool `json:"standby,omitempty"`
	// Maintenance: the node's resources are left alone (neither started,
	// stopped nor moved) and nothing new is placed on it.
	Maintenance bool `json:"maintenance,omitempty"`
	// Attributes are transient node attributes (e.g. pingd set by a ping
	// resource); they are merged over the node's configured Attributes and
	// are what location rules see. #uname is always the node's name.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Lease is the coordinator's lease snapshot (used when Input.Leases).
	Lease LeaseSnapshot `json:"lease,omitzero"`
	// FenceRequested says why the node must be fenced (on_fail fence).
	FenceRequested string `json:"fence_requested,omitempty"`
	// LastFence is the newest fencing attempt against the node, if any.
	LastFence *FenceAttempt `json:"last_fence,omitempty"`
}

// Observed states of a resource instance on a node.
const (
	StateRunning = "running"
	StateStopped = "stopped"
	// StateFailed: the instance failed on this node (a failed monitor or
	// start) and may still be partly active: it needs a stop there before it
	// runs again (recovery is a restart in place when still allowed there).
	StateFailed = "failed"
)

// Observed is the state of one resource instance on one node.
type Observed struct {
	// Resource is the primitive id. For an instance of an anonymous clone it
	// may carry Pacemaker's instance suffix ("rs-systemd-unbound:0"); the
	// suffix is ignored because anonymous instances are interchangeable.
	Resource string `json:"resource"`
	// Node is the node name.
	Node string `json:"node"`
	// State is running, stopped or failed.
	State string `json:"state"`
	// FailCount counts failures of this resource on this node since the last
	// cleanup (a failed start counts as INFINITY: start failures are fatal).
	FailCount model.Score `json:"fail_count,omitempty"`
	// LastFailure is when the last failure happened (for failure_timeout).
	LastFailure time.Time `json:"last_failure,omitempty"`
	// Pending: a start or stop is in flight (the cluster is not settled).
	Pending bool `json:"pending,omitempty"`
	// Blocked: a stop failed; the instance is left alone until cleanup, and
	// with stonith its node is fenced.
	Blocked bool `json:"blocked,omitempty"`
}

// Admin holds administrative overrides (haven resource move/ban/enable/...).
type Admin struct {
	// TargetRole overrides a resource's (primitive, group or clone)
	// meta.target_role: "Started" or "Stopped" (haven resource enable/disable).
	TargetRole map[string]string `json:"target_role,omitempty"`
	// Preferences are extra location scores from move and ban commands.
	Preferences []Preference `json:"preferences,omitempty"`
	// Unmanaged resources are left exactly as observed: never started,
	// stopped or moved (Pacemaker's is-managed=false).
	Unmanaged []string `json:"unmanaged,omitempty"`
}

// Preference is a named extra location score, e.g. {Name: "move", Resource:
// "web", Node: "n2", Score: INFINITY} or {Name: "ban", Node: "n1", Score:
// -INFINITY}. It behaves exactly like a location constraint.
type Preference struct {
	Name     string      `json:"name"`
	Resource string      `json:"resource"`
	Node     string      `json:"node"`
	Score    model.Score `json:"score"`
}
