package api

import (
	"fmt"
	"time"

	"github.com/havenha/haven/engine/config"
)

// QuorumView is GET /v1/quorum, the `quorum` object of `status --json`
// (DESIGN.md §8). Add fields; never rename these.
type QuorumView struct {
	Quorate         bool         `json:"quorate"`
	ExpectedVotes   int          `json:"expected_votes"`
	HighestExpected int          `json:"highest_expected"`
	TotalVotes      int          `json:"total_votes"`
	Quorum          int          `json:"quorum"`
	Flags           []string     `json:"flags"`
	Members         []MemberView `json:"members"`
}

// MemberView is one configured node as the answering node sees it.
type MemberView struct {
	Name   string     `json:"name"`
	Votes  int        `json:"votes"`
	Online bool       `json:"online"`
	Links  []LinkView `json:"links"`
	// State is online, dead (failed), left (stopped gracefully) or unseen
	// (not seen since the answering agent started).
	State string `json:"state,omitempty"`
	// Local marks the answering node.
	Local bool `json:"local,omitempty"`
}

// LinkView is one link (one address of the node) and whether the answering
// node reaches the node over it.
type LinkView struct {
	Link    int    `json:"link"`
	Address string `json:"address"`
	Up      bool   `json:"up"`
}

// ErrorBody is the JSON of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	// BaseVersion and CurrentVersion are set on a 409 configuration conflict.
	BaseVersion    *uint64 `json:"base_version,omitempty"`
	CurrentVersion *uint64 `json:"current_version,omitempty"`
}

// StatusView is GET /v1/status, the shape of `haven status --json`
// (DESIGN.md §8). Add fields; never rename these.
type StatusView struct {
	Cluster string `json:"cluster"`
	// Node is the answering node.
	Node string `json:"node"`
	// Leader is the raft leader, the coordinator (Pacemaker's DC); "" when
	// none is known.
	Leader        string         `json:"leader"`
	ConfigVersion uint64         `json:"config_version"`
	Quorum        QuorumView     `json:"quorum"`
	Nodes         []NodeView     `json:"nodes"`
	Resources     []ResourceView `json:"resources"`
	Consensus     ConsensusView  `json:"consensus"`
	// FailedActions are the failures the state records (crm_mon's "Failed
	// Resource Actions"), per node and resource instance.
	FailedActions []FailedAction `json:"failed_actions,omitempty"`
	// Controller is the answering node's resource engine (absent on an
	// agent without one).
	Controller *ControllerView `json:"controller,omitempty"`
}

// FailedAction is one resource instance with recorded failures on a node.
type FailedAction struct {
	Resource    string    `json:"resource"`
	Node        string    `json:"node"`
	State       string    `json:"state"`
	FailCount   int       `json:"fail_count"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	Reason      string    `json:"reason,omitempty"`
	// Held: on_fail stop keeps it stopped until cleanup or failure_timeout.
	Held bool `json:"held,omitempty"`
}

// ControllerView is the answering node's resource engine: whether it
// coordinates, its reconciler mode, its lease and the lost nodes whose
// resources are not recovered yet.
type ControllerView struct {
	Leading    bool      `json:"leading"`
	Mode       string    `json:"mode"`
	ModeWhy    string    `json:"mode_why,omitempty"`
	LeaseValid bool      `json:"lease_valid"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	Unclean    []string  `json:"unclean,omitempty"`
	// LeaseLost: nodes gossip sees whose lease certainly lapsed, treated
	// as lost (coordinator only).
	LeaseLost []string `json:"lease_lost,omitempty"`
}

// NodeView is one configured node in a status.
type NodeView struct {
	Name string `json:"name"`
	// State is online, offline, standby, maintenance, unclean or no-lease
	// (gossip sees it but it answers no lease renewal: treated as lost).
	State string `json:"state"`
	Role  string `json:"role,omitempty"`
	// Voter: a raft voter (else it replicates the log without voting).
	Voter bool `json:"voter"`
}

// ResourceView is one resource in a status: where the coordinator placed it
// and what the nodes reported.
type ResourceView struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// State is started, stopped, starting, stopping, failed or blocked.
	State string `json:"state"`
	// Node is the node it runs on (the first, for clones).
	Node string `json:"node,omitempty"`
	// Nodes are every node it runs on (clone instances).
	Nodes      []string       `json:"nodes"`
	FailCounts map[string]int `json:"fail_counts"`
	// Reason says why it is not placed, when it is not.
	Reason string `json:"reason,omitempty"`
}

// ConsensusView is the answering node's view of the raft log.
type ConsensusView struct {
	// State is Leader, Follower, Candidate or Shutdown.
	State     string   `json:"state"`
	Term      uint64   `json:"term"`
	Applied   uint64   `json:"applied"`
	Voters    []string `json:"voters"`
	NonVoters []string `json:"non_voters,omitempty"`
	// StateIndex is the index of the last command the state machine applied.
	StateIndex uint64 `json:"state_index"`
}

// ConfigView is GET /v1/config: the committed configuration file.
type ConfigView struct {
	// Version is 0 while nothing is committed.
	Version uint64    `json:"version"`
	YAML    string    `json:"yaml"`
	Time    time.Time `json:"time,omitzero"`
	By      string    `json:"by,omitempty"`
	// Stale is set when no raft leader could confirm that this node's copy
	// is current (it may lag: no quorum, or the node is catching up).
	Stale bool `json:"stale,omitempty"`
}

// ConfigRequest is the body of POST /v1/config.
type ConfigRequest struct {
	// YAML is the whole new configuration file.
	YAML string `json:"yaml"`
	// BaseVersion is the committed version the file was edited from
	// (required): the change is refused with 409 if another was committed
	// since.
	BaseVersion *uint64 `json:"base_version"`
	// DryRun: check and diff only, commit nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// By names who applies (user@host), recorded with the commit.
	By string `json:"by,omitempty"`
}

// ConfigResponse answers POST /v1/config.
type ConfigResponse struct {
	Diff config.Diff `json:"diff"`
	// DiffText is Diff rendered for people.
	DiffText string `json:"diff_text"`
	// Version is the committed version after the request: the new one when
	// applied, the current one otherwise.
	Version     uint64 `json:"version"`
	BaseVersion uint64 `json:"base_version"`
	Applied     bool   `json:"applied"`
	DryRun      bool   `json:"dry_run,omitempty"`
	// Placement lists the resources, groups and clones whose nodes the new
	// configuration changes (the scheduler run on the current state with
	// each configuration).
	Placement []PlacementChange `json:"placement_changes"`
	// Notes are what the operator should know (changes that take effect at
	// the next restart of the agents, …).
	Notes []string `json:"notes,omitempty"`
}

// PlacementChange is one resource, group or clone whose nodes change.
type PlacementChange struct {
	ID   string   `json:"id"`
	From []string `json:"from"`
	To   []string `json:"to"`
}

// Error is a refusal the backend returns to the API: the HTTP status and a
// message saying what is wrong and what is expected. Conflicts (409) carry
// both versions.
type Error struct {
	Status         int
	Message        string
	BaseVersion    *uint64
	CurrentVersion *uint64
}

func (e *Error) Error() string { return e.Message }

// Conflict is the 409 of a configuration change whose base is not the
// committed version.
func Conflict(base, current uint64) *Error {
	return &Error{Status: 409, BaseVersion: &base, CurrentVersion: &current,
		Message: fmt.Sprintf("the configuration changed since version %d (now version %d): another change was committed first; "+
			"expected base_version %d — re-read it (haven config show), check the diff and apply again", base, current, current)}
}
