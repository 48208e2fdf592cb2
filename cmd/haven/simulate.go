package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/cib"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/quorum"
	"github.com/havenha/haven/engine/scheduler"
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

Quorum is votequorum's, computed by the code membership runs (engine/quorum), and printed
with its votes as haven status prints them. A what-if is of a running cluster: every node has
been seen, so wait_for_all has ended and a node taken --down is simply not live, and the
highest expected votes count every configured vote; under two_node the survivor keeps quorum 1.
With -c the quorum follows the votes of the online nodes. A --state file's or CIB's own quorate
is kept until --down or --up changes the nodes; --no-quorum overrides all. --json gives the
votes as "votes", with "quorate_from" (votes, state, cib or no-quorum) saying which applied.`,
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
	in, unmodelled, err := simulateInput(f, now)
	if err != nil {
		return err
	}
	before := in
	before.Nodes = map[string]scheduler.NodeStatus{}
	for k, v := range in.Nodes {
		before.Nodes[k] = v
	}
	beforeQ := votesOf(before, quorateGiven(f))
	if beforeQ.From == fromVotes {
		before.Quorate = beforeQ.Quorate
	}
	var changes []string
	nodesChanged := len(f.down)+len(f.up) > 0
	for _, a := range f.attrs {
		n, kv, ok1 := strings.Cut(a, ":")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok1 || !ok2 || k == "" {
			return fmt.Errorf("--attr %q: expected NODE:NAME=VALUE", a)
		}
		err := setNode(&in, n, func(s *scheduler.NodeStatus) {
			m := map[string]string{}
			for x, y := range s.Attributes {
				m[x] = y
			}
			m[k] = v
			s.Attributes = m
		})
		if err != nil {
			return err
		}
		changes = append(changes, fmt.Sprintf("Setting node attribute %s=%s on %s", k, v, n))
	}
	for _, n := range f.down {
		changes = append(changes, "Taking node "+n+" down")
	}
	for _, n := range f.up {
		changes = append(changes, "Bringing node "+n+" up")
	}
	for _, n := range f.standby {
		changes = append(changes, "Putting node "+n+" in standby")
	}
	for _, rn := range f.fail {
		changes = append(changes, "Failing resource "+rn)
	}
	if f.noQuorum {
		changes = append(changes, "Removing quorum")
	}
	for _, n := range f.down {
		if err := setNode(&in, n, func(s *scheduler.NodeStatus) { s.Online = false }); err != nil {
			return err
		}
	}
	for _, n := range f.up {
		if err := setNode(&in, n, func(s *scheduler.NodeStatus) { s.Online, s.Unclean = true, false }); err != nil {
			return err
		}
	}
	for _, n := range f.standby {
		if err := setNode(&in, n, func(s *scheduler.NodeStatus) { s.Standby = true }); err != nil {
			return err
		}
	}
	for _, rn := range f.fail {
		r, n, ok := strings.Cut(rn, "@")
		if !ok || r == "" || n == "" {
			return fmt.Errorf("--fail %q: expected RSC@NODE", rn)
		}
		if _, ok := in.Cluster.Node(n); !ok {
			return fmt.Errorf("--fail %q: node %q is not configured", rn, n)
		}
		failResource(&in, r, n, now)
	}
	afterQ := votesOf(in, beforeQ.From)
	if nodesChanged {
		afterQ.From = fromVotes
	}
	if f.noQuorum {
		afterQ.From = fromNoQuorum
	}
	switch afterQ.From {
	case fromVotes:
		in.Quorate = afterQ.Quorate
	case fromNoQuorum:
		in.Quorate = false
	}
	plan, why := scheduler.Compute(in, now)
	if f.asJSON {
		type action struct {
			Action   string `json:"action"`
			Resource string `json:"resource"`
			Node     string `json:"node,omitempty"`
			From     string `json:"from,omitempty"`
			Instance string `json:"instance,omitempty"`
			Reason   string `json:"reason,omitempty"`
		}
		doc := struct {
			Placement  map[string][]string               `json:"placement"`
			Actions    []action                          `json:"actions"`
			Scores     map[string]map[string]model.Score `json:"scores"`
			Quorate    bool                              `json:"quorate"`
			Votes      simVotes                          `json:"votes"`
			Warnings   []string                          `json:"warnings,omitempty"`
			Unmodelled []string                          `json:"unmodelled,omitempty"`
		}{Placement: plan.Placement, Actions: []action{}, Scores: why.Scores(), Quorate: in.Quorate, Votes: afterQ,
			Warnings: why.Warnings, Unmodelled: unmodelled}
		for _, a := range plan.Actions {
			doc.Actions = append(doc.Actions, action{Action: a.Action, Resource: a.Resource, Node: a.Node, From: a.From, Instance: a.Instance, Reason: a.Reason})
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	for _, u := range unmodelled {
		fmt.Fprintf(out, "warning: not modelled by haven (skipped): %s\n", u)
	}
	fmt.Fprintln(out, "Current cluster status:")
	printStatus(out, before, beforeQ, currentPlacement(before))
	fmt.Fprintln(out)
	if len(changes) > 0 {
		fmt.Fprintln(out, "Performing requested modifications:")
		for _, c := range changes {
			fmt.Fprintf(out, "  * %s\n", c)
		}
		fmt.Fprintln(out)
	}
	if f.scores {
		fmt.Fprintln(out, "Allocation scores:")
		fmt.Fprint(out, why.String())
		fmt.Fprintln(out)
	} else {
		for _, w := range why.Warnings {
			fmt.Fprintf(out, "warning: %s\n", w)
		}
	}
	fmt.Fprintln(out, "Transition Summary:")
	for _, a := range plan.Actions {
		id := a.Resource
		if a.Instance != "" {
			id = a.Instance
		}
		where := "( " + a.Node + " )"
		if a.Action == model.ActionMove {
			where = "( " + a.From + " -> " + a.Node + " )"
		}
		line := fmt.Sprintf("  * %-10s %-15s %s", strings.ToUpper(a.Action[:1])+a.Action[1:], id, where)
		if a.Reason != "" {
			line += "  due to " + a.Reason
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Executing Cluster Transition:")
	for _, a := range plan.Actions {
		id := a.Resource
		if a.Instance != "" {
			id = a.Instance
		}
		switch a.Action {
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
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Revised Cluster Status:")
	printStatus(out, in, afterQ, plan.Placement)
	return nil
}

// simulateInput loads the starting state.
func simulateInput(f simulateFlags, now time.Time) (scheduler.Input, []string, error) {
	var in scheduler.Input
	switch {
	case f.cibFile != "" && (f.configFile != "" || f.stateFile != ""):
		return in, nil, fmt.Errorf("--cib reads configuration and status from the CIB; do not combine it with -c or --state")
	case f.cibFile != "":
		res, err := cib.ReadFile(f.cibFile)
		if err != nil {
			return in, nil, err
		}
		return res.Input, res.Unmodelled, nil
	}
	if f.stateFile != "" {
		data, err := os.ReadFile(f.stateFile)
		if err != nil {
			return in, nil, fmt.Errorf("read state: %w", err)
		}
		if err := json.Unmarshal(data, &in); err != nil {
			return in, nil, fmt.Errorf("state %s: %v; expected the JSON of a scheduler input", f.stateFile, err)
		}
	}
	if f.configFile != "" {
		c, err := config.Load(f.configFile, config.Options{})
		if err != nil {
			return in, nil, err
		}
		in.Cluster = c
	}
	if in.Cluster == nil {
		return in, nil, fmt.Errorf("no configuration: give -c FILE, a --state FILE holding \"cluster\", or --cib CIB.xml")
	}
	if in.Nodes == nil {
		in.Nodes = map[string]scheduler.NodeStatus{}
	}
	if f.stateFile == "" {
		// Steady state: every node online, every resource where the scheduler puts it.
		for _, n := range in.Cluster.Nodes {
			in.Nodes[n.Name] = scheduler.NodeStatus{Online: true}
		}
		in.Quorate = votesOf(in, fromVotes).Quorate
		plan, _ := scheduler.Compute(in, now)
		for _, a := range plan.Assignments {
			if a.Node != "" {
				id := a.Resource
				if a.Instance != "" {
					id = a.Instance
				}
				in.Resources = append(in.Resources, scheduler.Observed{Resource: id, Node: a.Node, State: scheduler.StateRunning})
			}
		}
	}
	return in, nil, nil
}

func setNode(in *scheduler.Input, name string, f func(*scheduler.NodeStatus)) error {
	if _, ok := in.Cluster.Node(name); !ok {
		return fmt.Errorf("node %q is not configured; expected one of %s", name, nodeNames(in.Cluster))
	}
	st := in.Nodes[name]
	f(&st)
	in.Nodes[name] = st
	return nil
}

func nodeNames(c *model.Cluster) string {
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}

// failResource records a failed monitor of r (primitive id, or instance) on node n.
func failResource(in *scheduler.Input, r, n string, now time.Time) {
	for i := range in.Resources {
		o := &in.Resources[i]
		if o.Node == n && (o.Resource == r || strings.HasPrefix(o.Resource, r+":")) {
			o.State = scheduler.StateFailed
			o.FailCount = o.FailCount.Add(1)
			o.LastFailure = now
			return
		}
	}
	in.Resources = append(in.Resources, scheduler.Observed{Resource: r, Node: n, State: scheduler.StateFailed, FailCount: 1, LastFailure: now})
}

// simVotes is the quorum of one simulated state: what votequorum makes of
// the online nodes' votes, and From, where the scheduler's quorate came
// from (fromVotes, or the state file, the CIB or --no-quorum overriding it).
type simVotes struct {
	quorum.Result
	From string `json:"quorate_from"`
}

// Where a simulated state's quorate comes from (simVotes.From, and
// --json's quorate_from), and how the output names it.
const (
	fromVotes    = "votes"
	fromState    = "state"
	fromCIB      = "cib"
	fromNoQuorum = "no-quorum"
)

var fromText = map[string]string{fromState: "the state file", fromCIB: "the CIB's have-quorum", fromNoQuorum: "--no-quorum"}

// quorateGiven is where the starting state's quorate comes from.
func quorateGiven(f simulateFlags) string {
	switch {
	case f.cibFile != "":
		return fromCIB
	case f.stateFile != "":
		return fromState
	}
	return fromVotes
}

// votesOf counts the votes of in's online nodes as a member of that
// partition would in a running cluster (see quorum.Offline: every node was
// seen before, so wait_for_all does not hold the survivors back).
func votesOf(in scheduler.Input, from string) simVotes {
	return simVotes{Result: quorum.Offline(in.Cluster, func(n string) bool { return in.Nodes[n].Online }), From: from}
}

// currentPlacement derives resource -> nodes from the observed state.
func currentPlacement(in scheduler.Input) map[string][]string {
	out := map[string][]string{}
	for _, o := range in.Resources {
		if o.State == scheduler.StateStopped {
			continue
		}
		id := o.Resource
		if i := strings.LastIndexByte(id, ':'); i > 0 {
			id = id[:i]
		}
		out[id] = append(out[id], o.Node)
	}
	return out
}

// printStatus prints nodes and resources like crm_simulate's status sections,
// with the votes on the quorum line.
func printStatus(out io.Writer, in scheduler.Input, q simVotes, pl map[string][]string) {
	c := in.Cluster
	var online, offline []string
	fmt.Fprintln(out, "  * Node List:")
	for _, n := range c.Nodes {
		st := in.Nodes[n.Name]
		switch {
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
	if q.From != fromVotes && q.Quorate != in.Quorate {
		verdict := "not quorate"
		if q.Quorate {
			verdict = "quorate"
		}
		fmt.Fprintf(out, "    (quorum as given by %s; the votes alone are %s)\n", fromText[q.From], verdict)
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
		nodes := dedupe(pl[id])
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

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
