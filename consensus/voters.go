package consensus

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/quorum"
)

// MaxExactVoterNodes is the largest cluster whose voter set is chosen by
// exhaustive search; larger clusters use the heuristic described at SelectVoters.
const MaxExactVoterNodes = 16

// ErrNoVoterSet is wrapped by SelectVoters when no raft voter set can honour the weighted quorum.
var ErrNoVoterSet = errors.New("no raft voter set matches the weighted quorum")

// VoterPlan is the raft membership derived from the configuration's votes.
type VoterPlan struct {
	// Voters and NonVoters are node names in file order.
	Voters    []string
	NonVoters []string
	// Quorum is the weighted quorum, floor(expected/2)+1 (1 under two_node).
	Quorum int
	// Expected is the configured expected_votes, or the sum of votes when unset.
	Expected int
	// FenceToWin is set for a two_node cluster without a witness: raft runs
	// with both nodes as voters and the survivor of a peer loss forces a
	// single-voter configuration after fencing (or under no_quorum_policy ignore).
	FenceToWin bool
}

// IsVoter reports whether name is a voter of the plan.
func (p VoterPlan) IsVoter(name string) bool {
	for _, v := range p.Voters {
		if v == name {
			return true
		}
	}
	return false
}

// SelectVoters chooses the raft voter set from the weighted votes so that
// every weighted-quorate set of nodes contains a majority of the voters.
//
// Why that property: a partition that is quorate by votes is the only one
// allowed to schedule, and it must be able to commit (liveness) and must hold
// every committed entry (safety). Both follow when each quorate set holds a
// raft majority, because any two raft majorities intersect.
//
// Check for a candidate voter set V (|V| = k): the worst quorate set is all
// non-voters plus the floor(k/2) voters with the most votes; if even that
// reaches the quorum, some quorate set lacks a majority of V and V fails.
//
// Choice among valid sets: the largest valid set, made odd by dropping its
// lowest-ranked voter when even. Dropping one voter from a valid even set
// keeps it valid (|S∩V| >= k/2+1 becomes >= k/2, a majority of k-1) and
// tolerates as many voter failures while waiting for one fewer fsync per
// commit. Ranking: witnesses first, then more votes, then file order. Ties
// between equal-size sets go to the higher ranked members.
//
// Up to MaxExactVoterNodes nodes every subset is tried. Above, candidates are
// the prefixes of the ranked node list (exact when all votes are equal, the
// common large-cluster case); a configuration none of them fits is rejected.
//
// two_node without a witness has quorum 1, so each node alone is quorate and
// no voter set works; it is accepted as FenceToWin when fencing is on or
// no_quorum_policy is ignore, and rejected otherwise.
func SelectVoters(c *model.Cluster) (VoterPlan, error) {
	n := len(c.Nodes)
	if n == 0 {
		return VoterPlan{}, fmt.Errorf("%w: the configuration lists no nodes", ErrNoVoterSet)
	}
	votes := make([]int, n)
	total := 0
	witnesses := 0
	for i, nd := range c.Nodes {
		votes[i] = nd.VotesOrDefault()
		if votes[i] < 0 {
			return VoterPlan{}, fmt.Errorf("node %s has %d votes; expected 0 or more", nd.Name, votes[i])
		}
		total += votes[i]
		if nd.IsWitness() {
			witnesses++
		}
	}
	// The quorum of a freshly started calculator (configured expected_votes,
	// not votequorum's running "highest expected"): before every node has
	// been seen it is what membership requires, so it is the smallest quorum
	// a partition can ever need.
	expected := c.ExpectedVotes()
	plan := VoterPlan{Expected: expected, Quorum: quorum.ConfigFor(c).InitialQuorum()}
	if c.Cluster.TwoNode && witnesses == 0 {
		if n != 2 {
			return VoterPlan{}, fmt.Errorf("%w: two_node needs exactly two nodes, the file lists %d; remove two_node or the extra nodes", ErrNoVoterSet, n)
		}
		if !c.StonithEnabled() && c.NoQuorumPolicy() != model.NoQuorumIgnore {
			return VoterPlan{}, fmt.Errorf("%w: with two_node each node alone is quorate, so raft cannot keep a majority after losing one; "+
				"add a witness node (role: witness, run 'haven witness' on a third machine), "+
				"or set no_quorum_policy: ignore to accept divergence on heal", ErrNoVoterSet)
		}
		plan.Voters = []string{c.Nodes[0].Name, c.Nodes[1].Name}
		plan.FenceToWin = true
		return plan, nil
	}
	// rank: witnesses first, then votes descending, then file order.
	rank := make([]int, n)
	for i := range rank {
		rank[i] = i
	}
	sort.SliceStable(rank, func(a, b int) bool {
		na, nb := c.Nodes[rank[a]], c.Nodes[rank[b]]
		if na.IsWitness() != nb.IsWitness() {
			return na.IsWitness()
		}
		return votes[rank[a]] > votes[rank[b]]
	})
	var best []int // indices into c.Nodes (ranked order)
	if n <= MaxExactVoterNodes {
		best = exactVoters(votes, rank, plan.Quorum)
	} else {
		for k := n; k >= 1 && best == nil; k-- {
			if validVoters(votes, rank[:k], plan.Quorum) {
				best = append([]int(nil), rank[:k]...)
			}
		}
	}
	if best == nil {
		return VoterPlan{}, noVoterError(c, votes, plan)
	}
	if len(best)%2 == 0 {
		best = best[:len(best)-1] // drop the lowest-ranked voter
	}
	isVoter := make([]bool, n)
	for _, i := range best {
		isVoter[i] = true
	}
	for i, nd := range c.Nodes {
		if isVoter[i] {
			plan.Voters = append(plan.Voters, nd.Name)
		} else {
			if nd.IsWitness() {
				return VoterPlan{}, fmt.Errorf("%w: witness %s cannot be a raft voter with these votes; give it votes like the other nodes or remove it", ErrNoVoterSet, nd.Name)
			}
			plan.NonVoters = append(plan.NonVoters, nd.Name)
		}
	}
	return plan, nil
}

// validVoters reports whether every quorate set holds a majority of voters
// (given as indices, in rank order).
func validVoters(votes []int, voters []int, quorum int) bool {
	k := len(voters)
	if k == 0 {
		return false
	}
	in := make(map[int]bool, k)
	vv := make([]int, 0, k)
	for _, i := range voters {
		in[i] = true
		vv = append(vv, votes[i])
	}
	worst := 0
	for i, v := range votes {
		if !in[i] {
			worst += v
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(vv)))
	for _, v := range vv[:k/2] {
		worst += v
	}
	return worst < quorum
}

// exactVoters tries subsets from the largest size down and returns, for the
// first size with a valid set, the valid set that is lexicographically
// smallest by rank positions (the higher-ranked members).
func exactVoters(votes []int, rank []int, quorum int) []int {
	n := len(rank)
	for k := n; k >= 1; k-- {
		var best []int
		bestKey := ""
		// Gosper's hack: every n-bit mask with k bits set.
		for mask := uint32(1)<<k - 1; mask < 1<<n; {
			set := make([]int, 0, k)
			var key strings.Builder
			for r := 0; r < n; r++ { // bit r = rank position r
				if mask&(1<<r) != 0 {
					set = append(set, rank[r])
					fmt.Fprintf(&key, "%02d", r)
				}
			}
			if validVoters(votes, set, quorum) && (best == nil || key.String() < bestKey) {
				best, bestKey = set, key.String()
			}
			c := mask & -mask
			r := mask + c
			mask = (((r ^ mask) >> 2) / c) | r
		}
		if best != nil {
			return best
		}
	}
	return nil
}

// noVoterError explains why no voter set exists: two disjoint quorate sets.
func noVoterError(c *model.Cluster, votes []int, plan VoterPlan) error {
	// Find two disjoint quorate sets greedily: the ranked prefix reaching the
	// quorum, then the rest.
	idx := make([]int, len(votes))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return votes[idx[a]] > votes[idx[b]] })
	var a, b []string
	sum, rest := 0, 0
	for _, i := range idx {
		if sum < plan.Quorum {
			a = append(a, c.Nodes[i].Name)
			sum += votes[i]
		} else {
			b = append(b, c.Nodes[i].Name)
			rest += votes[i]
		}
	}
	if rest >= plan.Quorum {
		return fmt.Errorf("%w: {%s} (%d votes) and {%s} (%d votes) are both quorate (quorum %d of expected %d), so two partitions could both run resources; "+
			"raise expected_votes to at least %d, or add a witness node", ErrNoVoterSet, strings.Join(a, ","), sum, strings.Join(b, ","), rest, plan.Quorum, plan.Expected, c.TotalVotes())
	}
	return fmt.Errorf("%w: with quorum %d of expected %d no set of raft voters is held in majority by every quorate set of nodes; "+
		"adjust the votes so that one group of nodes is needed by every quorate partition, or add a witness node", ErrNoVoterSet, plan.Quorum, plan.Expected)
}
