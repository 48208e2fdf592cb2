package quorum

import (
	"slices"
	"testing"
)

func seed000Votes() map[string]int { return map[string]int{"sv1": 2, "sv2": 2, "cl1": 1, "cl2": 1} }

func members(votes map[string]int, online ...string) []Vote {
	var out []Vote
	for _, n := range []string{"sv1", "sv2", "cl1", "cl2", "n5"} {
		v, ok := votes[n]
		if !ok {
			continue
		}
		out = append(out, Vote{Name: n, Votes: v, Online: slices.Contains(online, n)})
	}
	return out
}

// TestQuorum_Seed000 checks DESIGN.md §3's reference case, one fresh
// calculator per partition (a node that has just seen the partition).
func TestQuorum_Seed000(t *testing.T) {
	cfg := Config{ExpectedVotes: 8, ConfiguredNodes: 4}
	cases := []struct {
		desc    string
		online  []string
		quorate bool
		total   int
	}{
		{"all up: 6 of 8, quorum 5", []string{"sv1", "sv2", "cl1", "cl2"}, true, 6},
		{"cl1 down: 5, still quorate", []string{"sv1", "sv2", "cl2"}, true, 5},
		{"sv2 down: 4, not quorate", []string{"sv1", "cl1", "cl2"}, false, 4},
		{"split side {sv1,cl1}: 3", []string{"sv1", "cl1"}, false, 3},
		{"split side {sv2,cl2}: 3", []string{"sv2", "cl2"}, false, 3},
		{"split side {sv1,sv2}: 4", []string{"sv1", "sv2"}, false, 4},
		{"split side {cl1,cl2}: 2", []string{"cl1", "cl2"}, false, 2},
	}
	for _, c := range cases {
		r := New(cfg).Update(members(seed000Votes(), c.online...), false)
		if r.Quorate != c.quorate || r.TotalVotes != c.total || r.Quorum != 5 || r.HighestExpected != 8 || r.ExpectedVotes != 8 {
			t.Errorf("%s: got quorate=%v total=%d quorum=%d highest=%d, want quorate=%v total=%d quorum=5 highest=8",
				c.desc, r.Quorate, r.TotalVotes, r.Quorum, r.HighestExpected, c.quorate, c.total)
		}
	}
}

// TestQuorum_Seed000WithoutExpected: with expected_votes unset the expected
// votes are the sum (6), quorum 4, so {sv1,sv2} alone is quorate.
func TestQuorum_Seed000WithoutExpected(t *testing.T) {
	c := New(Config{ExpectedVotes: 6, ConfiguredNodes: 4})
	r := c.Update(members(seed000Votes(), "sv1", "sv2"), false)
	if !r.Quorate || r.Quorum != 4 || r.TotalVotes != 4 {
		t.Fatalf("got %+v, want quorate with quorum 4 and 4 votes", r)
	}
	r = c.Update(members(seed000Votes(), "sv1", "cl1", "cl2"), false)
	if !r.Quorate {
		t.Fatalf("sv1+cl1+cl2 = 4 of 6 should be quorate: %+v", r)
	}
	r = c.Update(members(seed000Votes(), "cl1", "cl2", "sv1"), false)
	if r.Flags[0] != FlagQuorate {
		t.Fatalf("flags %v: want Quorate first", r.Flags)
	}
}

// TestQuorum_HighestExpectedNeverDecreases: expected_votes below the sum of
// votes is raised to the total seen, and stays raised (corosync keeps
// us->expected_votes at the highest total).
func TestQuorum_HighestExpectedNeverDecreases(t *testing.T) {
	v := map[string]int{"sv1": 1, "sv2": 1, "cl1": 1, "cl2": 1}
	c := New(Config{ExpectedVotes: 3, ConfiguredNodes: 4})
	r := c.Update(members(v, "sv1", "sv2"), false)
	if !r.Quorate || r.Quorum != 2 || r.HighestExpected != 3 {
		t.Fatalf("2 of expected 3: got %+v, want quorate, quorum 2", r)
	}
	r = c.Update(members(v, "sv1", "sv2", "cl1", "cl2"), false)
	if r.HighestExpected != 4 || r.Quorum != 3 || r.ExpectedVotes != 3 {
		t.Fatalf("all 4 up: got %+v, want highest 4, quorum 3, expected 3", r)
	}
	r = c.Update(members(v, "sv1", "sv2"), false)
	if r.Quorate || r.HighestExpected != 4 || r.Quorum != 3 {
		t.Fatalf("back to 2: got %+v, want not quorate (highest stays 4, quorum 3)", r)
	}
}

func TestQuorum_TwoNode(t *testing.T) {
	v := map[string]int{"sv1": 1, "sv2": 1}
	cfg := Config{ExpectedVotes: 2, TwoNode: true, WaitForAll: true, ConfiguredNodes: 2}
	c := New(cfg)
	r := c.Update(members(v, "sv1"), false)
	if r.Quorate || !r.Waiting || r.Quorum != 1 {
		t.Fatalf("cold start alone: got %+v, want not quorate, waiting, quorum 1", r)
	}
	if !slices.Equal(r.Flags, []string{FlagWaitForAll, FlagTwoNode}) {
		t.Fatalf("flags %v", r.Flags)
	}
	r = c.Update(members(v, "sv1", "sv2"), false)
	if !r.Quorate || r.Waiting || r.TotalVotes != 2 {
		t.Fatalf("both seen: got %+v, want quorate", r)
	}
	r = c.Update(members(v, "sv1"), false)
	if !r.Quorate || r.Quorum != 1 || r.TotalVotes != 1 {
		t.Fatalf("peer lost after both seen: got %+v, want quorate with quorum 1", r)
	}
	// A restarted node joining a quorate peer is cleared by the peer.
	c2 := New(cfg)
	if r := c2.Update(members(v, "sv2"), false); r.Quorate {
		t.Fatalf("restart alone: %+v, want not quorate", r)
	}
	if r := c2.Update(members(v, "sv2", "sv1"), true); !r.Quorate {
		t.Fatalf("restart with quorate peer: %+v, want quorate", r)
	}
	// two_node with more than two configured nodes is ignored.
	c3 := New(Config{ExpectedVotes: 3, TwoNode: true, ConfiguredNodes: 3})
	if r := c3.Update([]Vote{{"a", 1, true}, {"b", 1, false}, {"c", 1, false}}, false); r.Quorate || r.Quorum != 2 || slices.Contains(r.Flags, FlagTwoNode) {
		t.Fatalf("two_node with 3 nodes: %+v, want ignored", r)
	}
}

func TestQuorum_WaitForAll(t *testing.T) {
	v := map[string]int{"sv1": 1, "sv2": 1, "cl1": 1, "cl2": 1}
	c := New(Config{ExpectedVotes: 4, WaitForAll: true, ConfiguredNodes: 4})
	if r := c.Update(members(v, "sv1", "sv2", "cl1"), false); r.Quorate || !r.Waiting {
		t.Fatalf("3 of 4 at cold start: %+v, want waiting", r)
	}
	if r := c.Update(members(v, "sv1", "sv2", "cl1", "cl2"), false); !r.Quorate {
		t.Fatalf("all 4: %+v, want quorate", r)
	}
	if r := c.Update(members(v, "sv1", "sv2", "cl1"), false); !r.Quorate {
		t.Fatalf("3 of 4 after all seen: %+v, want quorate", r)
	}
	if r := c.Update(members(v, "sv1", "sv2"), false); r.Quorate || r.Waiting {
		t.Fatalf("2 of 4: %+v, want not quorate, not waiting", r)
	}
	if r := c.Update(members(v, "sv1", "sv2", "cl1"), false); !r.Quorate {
		t.Fatalf("3 of 4 after quorum loss: %+v, want quorate (no re-arm, as corosync-vqsim 3.1.7 shows)", r)
	}
	// A fresh node joining peers that finished waiting is cleared at once.
	c2 := New(Config{ExpectedVotes: 4, WaitForAll: true, ConfiguredNodes: 4})
	if r := c2.Update(members(v, "sv1", "sv2", "cl1"), true); !r.Quorate {
		t.Fatalf("fresh node with peers done waiting: %+v, want quorate", r)
	}
}

func TestQuorum_NoPanicOnOddInput(t *testing.T) {
	c := New(Config{ExpectedVotes: -3})
	r := c.Update([]Vote{{"a", -5, true}, {"b", 0, true}}, true)
	if r.Quorate || r.TotalVotes != 0 {
		t.Fatalf("odd input: %+v", r)
	}
	if r := New(Config{}).Update(nil, false); r.Quorate || r.Quorum != 1 {
		t.Fatalf("empty: %+v", r)
	}
}
