package quorum

import (
	"slices"
	"testing"

	"github.com/havenha/haven/engine/model"
)

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

// cluster builds a model with the given votes (nodes n1, n2, ...).
func cluster(votes ...int) *model.Cluster {
	c := &model.Cluster{}
	for i, v := range votes {
		c.Nodes = append(c.Nodes, model.Node{Name: "n" + string(rune('1'+i)), Votes: intp(v)})
	}
	return c
}

func down(names ...string) func(string) bool {
	return func(n string) bool { return !slices.Contains(names, n) }
}

func TestConfigFor(t *testing.T) {
	c := cluster(2, 2, 1, 1)
	if got := ConfigFor(c); got != (Config{ExpectedVotes: 6, ConfiguredNodes: 4}) {
		t.Errorf("votes 2,2,1,1, nothing set: %+v, want expected 6 (the sum)", got)
	}
	c.Cluster.ExpectedVotes = intp(8)
	if got := ConfigFor(c); got.ExpectedVotes != 8 || got.WaitForAll || got.TwoNode {
		t.Errorf("expected_votes 8: %+v", got)
	}
	two := cluster(1, 1)
	two.Cluster.TwoNode = true
	if got := ConfigFor(two); !got.TwoNode || !got.WaitForAll {
		t.Errorf("two_node: %+v, want wait_for_all implied", got)
	}
	two.Cluster.WaitForAll = boolp(false)
	if got := ConfigFor(two); got.WaitForAll {
		t.Errorf("two_node with wait_for_all: false: %+v, want the explicit false kept", got)
	}
}

func TestInitialQuorum(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want int
	}{
		{Config{ExpectedVotes: 8, ConfiguredNodes: 4}, 5},
		{Config{ExpectedVotes: 6, ConfiguredNodes: 4}, 4},
		{Config{ExpectedVotes: 3, ConfiguredNodes: 3}, 2},
		{Config{ExpectedVotes: 2, TwoNode: true, WaitForAll: true, ConfiguredNodes: 2}, 1},
		{Config{ExpectedVotes: 3, TwoNode: true, ConfiguredNodes: 3}, 2}, // two_node ignored, as corosync does
	} {
		if got := c.cfg.InitialQuorum(); got != c.want {
			t.Errorf("%+v: initial quorum %d, want %d", c.cfg, got, c.want)
		}
	}
}

// TestOffline: a what-if of a running cluster. Each case also says how a
// cold-started calculator would differ, so the history Offline assumes is
// visibly what decides.
func TestOffline(t *testing.T) {
	seed000 := cluster(2, 2, 1, 1) // n1=sv1 n2=sv2 n3=cl1 n4=cl2
	seed000.Cluster.ExpectedVotes = intp(8)
	low := cluster(1, 1, 1, 1)
	low.Cluster.ExpectedVotes = intp(3)
	two := cluster(1, 1)
	two.Cluster.TwoNode = true
	wfa := cluster(1, 1, 1)
	wfa.Cluster.WaitForAll = boolp(true)
	cases := []struct {
		desc                   string
		c                      *model.Cluster
		down                   []string
		quorate                bool
		total, highest, quorum int
		flags                  []string
		coldQuorate            bool
	}{
		{"seed000 all up", seed000, nil, true, 6, 8, 5, []string{FlagQuorate}, true},
		{"seed000 sv2 down", seed000, []string{"n2"}, false, 4, 8, 5, []string{}, false},
		{"seed000 cl1 down", seed000, []string{"n3"}, true, 5, 8, 5, []string{FlagQuorate}, true},
		// expected 3 below the sum 4: having seen all 4, quorum is 3 and two
		// nodes are not enough; a cold start would take 2 of 3.
		{"expected below the sum, two down", low, []string{"n3", "n4"}, false, 2, 4, 3, []string{}, true},
		// two_node: the survivor keeps quorum 1; at a cold start it would wait.
		{"two_node, one down", two, []string{"n2"}, true, 1, 2, 1, []string{FlagQuorate, FlagWaitForAll, FlagTwoNode}, false},
		{"two_node, both down", two, []string{"n1", "n2"}, false, 0, 2, 1, []string{FlagWaitForAll, FlagTwoNode}, false},
		{"wait_for_all, one of three down", wfa, []string{"n3"}, true, 2, 3, 2, []string{FlagQuorate, FlagWaitForAll}, false},
	}
	for _, c := range cases {
		r := Offline(c.c, down(c.down...))
		if r.Quorate != c.quorate || r.TotalVotes != c.total || r.HighestExpected != c.highest || r.Quorum != c.quorum ||
			r.Waiting || !slices.Equal(r.Flags, c.flags) || r.ExpectedVotes != c.c.ExpectedVotes() {
			t.Errorf("%s: got %+v, want quorate=%v total=%d highest=%d quorum=%d flags=%v, not waiting",
				c.desc, r, c.quorate, c.total, c.highest, c.quorum, c.flags)
		}
		cold := New(ConfigFor(c.c)).Update(Votes(c.c, down(c.down...)), false)
		if cold.Quorate != c.coldQuorate {
			t.Errorf("%s: a cold-started calculator says quorate=%v, the case expects %v", c.desc, cold.Quorate, c.coldQuorate)
		}
	}
}
