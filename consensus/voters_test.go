package consensus

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/model"
)

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

type tn struct {
	name    string
	votes   int
	witness bool
}

func cluster(expected int, twoNode bool, nodes ...tn) *model.Cluster {
	c := &model.Cluster{}
	if expected > 0 {
		c.Cluster.ExpectedVotes = intp(expected)
	}
	c.Cluster.TwoNode = twoNode
	for _, n := range nodes {
		nd := model.Node{Name: n.name, Votes: intp(n.votes)}
		if n.witness {
			nd.Role = model.RoleWitness
		}
		c.Nodes = append(c.Nodes, nd)
	}
	return c
}

func TestSelectVoters(t *testing.T) {
	ign := func(c *model.Cluster) *model.Cluster { c.Cluster.NoQuorumPolicy = model.NoQuorumIgnore; return c }
	fenced := func(c *model.Cluster) *model.Cluster { c.Cluster.Stonith = boolp(true); return c }
	cases := []struct {
		desc      string
		c         *model.Cluster
		voters    []string
		nonVoters []string
		fence     bool
		err       string
	}{
		{"seed 000: sv1=2 sv2=2 cl1=1 cl2=1, expected 8 (quorum 5): both servers are in every quorate set",
			cluster(8, false, tn{"sv1", 2, false}, tn{"sv2", 2, false}, tn{"cl1", 1, false}, tn{"cl2", 1, false}),
			[]string{"sv1", "sv2", "cl1"}, []string{"cl2"}, false, ""},
		{"three equal nodes: all voters",
			cluster(0, false, tn{"a", 1, false}, tn{"b", 1, false}, tn{"c", 1, false}),
			[]string{"a", "b", "c"}, nil, false, ""},
		{"four equal nodes: three voters (same tolerance, one fewer fsync)",
			cluster(0, false, tn{"a", 1, false}, tn{"b", 1, false}, tn{"c", 1, false}, tn{"d", 1, false}),
			[]string{"a", "b", "c"}, []string{"d"}, false, ""},
		{"two nodes plus witness: a normal three-voter raft",
			cluster(0, false, tn{"n1", 1, false}, tn{"n2", 1, false}, tn{"w", 1, true}),
			[]string{"n1", "n2", "w"}, nil, false, ""},
		{"one heavy node (3 of 5) is quorate alone, so it must be the only voter",
			cluster(0, false, tn{"big", 3, false}, tn{"x", 1, false}, tn{"y", 1, false}),
			[]string{"big"}, []string{"x", "y"}, false, ""},
		{"quorate sets intersect but no raft majority fits: {big,any one} and {x,y,z,u} (quorum 4 of 7)",
			cluster(7, false, tn{"big", 3, false}, tn{"x", 1, false}, tn{"y", 1, false}, tn{"z", 1, false}, tn{"u", 1, false}),
			nil, nil, false, "adjust the votes"},
		{"a node with most votes decides alone (5 of 7 expected, quorum 4)",
			cluster(7, false, tn{"big", 5, false}, tn{"x", 1, false}, tn{"y", 1, false}),
			[]string{"big"}, []string{"x", "y"}, false, ""},
		{"expected_votes too low: two disjoint quorate halves",
			cluster(2, false, tn{"a", 1, false}, tn{"b", 1, false}, tn{"c", 1, false}, tn{"d", 1, false}),
			nil, nil, false, "raise expected_votes to at least 4"},
		{"two_node without witness nor fencing is refused with suggestions",
			cluster(0, true, tn{"n1", 1, false}, tn{"n2", 1, false}),
			nil, nil, false, "add a witness node"},
		{"two_node with fencing: fence-to-win",
			fenced(cluster(0, true, tn{"n1", 1, false}, tn{"n2", 1, false})),
			[]string{"n1", "n2"}, nil, true, ""},
		{"two_node with no_quorum_policy ignore: fence-to-win without fencing",
			ign(cluster(0, true, tn{"n1", 1, false}, tn{"n2", 1, false})),
			[]string{"n1", "n2"}, nil, true, ""},
		{"zero-vote nodes never weaken the quorum and may vote in raft",
			cluster(0, false, tn{"a", 1, false}, tn{"b", 1, false}, tn{"c", 1, false}, tn{"z", 0, false}),
			[]string{"a", "b", "c"}, []string{"z"}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			p, err := SelectVoters(c.c)
			if c.err != "" {
				if !errors.Is(err, ErrNoVoterSet) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v; want ErrNoVoterSet mentioning %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Voters, c.voters) || !reflect.DeepEqual(p.NonVoters, c.nonVoters) || p.FenceToWin != c.fence {
				t.Fatalf("plan = %+v; want voters %v non-voters %v fence %v", p, c.voters, c.nonVoters, c.fence)
			}
		})
	}
}

// TestSelectVoters_Property checks the invariant itself by brute force over
// every subset of nodes, on many vote layouts.
func TestSelectVoters_Property(t *testing.T) {
	layouts := [][]int{{2, 2, 1, 1}, {1, 1, 1}, {3, 1, 1}, {5, 1, 1, 1, 1}, {2, 1, 1, 1, 1}, {1, 2, 3, 4, 5}, {0, 1, 1, 1}, {4, 3, 2, 2, 1, 1, 1}}
	checked := 0
	for _, votes := range layouts {
		total := 0
		for _, v := range votes {
			total += v
		}
		for expected := total; expected <= total+3; expected++ {
			var nodes []tn
			for i, v := range votes {
				nodes = append(nodes, tn{string(rune('a' + i)), v, false})
			}
			c := cluster(expected, false, nodes...)
			p, err := SelectVoters(c)
			if err != nil {
				continue // rejection is allowed; acceptance must be right
			}
			checked++
			isV := map[string]bool{}
			for _, v := range p.Voters {
				isV[v] = true
			}
			if len(p.Voters)%2 == 0 {
				t.Errorf("%v/%d: even voter set %v", votes, expected, p.Voters)
			}
			for mask := 0; mask < 1<<len(votes); mask++ {
				w, vs := 0, 0
				for i := range votes {
					if mask&(1<<i) != 0 {
						w += votes[i]
						if isV[nodes[i].name] {
							vs++
						}
					}
				}
				if w >= p.Quorum && vs <= len(p.Voters)/2 {
					t.Errorf("votes %v expected %d: quorate set %b holds %d of voters %v", votes, expected, mask, vs, p.Voters)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d layouts accepted; the property test checks too little", checked)
	}
}

func TestSelectVoters_LargeClusterHeuristic(t *testing.T) {
	var nodes []tn
	for i := 0; i < 20; i++ {
		nodes = append(nodes, tn{string(rune('a'+i%26)) + string(rune('a'+i/26)), 1, false})
	}
	p, err := SelectVoters(cluster(0, false, nodes...))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Voters) != 19 || len(p.NonVoters) != 1 {
		t.Fatalf("20 equal nodes: %d voters; want 19", len(p.Voters))
	}
}

func BenchmarkSelectVoters16(b *testing.B) {
	var nodes []tn
	for i := 0; i < 16; i++ {
		nodes = append(nodes, tn{string(rune('a' + i)), 1, false})
	}
	c := cluster(0, false, nodes...)
	for i := 0; i < b.N; i++ {
		if _, err := SelectVoters(c); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckChange(t *testing.T) {
	base := func() *model.Cluster {
		c := cluster(0, false, tn{"a", 1, false}, tn{"b", 1, false}, tn{"c", 1, false})
		c.Cluster.Name = "web"
		for i := range c.Nodes {
			c.Nodes[i].Addresses = []string{"10.0.0." + string(rune('1'+i))}
		}
		return c
	}
	grown := base()
	grown.Nodes = append(grown.Nodes, model.Node{Name: "d", Addresses: []string{"10.0.0.4"}})
	if p, err := CheckChange(base(), grown, nil); err != nil || len(p.Voters) != 3 {
		t.Fatalf("adding a node: %+v %v", p, err)
	}
	moved := base()
	moved.Nodes[1].Addresses = []string{"10.0.0.9"}
	if _, err := CheckChange(base(), moved, nil); err == nil || !strings.Contains(err.Error(), "node b's raft address changes from 10.0.0.2:7947 to 10.0.0.9:7947") {
		t.Fatalf("moved address: %v", err)
	}
	port := base()
	port.Nodes[0].RaftPort = 8000
	if _, err := CheckChange(base(), port, nil); err == nil {
		t.Fatal("raft port change accepted")
	}
	renamed := base()
	renamed.Cluster.Name = "other"
	if _, err := CheckChange(base(), renamed, nil); err == nil || !strings.Contains(err.Error(), "cannot change live") {
		t.Fatalf("renamed cluster: %v", err)
	}
	low := base()
	low.Cluster.ExpectedVotes = intp(1)
	if _, err := CheckChange(base(), low, nil); !errors.Is(err, ErrNoVoterSet) {
		t.Fatalf("expected_votes 1: %v", err)
	}
	// Other nodes' attributes or resources may change freely.
	attrs := base()
	attrs.Nodes[2].Attributes = map[string]string{"rack": "r2"}
	if _, err := CheckChange(base(), attrs, nil); err != nil {
		t.Fatal(err)
	}
}
