package main

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

// placementChanges is what a configuration change would do to placement:
// the scheduler run twice on the same replicated state and membership view,
// once with the committed configuration and once with the new one (as the
// coordinator builds its input, engine/controller.BuildInput), and the
// resources, groups and clones whose nodes differ. old may be nil (nothing
// committed yet: everything starts from stopped).
func placementChanges(old, next *model.Cluster, view state.Data, self string, alive func(string) bool, quorate bool, now time.Time) []api.PlacementChange {
	plan := func(c *model.Cluster) map[string][]string {
		if c == nil {
			return map[string][]string{}
		}
		d := controller.BuildInput(controller.CoordInput{View: view, Cluster: c, Self: self, Alive: alive, Quorate: quorate}, now)
		p, _ := scheduler.Compute(d.Input, now)
		return p.Placement
	}
	before, after := plan(old), plan(next)
	ids := map[string]bool{}
	for id := range before {
		ids[id] = true
	}
	for id := range after {
		ids[id] = true
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	out := []api.PlacementChange{}
	for _, id := range sorted {
		from, to := before[id], after[id]
		if slices.Equal(from, to) {
			continue
		}
		out = append(out, api.PlacementChange{ID: id, From: orEmpty(from), To: orEmpty(to)})
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// placementText renders placement changes for people.
func placementText(changes []api.PlacementChange) string {
	if len(changes) == 0 {
		return "placement: no change\n"
	}
	var b strings.Builder
	b.WriteString("placement changes:\n")
	where := func(nodes []string) string {
		if len(nodes) == 0 {
			return "stopped"
		}
		return strings.Join(nodes, " ")
	}
	for _, c := range changes {
		b.WriteString("  " + c.ID + ": " + where(c.From) + " -> " + where(c.To) + "\n")
	}
	return b.String()
}
