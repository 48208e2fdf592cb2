package model

import "strings"

// Action kinds of a Plan, in the order a transition runs them: stops (and the
// stop half of moves and restarts) before starts.
const (
	ActionStart   = "start"
	ActionStop    = "stop"
	ActionMove    = "move"
	ActionRestart = "restart"
)

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
	// Actions is the transition in execution order: all stops (reverse order
	// constraints) before all starts (order constraints respected).
	Actions []Action `json:"actions"`
}
