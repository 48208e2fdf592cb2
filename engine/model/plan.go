package model

import (
	"strings"
	"time"
)

// Action kinds of a Plan, in the order a transition runs them: stops (and the
// stop half of moves and restarts) before starts.
const (
	ActionStart   = "start"
	ActionStop    = "stop"
	ActionMove    = "move"
	ActionRestart = "restart"
	// ActionFence powers Node off before any of its resources start
	// elsewhere (stonith on). Fences come first in a plan.
	ActionFence = "fence"
	// ActionHandoff moves the coordinator role from From to Node: the
	// failure of a node running resources then costs no election.
	ActionHandoff = "handoff"
)

// Node classes of a Plan (NodeState.State), decided by the scheduler's
// classify stage from membership, the coordinator's lease snapshot and the
// fencing history.
const (
	NodeOnline      = "online"      // a live member that may run resources
	NodeStandby     = "standby"     // live, administratively kept empty
	NodeMaintenance = "maintenance" // live, its resources left alone
	NodeOffline     = "offline"     // not a live member and running nothing
	// NodeUnclean: a live member that must be fenced (on_fail fence, a
	// failed stop); nothing leaves or starts there until the fence.
	NodeUnclean = "unclean"
	// NodeLostUnclean: not a live member (or its lease lapsed) while the
	// state shows resources active there, which may still run: they are held
	// until the node is fenced or its lease has certainly lapsed.
	NodeLostUnclean = "lost-unclean"
	// NodeLostLeaseLapsed: lost, and its lease has certainly lapsed: it has
	// stopped what it ran, which may start elsewhere.
	NodeLostLeaseLapsed = "lost-lease-lapsed"
	// NodeFenced: confirmed powered off by a fence.
	NodeFenced = "fenced"
)

// NodeState is one node's class in a plan, with the reason.
type NodeState struct {
	Node   string `json:"node"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Active lists the instances the observed state shows active on a lost
	// node: held there (lost-unclean) or to be recorded stopped before they
	// start elsewhere (lost-lease-lapsed).
	Active []string `json:"active,omitempty"`
}

// Assignment places one resource instance on one node. Resource is the
// primitive id; Instance is the clone instance id ("PRIMITIVE:N", as
// Pacemaker names anonymous clone instances) or empty for a primitive that is
// not cloned; Node is empty when the instance must not run anywhere.
type Assignment struct {
	Resource string `json:"resource"`
	Instance string `json:"instance,omitempty"`
	Node     string `json:"node,omitempty"`
	// Reason says why Node is empty (e.g. "no node can run it", "target_role
	// Stopped", "no quorum") or why the instance stays put; empty otherwise.
	Reason string `json:"reason,omitempty"`
}

// InstanceID returns the id of the instance a places: Instance for a clone
// instance, else Resource.
func (a Assignment) InstanceID() string {
	if a.Instance != "" {
		return a.Instance
	}
	return a.Resource
}

// SplitInstance returns an instance id's primitive and clone suffix:
// ("hb", ":1") for "hb:1", (id, "") for an id without one.
func SplitInstance(id string) (prim, suffix string) {
	if i := strings.LastIndexByte(id, ':'); i > 0 {
		return id[:i], id[i:]
	}
	return id, ""
}

// Action is one step of a transition.
//   - start: start Resource on Node.
//   - stop: stop Resource on Node.
//   - move: stop Resource on From, then start it on Node.
//   - restart: stop and start Resource on Node (recovery of a failed instance).
//   - fence: power Node off (Resource empty).
//   - handoff: hand the coordinator role from From to Node (Resource empty).
//
// For clone instances Resource is the primitive id and Instance the instance.
type Action struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
	Instance string `json:"instance,omitempty"`
	Node     string `json:"node,omitempty"`
	From     string `json:"from,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Plan is the scheduler's decision: where everything runs and how to get there.
type Plan struct {
	// Placement maps every primitive, group and clone id to the sorted list of
	// nodes it runs on after the transition (empty: stopped). A group runs where
	// its members run; a clone and its cloned primitive map to every node
	// running an instance.
	Placement map[string][]string `json:"placement"`
	// Assignments lists every primitive instance's target, in assignment order.
	Assignments []Assignment `json:"assignments"`
	// Actions is the transition in execution order: fences first, then all
	// stops (reverse order constraints) before all starts (order constraints
	// respected), and a coordinator handoff last.
	Actions []Action `json:"actions"`
	// Nodes classifies every configured node (see the Node* constants).
	Nodes []NodeState `json:"nodes,omitempty"`
	// RecheckAt is the earliest instant at which the plan changes by itself
	// with the same input (a lease certainly lapsing, a failure or a
	// preference expiring); zero when none.
	RecheckAt time.Time `json:"recheck_at,omitzero"`
}
