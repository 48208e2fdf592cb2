package simulate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/quorum"
	"github.com/havenha/haven/engine/scheduler"
)

// Where a simulated state's quorate comes from (Votes.From, and --json's
// quorate_from): the votes, or the state file, the CIB or --no-quorum
// overriding them.
const (
	FromVotes    = "votes"
	FromState    = "state"
	FromCIB      = "cib"
	FromNoQuorum = "no-quorum"
)

// FromText names each source of quorate for people.
var FromText = map[string]string{FromState: "the state file", FromCIB: "the CIB's have-quorum", FromNoQuorum: "--no-quorum"}

// Votes is the quorum of one simulated state: what votequorum makes of the
// online nodes' votes, and From, where the scheduler's quorate came from.
type Votes struct {
	quorum.Result
	From string `json:"quorate_from"`
}

// Source is the starting state.
type Source struct {
	Input scheduler.Input
	// QuorateFrom says whether Input.Quorate was given (FromState, FromCIB)
	// or follows the votes (FromVotes).
	QuorateFrom string
	// Unmodelled lists what a CIB held that haven does not model.
	Unmodelled []string
}

// WhatIf lists the changes to simulate.
type WhatIf struct {
	Down, Up, Standby []string
	// Fail lists RSC@NODE: a failed monitor (the fail count grows by one).
	Fail []string
	// Attrs lists NODE:NAME=VALUE transient node attributes.
	Attrs    []string
	NoQuorum bool
}

// Result is one simulation.
type Result struct {
	// Before is the starting state, After the state with the changes.
	Before, After           scheduler.Input
	BeforeVotes, AfterVotes Votes
	// Changes describe the what-ifs, in crm_simulate's words.
	Changes []string
	Plan    model.Plan
	Why     scheduler.Explanation
	// AfterFence, when the plan fences nodes, is the plan once those
	// fences are confirmed (their resources recorded stopped).
	AfterFence    *model.Plan
	AfterFenceWhy *scheduler.Explanation
	// Fenced is After with the fences confirmed (set with AfterFence).
	Fenced     *scheduler.Input
	Unmodelled []string
}

// Steady returns the steady state of c: every node online and every
// resource where the scheduler puts it.
func Steady(c *model.Cluster, now time.Time) scheduler.Input {
	in := scheduler.Input{Cluster: c, Nodes: map[string]scheduler.NodeStatus{}}
	for _, n := range c.Nodes {
		in.Nodes[n.Name] = scheduler.NodeStatus{Online: true}
	}
	in.Quorate = VotesOf(in, FromVotes).Quorate
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
	return in
}

// Run applies w to src and computes the plan. It does not modify src.
func Run(src Source, w WhatIf, now time.Time) (Result, error) {
	in := clone(src.Input)
	if in.Cluster == nil {
		return Result{}, fmt.Errorf("no configuration: give -c FILE, a --state FILE holding \"cluster\", or --cib CIB.xml")
	}
	if in.Nodes == nil {
		in.Nodes = map[string]scheduler.NodeStatus{}
	}
	from := src.QuorateFrom
	if from == "" {
		from = FromVotes
	}
	res := Result{Unmodelled: src.Unmodelled}
	res.Before = clone(in)
	res.BeforeVotes = VotesOf(res.Before, from)
	if from == FromVotes {
		res.Before.Quorate = res.BeforeVotes.Quorate
	}
	for _, a := range w.Attrs {
		n, kv, ok1 := strings.Cut(a, ":")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok1 || !ok2 || k == "" {
			return Result{}, fmt.Errorf("--attr %q: expected NODE:NAME=VALUE", a)
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
			return Result{}, err
		}
		res.Changes = append(res.Changes, fmt.Sprintf("Setting node attribute %s=%s on %s", k, v, n))
	}
	for _, n := range w.Down {
		res.Changes = append(res.Changes, "Taking node "+n+" down")
	}
	for _, n := range w.Up {
		res.Changes = append(res.Changes, "Bringing node "+n+" up")
	}
	for _, n := range w.Standby {
		res.Changes = append(res.Changes, "Putting node "+n+" in standby")
	}
	for _, rn := range w.Fail {
		res.Changes = append(res.Changes, "Failing resource "+rn)
	}
	if w.NoQuorum {
		res.Changes = append(res.Changes, "Removing quorum")
	}
	for _, n := range w.Down {
		if err := setNode(&in, n, func(s *scheduler.NodeStatus) { s.Online = false }); err != nil {
			return Result{}, err
		}
	}
	for _, n := range w.Up {
		if err := setNode(&in, n, func(s *scheduler.NodeStatus) { s.Online, s.Unclean = true, false }); err != nil {
			return Result{}, err
		}
	}
	for _, n := range w.Standby {
		if err := setNode(&in, n, func(s *scheduler.NodeStatus) { s.Standby = true }); err != nil {
			return Result{}, err
		}
	}
	for _, rn := range w.Fail {
		r, n, ok := strings.Cut(rn, "@")
		if !ok || r == "" || n == "" {
			return Result{}, fmt.Errorf("--fail %q: expected RSC@NODE", rn)
		}
		if _, ok := in.Cluster.Node(n); !ok {
			return Result{}, fmt.Errorf("--fail %q: node %q is not configured", rn, n)
		}
		failResource(&in, r, n, now)
	}
	res.AfterVotes = VotesOf(in, from)
	if len(w.Down)+len(w.Up) > 0 {
		res.AfterVotes.From = FromVotes
	}
	if w.NoQuorum {
		res.AfterVotes.From = FromNoQuorum
	}
	switch res.AfterVotes.From {
	case FromVotes:
		in.Quorate = res.AfterVotes.Quorate
	case FromNoQuorum:
		in.Quorate = false
	}
	lost(&in, now)
	res.After = in
	res.Plan, res.Why = scheduler.Compute(in, now)
	var fenced []string
	for _, a := range res.Plan.Actions {
		if a.Action == model.ActionFence {
			fenced = append(fenced, a.Node)
		}
	}
	if len(fenced) > 0 {
		f := confirmFences(in, fenced, now)
		plan, why := scheduler.Compute(f, now)
		res.Fenced, res.AfterFence, res.AfterFenceWhy = &f, &plan, &why
	}
	return res, nil
}

// lost gives the scheduler the facts of a simulated loss: fencing as the
// configuration says, and every node that is not online (and not already
// unclean, as a CIB may say) lost long enough ago for its lease to have
// certainly lapsed.
func lost(in *scheduler.Input, now time.Time) {
	in.Stonith, in.Leases = in.Cluster.StonithEnabled(), true
	for _, n := range in.Cluster.Nodes {
		st := in.Nodes[n.Name]
		if !st.Online && !st.Unclean {
			st.Lease.RecoverAt = now.Add(-time.Millisecond)
		}
		in.Nodes[n.Name] = st
	}
}

// confirmFences is in once nodes are confirmed off: their instances are
// recorded stopped (fail counts kept) and their fence requests cleared, as
// the fence record does in the replicated state.
func confirmFences(in scheduler.Input, nodes []string, now time.Time) scheduler.Input {
	out := clone(in)
	off := map[string]bool{}
	for _, n := range nodes {
		off[n] = true
		st := out.Nodes[n]
		st.Online, st.Unclean, st.FenceRequested = false, false, ""
		st.Lease.Fenced = true
		st.LastFence = &scheduler.FenceAttempt{At: now, OK: true}
		out.Nodes[n] = st
	}
	var rs []scheduler.Observed
	for _, o := range in.Resources {
		if off[o.Node] {
			if o.FailCount == 0 {
				continue
			}
			o.State, o.Pending, o.Blocked = scheduler.StateStopped, false, false
		}
		rs = append(rs, o)
	}
	out.Resources = rs
	var um []string
	for _, id := range in.Admin.Unmanaged {
		blockedOnFenced := false
		for _, o := range in.Resources {
			blockedOnFenced = blockedOnFenced || (o.Blocked && off[o.Node] && baseID(o.Resource) == id)
		}
		if !blockedOnFenced {
			um = append(um, id)
		}
	}
	out.Admin.Unmanaged = um
	return out
}

// VotesOf counts the votes of in's online nodes as a member of that
// partition would in a running cluster (quorum.Offline: every node was seen
// before, so wait_for_all does not hold the survivors back).
func VotesOf(in scheduler.Input, from string) Votes {
	return Votes{Result: quorum.Offline(in.Cluster, func(n string) bool { return in.Nodes[n].Online }), From: from}
}

// CurrentPlacement derives resource -> nodes from the observed state.
func CurrentPlacement(in scheduler.Input) map[string][]string {
	out := map[string][]string{}
	for _, o := range in.Resources {
		if o.State == scheduler.StateStopped {
			continue
		}
		id := baseID(o.Resource)
		out[id] = append(out[id], o.Node)
	}
	return out
}

func baseID(id string) string {
	if i := strings.LastIndexByte(id, ':'); i > 0 {
		return id[:i]
	}
	return id
}

func setNode(in *scheduler.Input, name string, f func(*scheduler.NodeStatus)) error {
	if _, ok := in.Cluster.Node(name); !ok {
		var names []string
		for _, n := range in.Cluster.Nodes {
			names = append(names, n.Name)
		}
		return fmt.Errorf("node %q is not configured; expected one of %s", name, strings.Join(names, ", "))
	}
	st := in.Nodes[name]
	f(&st)
	in.Nodes[name] = st
	return nil
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

// clone copies in deeply enough that changes to its nodes and observed
// states do not reach the original.
func clone(in scheduler.Input) scheduler.Input {
	out := in
	out.Nodes = make(map[string]scheduler.NodeStatus, len(in.Nodes))
	for k, v := range in.Nodes {
		out.Nodes[k] = v
	}
	out.Resources = append([]scheduler.Observed(nil), in.Resources...)
	out.Admin.Unmanaged = append([]string(nil), in.Admin.Unmanaged...)
	return out
}

// Dedupe returns list sorted without repeats.
func Dedupe(list []string) []string {
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
