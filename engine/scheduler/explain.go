package scheduler

import (
	"fmt"
	"strings"

	"github.com/havenha/haven/engine/model"
)

// Explanation says why each resource went where it went: every node's final
// score at the moment the resource was assigned, with the contributions that
// made it, in assignment order.
type Explanation struct {
	Resources []ResourceScores `json:"resources"`
	// Warnings name configuration or state the scheduler could not use.
	Warnings []string `json:"warnings,omitempty"`
}

// ResourceScores is one resource's (or clone instance's, group's, clone's) scores.
type ResourceScores struct {
	Resource string      `json:"resource"`
	Kind     string      `json:"kind"` // primitive, group or clone
	Node     string      `json:"node,omitempty"`
	Reason   string      `json:"reason,omitempty"`
	Scores   []NodeScore `json:"scores"`
}

// NodeScore is a node's final score for a resource and how it was reached.
type NodeScore struct {
	Node          string         `json:"node"`
	Score         model.Score    `json:"score"`
	Contributions []Contribution `json:"contributions,omitempty"`
}

// Contribution is one score added for a reason (a constraint, stickiness,
// a fail count, a node's state, a colocated resource's scores...).
type Contribution struct {
	Source string      `json:"source"`
	Score  model.Score `json:"score"`
}

var kindNames = map[kind]string{kPrimitive: "primitive", kGroup: "group", kClone: "clone"}

// snapshot records r's scores at decision time.
func (w *working) snapshot(r *resource) {
	if w.snaps == nil {
		w.snaps = map[*resource]table{}
	}
	if _, done := w.snaps[r]; !done {
		w.snapOrder = append(w.snapOrder, r)
	}
	w.snaps[r] = r.table().clone()
}

func (w *working) explain() Explanation {
	var e Explanation
	for _, r := range w.snapOrder {
		t := w.snaps[r]
		rs := ResourceScores{Resource: r.id, Kind: kindNames[r.kind], Reason: r.reason}
		if n := r.location(); n >= 0 && r.kind != kClone {
			rs.Node = w.nodes[n].name
		}
		for i, n := range w.nodes {
			ns := NodeScore{Node: n.name, Score: t.s[i]}
			ns.Contributions = t.why[i] // capped by the snapshot's clone: never appended to again
			rs.Scores = append(rs.Scores, ns)
		}
		e.Resources = append(e.Resources, rs)
	}
	e.Warnings = append(e.Warnings, w.warnings...)
	return e
}

// Scores returns resource -> node -> score, as `haven simulate --json` shows.
func (e Explanation) Scores() map[string]map[string]model.Score {
	out := map[string]map[string]model.Score{}
	for _, r := range e.Resources {
		m := map[string]model.Score{}
		for _, s := range r.Scores {
			m[s.Node] = s.Score
		}
		out[r.Resource] = m
	}
	return out
}

// String prints the scores like `crm_simulate -s`, one line per resource
// and node, each followed by the contributions that made it.
func (e Explanation) String() string {
	var b strings.Builder
	for _, r := range e.Resources {
		for _, s := range r.Scores {
			fmt.Fprintf(&b, "%s_allocate: %s allocation score on %s: %s\n", r.Kind, r.Resource, s.Node, s.Score)
			for _, c := range s.Contributions {
				fmt.Fprintf(&b, "    %-10s %s\n", c.Score, c.Source)
			}
		}
	}
	for _, w := range e.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}
