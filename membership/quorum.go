package membership

// Flags reported with a quorum view, named as corosync-quorumtool names them
// (except 2Node, spelled TwoNode).
const (
	FlagQuorate    = "Quorate"
	FlagWaitForAll = "WaitForAll"
	FlagTwoNode    = "TwoNode"
)

// QuorumConfig is the static part of votequorum: what the configuration file
// says. It is built once from the model (see QuorumConfigFor).
type QuorumConfig struct {
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

// VoteInput is one node as the calculator needs it.
type VoteInput struct {
	Name   string
	Votes  int
	Online bool
}

// QuorumResult is the outcome of one calculation.
type QuorumResult struct {
	Quorate         bool
	ExpectedVotes   int
	HighestExpected int
	TotalVotes      int
	Quorum          int
	// Waiting reports that wait_for_all still holds quorum back.
	Waiting bool
	Flags   []string
}

// Calculator is votequorum's arithmetic with the two pieces of history
// votequorum keeps between membership changes: the highest expected votes
// (it never decreases while the process runs) and the wait_for_all status.
// It does no I/O, reads no clock and starts no goroutine; it is not safe for
// concurrent use (the caller serialises Update).
//
// The rules, from corosync 3.1 exec/votequorum.c, checked against
// corosync-vqsim in quorum_vqsim_test.go:
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
// re-arm); the race is left out of the vqsim table (quorum_vqsim_test.go).
type Calculator struct {
	cfg     QuorumConfig
	highest int
	quorum  int
	waiting bool
}

// NewCalculator returns a calculator in its cold-start state.
func NewCalculator(cfg QuorumConfig) *Calculator {
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
func (c *Calculator) Config() QuorumConfig { return c.cfg }

// Update recomputes quorum for the members currently seen. peerDone says
// that an online peer announces it is no longer waiting for all.
func (c *Calculator) Update(members []VoteInput, peerDone bool) QuorumResult {
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
	r := QuorumResult{
		Quorate:         quorate,
		ExpectedVotes:   c.cfg.ExpectedVotes,
		HighestExpected: c.highest,
		TotalVotes:      total,
		Quorum:          q,
		Waiting:         c.cfg.WaitForAll && c.waiting,
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
