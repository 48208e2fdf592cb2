package main

import (
	"strings"

	"github.com/havenha/haven/engine/api"
)

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
