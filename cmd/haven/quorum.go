package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
)

func init() {
	cmd := &cobra.Command{
		Use:   "quorum [--json] [-c FILE --node NAME]",
		Short: "Show votequorum information, like pcs status corosync",
		Long: "Ask an agent for its membership and quorum view: expected votes, highest expected, total\n" +
			"votes, quorum, flags (Quorate, WaitForAll, TwoNode) and every configured node with its votes,\n" +
			"state and links. Without -c it asks the local agent over its unix socket.",
		Args: cobra.NoArgs,
	}
	addViewCommand(cmd, "print the JSON object (the quorum part of status --json)",
		func(ctx context.Context, c *client.Client) (api.QuorumView, error) { return c.Quorum(ctx) }, printQuorum)
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// printQuorum prints what `pcs status corosync` (corosync-quorumtool -s)
// prints, with haven's states and links.
func printQuorum(w io.Writer, q api.QuorumView, now time.Time) {
	local, online := "", 0
	for _, m := range q.Members {
		if m.Local {
			local = m.Name
		}
		if m.Online {
			online++
		}
	}
	flags := strings.Join(q.Flags, " ")
	if flags == "" {
		flags = "-"
	}
	fmt.Fprintf(w, "Quorum information\n------------------\n")
	fmt.Fprintf(w, "Date:             %s\n", now.Format("Mon Jan _2 15:04:05 2006"))
	fmt.Fprintf(w, "Quorum provider:  haven votequorum\n")
	fmt.Fprintf(w, "Nodes:            %d\n", online)
	fmt.Fprintf(w, "Node name:        %s\n", local)
	fmt.Fprintf(w, "Quorate:          %s\n\n", yesNo(q.Quorate))
	fmt.Fprintf(w, "Votequorum information\n----------------------\n")
	fmt.Fprintf(w, "Expected votes:   %d\n", q.ExpectedVotes)
	fmt.Fprintf(w, "Highest expected: %d\n", q.HighestExpected)
	fmt.Fprintf(w, "Total votes:      %d\n", q.TotalVotes)
	fmt.Fprintf(w, "Quorum:           %d\n", q.Quorum)
	fmt.Fprintf(w, "Flags:            %s\n\n", flags)
	fmt.Fprintf(w, "Membership information\n----------------------\n")
	width := 4
	for _, m := range q.Members {
		width = max(width, len(m.Name)+len(" (local)"))
	}
	fmt.Fprintf(w, "    Votes %-*s %-7s %s\n", width, "Name", "State", "Links")
	for _, m := range q.Members {
		name := m.Name
		if m.Local {
			name += " (local)"
		}
		var links []string
		for _, l := range m.Links {
			st := "down"
			if l.Up {
				st = "up"
			}
			links = append(links, fmt.Sprintf("%d:%s %s", l.Link, l.Address, st))
		}
		state := m.State
		if state == "" {
			state = map[bool]string{true: "online", false: "offline"}[m.Online]
		}
		fmt.Fprintf(w, "    %5d %-*s %-7s %s\n", m.Votes, width, name, state, strings.Join(links, ", "))
	}
}
