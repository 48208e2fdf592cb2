package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
)

func init() {
	cmd := &cobra.Command{
		Use:   "status [--json] [-c FILE --node NAME]",
		Short: "Show the cluster: coordinator, configuration version, quorum, nodes, resources (like crm_mon -1)",
		Long: "Ask an agent for its view of the cluster: the coordinator (raft leader, Pacemaker's DC), the\n" +
			"committed configuration version, quorum, every node's state and raft role, and every\n" +
			"resource with where it runs and its fail counts. --json prints the object tools rely on\n" +
			"(DESIGN.md §8). Without -c it asks the local agent over its unix socket.",
		Args: cobra.NoArgs,
	}
	addViewCommand(cmd, "print the JSON object",
		func(ctx context.Context, c *client.Client) (statusOutput, error) {
			s, err := c.Status(ctx)
			if err != nil {
				return statusOutput{}, err
			}
			out := statusOutput{StatusView: s}
			// An agent without the endpoint (an older haven) shows none.
			if cv, err := c.Constraints(ctx); err == nil {
				out.Constraints = &cv
			}
			return out, nil
		}, func(w io.Writer, s statusOutput, now time.Time) {
			printClusterStatus(w, s.StatusView, now)
			printConstraints(w, s.Constraints)
		})
}

// statusOutput is what `haven status` prints: the agent's status plus the
// runtime constraints (move/ban preferences, target roles) from
// GET /v1/resources/constraints, as "constraints" in --json.
type statusOutput struct {
	api.StatusView
	Constraints *api.ConstraintsView `json:"constraints,omitempty"`
}

// printConstraints lists the runtime preferences and target roles, like
// the cli-prefer/cli-ban location constraints crm_resource adds.
func printConstraints(w io.Writer, cv *api.ConstraintsView) {
	if cv == nil || len(cv.Preferences)+len(cv.TargetRoles) == 0 {
		return
	}
	fmt.Fprintf(w, "\nRuntime Constraints (haven resource move/ban/disable; undo with clear/enable):\n")
	for _, p := range cv.Preferences {
		fmt.Fprintf(w, "  * %s\n", preferenceText(p))
	}
	for _, r := range cv.TargetRoles {
		fmt.Fprintf(w, "  * %s: target role %s\n", r.Resource, r.Role)
	}
}

// printClusterStatus prints what crm_mon -1 prints, in haven's terms.
func printClusterStatus(w io.Writer, s api.StatusView, now time.Time) {
	fmt.Fprintf(w, "Cluster Summary:\n")
	fmt.Fprintf(w, "  * Cluster name: %s\n", s.Cluster)
	dc := "NONE (no raft leader: a majority of the voters must run)"
	if s.Leader != "" {
		dc = fmt.Sprintf("%s (raft leader, term %d)", s.Leader, s.Consensus.Term)
	}
	fmt.Fprintf(w, "  * Current DC: %s\n", dc)
	cv := "none committed yet"
	if s.ConfigVersion > 0 {
		cv = fmt.Sprintf("%d", s.ConfigVersion)
	}
	fmt.Fprintf(w, "  * Configuration version: %s\n", cv)
	fmt.Fprintf(w, "  * Last updated: %s on %s\n", now.Format("Mon Jan _2 15:04:05 2006"), s.Node)
	q := s.Quorum
	qs := "partition WITHOUT quorum"
	if q.Quorate {
		qs = "partition with quorum"
	}
	fmt.Fprintf(w, "  * Quorum: %s (%d votes of %d expected, quorum %d)\n", qs, q.TotalVotes, q.HighestExpected, q.Quorum)
	fmt.Fprintf(w, "  * %s configured, %s configured\n", plural(len(s.Nodes), "node"), plural(len(s.Resources), "resource"))

	fmt.Fprintf(w, "\nNode List:\n")
	byState := map[string][]string{}
	var order []string
	for _, n := range s.Nodes {
		label := map[string]string{"online": "Online", "offline": "OFFLINE", "standby": "Standby", "maintenance": "Maintenance", "unclean": "UNCLEAN",
			"no-lease": "NO LEASE (online, answers no renewal)"}[n.State]
		if label == "" {
			label = n.State
		}
		if _, ok := byState[label]; !ok {
			order = append(order, label)
		}
		name := n.Name
		if n.Role == "witness" {
			name += "(witness)"
		}
		byState[label] = append(byState[label], name)
	}
	for _, l := range order {
		fmt.Fprintf(w, "  * %s: [ %s ]\n", l, strings.Join(byState[l], " "))
	}
	voters := "-"
	if len(s.Consensus.Voters) > 0 {
		voters = strings.Join(s.Consensus.Voters, " ")
	}
	fmt.Fprintf(w, "  * Raft voters: [ %s ]", voters)
	if len(s.Consensus.NonVoters) > 0 {
		fmt.Fprintf(w, "  non-voters: [ %s ]", strings.Join(s.Consensus.NonVoters, " "))
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "\nFull List of Resources:\n")
	if len(s.Resources) == 0 {
		fmt.Fprintf(w, "  * No resources\n")
	}
	var fails []string
	for _, r := range s.Resources {
		where := ""
		switch {
		case len(r.Nodes) > 1:
			where = " [ " + strings.Join(r.Nodes, " ") + " ]"
		case r.Node != "":
			where = " " + r.Node
		}
		line := fmt.Sprintf("  * %s\t(%s):\t %s%s", r.ID, r.Type, strings.ToUpper(r.State[:1])+r.State[1:], where)
		if r.Reason != "" {
			line += " (" + r.Reason + ")"
		}
		fmt.Fprintln(w, line)
		nodes := make([]string, 0, len(r.FailCounts))
		for n := range r.FailCounts {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			fails = append(fails, fmt.Sprintf("  * %s on %s: fail-count=%d", r.ID, n, r.FailCounts[n]))
		}
	}
	if len(s.FailedActions) > 0 {
		fails = fails[:0]
		for _, f := range s.FailedActions {
			line := fmt.Sprintf("  * %s on %s: %s, fail-count=%d", f.Resource, f.Node, f.State, f.FailCount)
			if !f.LastFailure.IsZero() {
				line += ", last failure " + f.LastFailure.Local().Format("Mon Jan _2 15:04:05 2006")
			}
			if f.Held {
				line += ", held stopped until cleanup"
			}
			if f.Reason != "" {
				line += " (" + f.Reason + ")"
			}
			fails = append(fails, line)
		}
	}
	if len(fails) > 0 {
		fmt.Fprintf(w, "\nFailed Resource Actions:\n%s\n", strings.Join(fails, "\n"))
	}
}
