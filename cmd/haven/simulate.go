package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/cib"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/simulate"
)

type simulateFlags struct {
	configFile, stateFile, cibFile string
	down, up, standby, fail, attrs []string
	noQuorum, scores, asJSON       bool
}

func init() {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate (-c FILE [--state FILE] | --cib CIB.xml) [what-if flags]",
		Short: "Compute placement and transitions offline, like crm_simulate",
		Long: `simulate runs haven's scheduler without a cluster and prints the current placement, the
transition and the revised placement, as crm_simulate does.

With -c and no --state, the current state is the steady state: every node online and every
resource where the scheduler puts it. --state FILE gives a saved scheduler input (JSON, the
format of engine/scheduler.Input). --cib reads a Pacemaker CIB (configuration and status).
What-if flags then change the state: --down/--up/--standby NODE, --fail RSC@NODE (a failed
monitor: the fail count grows by one), --no-quorum.

A node taken --down was lost (crm_simulate's --node-fail). With stonith off it was lost long
enough for its lease to have certainly lapsed, so its resources start elsewhere. With stonith on
(a CIB or a state file may have it; this binary refuses it in haven.yaml until fencing is built)
the plan fences it first and holds its resources; the transition then continues "once the
fences are confirmed", as crm_simulate shows it after a successful fence. The revised status
names every lost node's class (engine/scheduler's classify stage: lost-unclean, fenced...).

Quorum is votequorum's, computed by the code membership runs (engine/quorum), and printed
with its votes as haven status prints them. A what-if is of a running cluster: every node has
been seen, so wait_for_all has ended and a node taken --down is simply not live, and the
highest expected votes count every configured vote; under two_node the survivor keeps quorum 1.
With -c the quorum follows the votes of the online nodes. A --state file's or CIB's own quorate
is kept until --down or --up changes the nodes; --no-quorum overrides all. --json gives the
votes as "votes", with "quorate_from" (votes, state, cib or no-quorum) saying which applied,
every node's class as "nodes", fences as actions, and the plan after them as "after_fence".`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runSimulate(c.OutOrStdout(), f, time.Now()) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.configFile, "config", "c", "", "haven configuration file")
	fl.StringVar(&f.stateFile, "state", "", "saved scheduler input (JSON) to start from")
	fl.StringVar(&f.cibFile, "cib", "", "Pacemaker CIB XML to read instead of -c")
	fl.StringArrayVar(&f.down, "down", nil, "take NODE down (repeatable)")
	fl.StringArrayVar(&f.up, "up", nil, "bring NODE up (repeatable)")
	fl.StringArrayVar(&f.standby, "standby", nil, "put NODE in standby (repeatable)")
	fl.StringArrayVar(&f.fail, "fail", nil, "fail RSC@NODE: a failed monitor (repeatable)")
	fl.StringArrayVar(&f.attrs, "attr", nil, "set a transient node attribute NODE:NAME=VALUE, e.g. t3021cent:pingd=0 (repeatable)")
	fl.BoolVar(&f.noQuorum, "no-quorum", false, "simulate a partition without quorum")
	fl.BoolVar(&f.scores, "scores", false, "show every allocation score and its contributions (like crm_simulate -s)")
	fl.BoolVar(&f.asJSON, "json", false, "print {placement, actions, scores} as JSON")
	addCommand(cmd)
}

func runSimulate(out io.Writer, f simulateFlags, now time.Time) error {
	src, err := simulateSource(f, now)
	if err != nil {
		return err
	}
	res, err := simulate.Run(src, simulate.WhatIf{Down: f.down, Up: f.up, Standby: f.standby, Fail: f.fail,
		Attrs: f.attrs, NoQuorum: f.noQuorum}, now)
	if err != nil {
		return err
	}
	final, finalIn := res.Plan, res.After
	if res.AfterFence != nil {
		final, finalIn = *res.AfterFence, *res.Fenced
	}
	if f.asJSON {
		type action struct {
			Action   string `json:"action"`
			Resource string `json:"resource,omitempty"`
			Node     string `json:"node,omitempty"`
			From     string `json:"from,omitempty"`
			Instance string `json:"instance,omitempty"`
			Reason   string `json:"reason,omitempty"`
		}
		actions := func(p model.Plan) []action {
			list := []action{}
			for _, a := range p.Actions {
				list = append(list, action{Action: a.Action, Resource: a.Resource, Node: a.Node, From: a.From, Instance: a.Instance, Reason: a.Reason})
			}
			return list
		}
		type afterFence struct {
			Placement map[string][]string `json:"placement"`
			Actions   []action            `json:"actions"`
			Nodes     []model.NodeState   `json:"nodes"`
		}
		doc := struct {
			Placement  map[string][]string               `json:"placement"`
			Actions    []action                          `json:"actions"`
			Nodes      []model.NodeState                 `json:"nodes"`
			AfterFence *afterFence                       `json:"after_fence,omitempty"`
			Scores     map[string]map[string]model.Score `json:"scores"`
			Quorate    bool                              `json:"quorate"`
			Votes      simulate.Votes                    `json:"votes"`
			Warnings   []string                          `json:"warnings,omitempty"`
			Unmodelled []string                          `json:"unmodelled,omitempty"`
		}{Placement: res.Plan.Placement, Actions: actions(res.Plan), Nodes: res.Plan.Nodes, Scores: res.Why.Scores(),
			Quorate: res.After.Quorate, Votes: res.AfterVotes, Warnings: res.Why.Warnings, Unmodelled: res.Unmodelled}
		if res.AfterFence != nil {
			doc.AfterFence = &afterFence{Placement: final.Placement, Actions: actions(final), Nodes: final.Nodes}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	for _, u := range res.Unmodelled {
		fmt.Fprintf(out, "warning: not modelled by haven (skipped): %s\n", u)
	}
	fmt.Fprintln(out, "Current cluster status:")
	printStatus(out, res.Before, res.BeforeVotes, simulate.CurrentPlacement(res.Before), nil)
	fmt.Fprintln(out)
	if len(res.Changes) > 0 {
		fmt.Fprintln(out, "Performing requested modifications:")
		for _, c := range res.Changes {
			fmt.Fprintf(out, "  * %s\n", c)
		}
		fmt.Fprintln(out)
	}
	if f.scores {
		fmt.Fprintln(out, "Allocation scores:")
		fmt.Fprint(out, res.Why.String())
		fmt.Fprintln(out)
	} else {
		for _, w := range res.Why.Warnings {
			fmt.Fprintf(out, "warning: %s\n", w)
		}
	}
	fmt.Fprintln(out, "Transition Summary:")
	printSummary(out, res.Plan)
	if res.AfterFence != nil {
		fmt.Fprintln(out, "  Once the fences are confirmed:")
		printSummary(out, *res.AfterFence)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Executing Cluster Transition:")
	printExecuted(out, res.Plan)
	if res.AfterFence != nil {
		printExecuted(out, *res.AfterFence)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Revised Cluster Status:")
	printStatus(out, finalIn, res.AfterVotes, final.Placement, final.Nodes)
	return nil
}

// printSummary prints a plan's actions as crm_simulate's Transition Summary.
func printSummary(out io.Writer, p model.Plan) {
	for _, a := range p.Actions {
		id := a.Resource
		if a.Instance != "" {
			id = a.Instance
		}
		var line string
		switch a.Action {
		case model.ActionFence:
			line = fmt.Sprintf("  * Fence (off) %s '%s'", a.Node, a.Reason)
		case model.ActionHandoff:
			line = fmt.Sprintf("  * Handoff    coordinator     ( %s -> %s )  due to %s", a.From, a.Node, a.Reason)
		default:
			where := "( " + a.Node + " )"
			if a.Action == model.ActionMove {
				where = "( " + a.From + " -> " + a.Node + " )"
			}
			line = fmt.Sprintf("  * %-10s %-15s %s", strings.ToUpper(a.Action[:1])+a.Action[1:], id, where)
			if a.Reason != "" {
				line += "  due to " + a.Reason
			}
		}
		fmt.Fprintln(out, line)
	}
}

// printExecuted prints a plan's steps as crm_simulate's Executing Cluster Transition.
func printExecuted(out io.Writer, p model.Plan) {
	for _, a := range p.Actions {
		id := a.Resource
		if a.Instance != "" {
			id = a.Instance
		}
		switch a.Action {
		case model.ActionFence:
			fmt.Fprintf(out, "  * Fencing %s (off)\n", a.Node)
		case model.ActionStart:
			fmt.Fprintf(out, "  * Resource action: %-15s start on %s\n", id, a.Node)
		case model.ActionStop:
			fmt.Fprintf(out, "  * Resource action: %-15s stop on %s\n", id, a.Node)
		case model.ActionMove:
			fmt.Fprintf(out, "  * Resource action: %-15s stop on %s\n", id, a.From)
			fmt.Fprintf(out, "  * Resource action: %-15s start on %s\n", id, a.Node)
		case model.ActionRestart:
			fmt.Fprintf(out, "  * Resource action: %-15s stop on %s\n", id, a.Node)
			fmt.Fprintf(out, "  * Resource action: %-15s start on %s\n", id, a.Node)
		}
	}
}

// simulateSource loads the starting state.
func simulateSource(f simulateFlags, now time.Time) (simulate.Source, error) {
	var src simulate.Source
	switch {
	case f.cibFile != "" && (f.configFile != "" || f.stateFile != ""):
		return src, fmt.Errorf("--cib reads configuration and status from the CIB; do not combine it with -c or --state")
	case f.cibFile != "":
		res, err := cib.ReadFile(f.cibFile)
		if err != nil {
			return src, err
		}
		return simulate.Source{Input: res.Input, Unmodelled: res.Unmodelled, QuorateFrom: simulate.FromCIB}, nil
	}
	src.QuorateFrom = simulate.FromVotes
	if f.stateFile != "" {
		src.QuorateFrom = simulate.FromState
		data, err := os.ReadFile(f.stateFile)
		if err != nil {
			return src, fmt.Errorf("read state: %w", err)
		}
		if err := json.Unmarshal(data, &src.Input); err != nil {
			return src, fmt.Errorf("state %s: %v; expected the JSON of a scheduler input", f.stateFile, err)
		}
	}
	if f.configFile != "" {
		c, err := config.Load(f.configFile, config.Options{})
		if err != nil {
			return src, err
		}
		src.Input.Cluster = c
	}
	if src.Input.Cluster == nil {
		return src, fmt.Errorf("no configuration: give -c FILE, a --state FILE holding \"cluster\", or --cib CIB.xml")
	}
	if f.stateFile == "" {
		src.Input = simulate.Steady(src.Input.Cluster, now)
	}
	return src, nil
}

// printStatus prints nodes and resources like crm_simulate's status sections,
// with the votes on the quorum line.
// classes, when given, are the plan's node classes: lost nodes then show
// why (lease lapsed, fenced) and unclean ones what waits for the fence.
func printStatus(out io.Writer, in scheduler.Input, q simulate.Votes, pl map[string][]string, classes []model.NodeState) {
	c := in.Cluster
	var online, offline []string
	class := map[string]model.NodeState{}
	for _, ns := range classes {
		class[ns.Node] = ns
	}
	fmt.Fprintln(out, "  * Node List:")
	for _, n := range c.Nodes {
		st := in.Nodes[n.Name]
		cl, classified := class[n.Name]
		switch {
		case classified && cl.State == model.NodeLostUnclean:
			fmt.Fprintf(out, "    * Node %s: UNCLEAN (offline): %s\n", n.Name, cl.Reason)
		case classified && cl.State == model.NodeUnclean:
			fmt.Fprintf(out, "    * Node %s: UNCLEAN (online): %s\n", n.Name, cl.Reason)
		case classified && cl.State == model.NodeFenced:
			fmt.Fprintf(out, "    * Node %s: OFFLINE (fenced)\n", n.Name)
		case st.Unclean:
			fmt.Fprintf(out, "    * Node %s: UNCLEAN (offline)\n", n.Name)
		case !st.Online:
			offline = append(offline, n.Name)
		case st.Standby:
			fmt.Fprintf(out, "    * Node %s: standby\n", n.Name)
		case st.Maintenance:
			fmt.Fprintf(out, "    * Node %s: maintenance\n", n.Name)
		default:
			online = append(online, n.Name)
		}
	}
	if len(online) > 0 {
		fmt.Fprintf(out, "    * Online: [ %s ]\n", strings.Join(online, " "))
	}
	if len(offline) > 0 {
		fmt.Fprintf(out, "    * OFFLINE: [ %s ]\n", strings.Join(offline, " "))
	}
	// The votes as `haven status` prints them: "expected" is the highest
	// expected votes, the divisor of the quorum.
	quorumLine := fmt.Sprintf("partition with quorum (%d votes of %d expected, quorum %d)", q.TotalVotes, q.HighestExpected, q.Quorum)
	if !in.Quorate {
		quorumLine = fmt.Sprintf("partition WITHOUT quorum (%d votes of %d expected, quorum %d): no_quorum_policy %s",
			q.TotalVotes, q.HighestExpected, q.Quorum, c.NoQuorumPolicy())
	}
	fmt.Fprintf(out, "  * Quorum: %s\n", quorumLine)
	if q.From != simulate.FromVotes && q.Quorate != in.Quorate {
		verdict := "not quorate"
		if q.Quorate {
			verdict = "quorate"
		}
		fmt.Fprintf(out, "    (quorum as given by %s; the votes alone are %s)\n", simulate.FromText[q.From], verdict)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "  * Full List of Resources:")
	wrapped := map[string]bool{}
	for _, g := range c.Groups {
		for _, m := range g.Resources {
			wrapped[m] = true
		}
	}
	for _, cl := range c.Clones {
		wrapped[cl.Resource] = true
	}
	prim := func(indent, id string) {
		typ := ""
		if r, ok := c.Resource(id); ok {
			typ = r.Type
		}
		nodes := simulate.Dedupe(pl[id])
		state := "Stopped"
		if len(nodes) > 0 {
			state = "Started " + strings.Join(nodes, " ")
		}
		fmt.Fprintf(out, "%s* %s\t(%s):\t %s\n", indent, id, typ, state)
	}
	for _, r := range c.Resources {
		if !wrapped[r.ID] {
			prim("    ", r.ID)
		}
	}
	for _, g := range c.Groups {
		if wrapped[g.ID] {
			continue
		}
		fmt.Fprintf(out, "    * Resource Group: %s:\n", g.ID)
		for _, m := range g.Resources {
			prim("      ", m)
		}
	}
	for _, cl := range c.Clones {
		fmt.Fprintf(out, "    * Clone Set: %s [%s]:\n", cl.ID, cl.Resource)
		started := map[string]bool{}
		ids := []string{cl.Resource}
		if g, ok := c.Group(cl.Resource); ok {
			ids = g.Resources
		}
		for _, n := range pl[ids[0]] {
			started[n] = true
		}
		var on, off []string
		for _, n := range c.Nodes {
			if started[n.Name] {
				on = append(on, n.Name)
			} else {
				off = append(off, n.Name)
			}
		}
		if len(on) > 0 {
			fmt.Fprintf(out, "      * Started: [ %s ]\n", strings.Join(on, " "))
		}
		if len(off) > 0 {
			fmt.Fprintf(out, "      * Stopped: [ %s ]\n", strings.Join(off, " "))
		}
	}
}
