package quorum

import "github.com/havenha/haven/engine/model"

// Offline is the quorum a member of a partition sees in a what-if of a
// running cluster (`haven simulate`, `haven config validate`): every
// configured node has been a member at once before, and now the nodes for
// which online is true are the partition.
//
// Having seen every node is what "the cluster was running" means to
// votequorum: wait_for_all has ended (a node taken down in the what-if
// is simply not live, it does not hold the survivors back), and the highest
// expected votes already count every configured vote, so expected_votes
// below the sum is raised to the sum. A cold start, where wait_for_all
// would still hold, is not a what-if this answers; a Calculator fed the
// partition alone is.
func Offline(c *model.Cluster, online func(name string) bool) Result {
	calc := New(ConfigFor(c))
	calc.Update(Votes(c, func(string) bool { return true }), false)
	return calc.Update(Votes(c, online), false)
}
