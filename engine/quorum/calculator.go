package quorum

import "github.com/havenha/haven/engine/model"

// Flags reported with a result, named as corosync-quorumtool names them
// (except 2Node, spelled TwoNode).
const (
	FlagQuorate    = "Quorate"
	FlagWaitForAll = "WaitForAll"
	FlagTwoNode    = "TwoNode"
)

// Config is the static part of votequorum: what the configuration file
// says (see ConfigFor).
type Config struct {
	// ExpectedVotes is cluster.expected_votes, or the sum of every configured
	// node's votes when unset.
	ExpectedVotes int
	// TwoNode is votequorum's two_node: quorum is 1 while at most two nodes
	// are members. Ignored, as corosync ignores it, when more than two nodes
	// are configured.
	TwoNode bool
	// WaitForAll: after a cold start, not quorate until every expected vote
	// has been present at the same time once (two_node implies it; the model
	// resolves that default).
	WaitForAll bool
	// ConfiguredNodes is the number of nodes in the configuration.
	ConfiguredNodes int
}

// InitialQuorum is the quorum of a calculator that has just started:
// ExpectedVotes/2 + 1, or 1 under two_node (when it applies). Quorum never
// falls below it while the process runs, so it is the smallest quorum any
// partition can need — what a raft voter set must be sized against.
func (c Config) InitialQuorum() int {
	return New(c).Update(nil, false).Quorum
}

// ConfigFor builds the calculator's configuration from the model.
func ConfigFor(c *model.Cluster) Config {
	return Config{ExpectedVotes: c.ExpectedVotes(), TwoNode: c.Cluster.TwoNode, WaitForAll: c.WaitForAll(), ConfiguredNodes: len(c.Nodes)}
}

// Vote is one configured node as the calculator needs it.
type Vote struct {
	Name   string
	Votes  int
	Online bool
}

// Votes lists every configured node of c, in file order, with its votes and
// whether online says it is a live member of the partition.
func Votes(c *model.Cluster, online func(name string) bool) []Vote {
	out := make([]Vote, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		out = append(out, Vote{Name: n.Name, Votes: n.VotesOrDefault(), Online: online(n.Name)})
	}
	return out
}

// Result is the outcome of one calculation. The JSON names are those of
// `haven quorum --json`.
type Result struct {
	Quorate         bool `json:"quorate"`
	ExpectedVotes   int  `json:"expected_votes"`
	HighestExpected int  `json:"highest_expected"`
	TotalVotes      int  `json:"total_votes"`
	Quorum          int  `json:"quorum"`
	// Waiting reports that wait_for_all still holds quorum back.
	Waiting bool     `json:"waiting_for_all"`
	Flags   []string `json:"flags"`
}

// Calculator is votequorum's arithmetic with the two pieces of history
// votequorum keeps between membership changes: the highest expected votes
// (it never decreases while the process runs) and the wait_for_all status.
// It does no I/O, reads no clock and starts no goroutine; it is not safe for
// concurrent use (the caller serialises Update).
//
// The rules, from corosync 3.1 exec/votequorum.c, checked against
// corosync-vqsim in vqsim_test.go:
//
//	total            = sum of the votes of online members
//	highest_expected = max(expected_votes, every total seen so far)
//	quorum           = highest_expected/2 + 1 (integer division), never
//	                   decreasing; 1 with two_node while at most 2 members
//	wait_for_all     : a process starts waiting; while waiting it is not
//	                   quorate; the wait ends for good when every expected
//	                   vote is present at once (total >= highest expected),
//	                   or when a peer in the partition has finished waiting
//	                   (a node restarting into a running cluster)
//	quorate          = not waiting and total >= quorum
//
// votequorum.c re-arms the wait when quorum is lost, but whether a partition
// that regains quorum without every node is then quorate is a message-order
// race in corosync 3.1.7: corosync-vqsim answers quorate on most runs and
// nodes, not quorate on some, even for nodes of one partition. The
// calculator gives the deterministic answer vqsim gives most often (no
// re-arm); the race is left out of the vqsim table (vqsim_test.go).
type Calculator struct {
	cfg     Config
	highest int
	quorum  int
	waiting bool
}

// New returns a calculator in its cold-start state.
func New(cfg Config) *Calculator {
	if cfg.ExpectedVotes < 0 {
		cfg.ExpectedVotes = 0
	}
	if cfg.TwoNode && cfg.ConfiguredNodes > 2 {
		cfg.TwoNode = false
	}
	return &Calculator{cfg: cfg, highest: cfg.ExpectedVotes, waiting: cfg.WaitForAll}
}

// Config returns the configuration the calculator uses (after corosync's
// adjustments: two_node dropped with more than two configured nodes).
func (c *Calculator) Config() Config { return c.cfg }

// Update recomputes quorum for the members currently seen. peerDone says
// that an online peer announces it is no longer waiting for all.
func (c *Calculator) Update(members []Vote, peerDone bool) Result {
	total, online := 0, 0
	for _, m := range members {
		if m.Online && m.Votes > 0 {
			total += m.Votes
		}
		if m.Online {
			online++
		}
	}
	if total > c.highest {
		c.highest = total
	}
	q := c.highest/2 + 1
	if q < c.quorum {
		q = c.quorum // quorum never decreases (no allow_decrease path here)
	}
	c.quorum = q
	if c.cfg.TwoNode && online <= 2 {
		q = 1
	}
	if c.waiting && (peerDone || total >= c.highest) {
		c.waiting = false
	}
	quorate := !c.waiting && total >= q
	r := Result{
		Quorate:         quorate,
		ExpectedVotes:   c.cfg.ExpectedVotes,
		HighestExpected: c.highest,
		TotalVotes:      total,
		Quorum:          q,
		Waiting:         c.cfg.WaitForAll && c.waiting,
		Flags:           []string{},
	}
	if quorate {
		r.Flags = append(r.Flags, FlagQuorate)
	}
	if c.cfg.WaitForAll {
		r.Flags = append(r.Flags, FlagWaitForAll)
	}
	if c.cfg.TwoNode {
		r.Flags = append(r.Flags, FlagTwoNode)
	}
	return r
}
