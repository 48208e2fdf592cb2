package scheduler

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

// randomInput builds a random but valid cluster and state: nodes with
// attributes, primitives, a group, a clone, locations (fixed and rule),
// colocations, orders, stickiness, failures and node states.
func randomInput(r *rand.Rand, nodes, rscs int) Input {
	c := &model.Cluster{}
	in := Input{Cluster: c, Nodes: map[string]NodeStatus{}, Quorate: true}
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("n%02d", i)
		c.Nodes = append(c.Nodes, model.Node{Name: name})
		st := NodeStatus{Online: r.Intn(6) != 0, Standby: r.Intn(8) == 0}
		if r.Intn(2) == 0 {
			st.Attributes = map[string]string{"pingd": fmt.Sprint(r.Intn(3) * 1000)}
		}
		in.Nodes[name] = st
	}
	node := func() string { return c.Nodes[r.Intn(nodes)].Name }
	scores := []model.Score{model.NegInfinity, -100, -10, 0, 10, 50, 100, model.Infinity}
	score := func() model.Score { return scores[r.Intn(len(scores))] }
	for i := 0; i < rscs; i++ {
		res := model.Resource{ID: fmt.Sprintf("r%03d", i), Type: "exec"}
		if r.Intn(3) == 0 {
			s := model.Score(r.Intn(3) * 100)
			res.Meta.Stickiness = &s
		}
		if r.Intn(4) == 0 {
			res.Meta.MigrationThreshold = 1 + r.Intn(3)
		}
		if r.Intn(10) == 0 {
			res.Meta.Priority = r.Intn(3)
		}
		c.Resources = append(c.Resources, res)
		if r.Intn(2) == 0 {
			st := StateRunning
			if r.Intn(8) == 0 {
				st = StateFailed
			}
			in.Resources = append(in.Resources, Observed{Resource: res.ID, Node: node(), State: st, FailCount: model.Score(r.Intn(3))})
		}
	}
	id := func(i int) string { return fmt.Sprintf("r%03d", i) }
	// a group of the last two resources, a clone of the third from last
	if rscs >= 6 {
		c.Groups = append(c.Groups, model.Group{ID: "g1", Resources: []string{id(rscs - 2), id(rscs - 1)}})
		c.Clones = append(c.Clones, model.Clone{ID: "c1", Resource: id(rscs - 3)})
	}
	plain := rscs - 3
	for i := 0; i < rscs; i++ {
		c.Constraints = append(c.Constraints, model.Constraint{Location: &model.Location{ID: fmt.Sprintf("l%d", i), Resource: id(r.Intn(plain)), Node: node(), Score: score()}})
		if r.Intn(3) == 0 {
			a, b := r.Intn(plain), r.Intn(plain)
			if a != b {
				c.Constraints = append(c.Constraints, model.Constraint{Colocation: &model.Colocation{ID: fmt.Sprintf("c%d", i), Resource: id(a), With: id(b), Score: score()}})
			}
		}
		if r.Intn(4) == 0 {
			a, b := r.Intn(plain), r.Intn(plain)
			if a < b {
				c.Constraints = append(c.Constraints, model.Constraint{Order: &model.Order{ID: fmt.Sprintf("o%d", i), First: id(a), Then: id(b)}})
			}
		}
	}
	if rscs >= 6 {
		c.Constraints = append(c.Constraints, model.Constraint{Location: &model.Location{ID: "ping", Resource: "g1", Score: model.NegInfinity, Rule: "pingd lt 1 or not_defined pingd"}})
	}
	return in
}

// TestProperty_NegInfinityNeverViolated: no resource is placed on a node
// where a -INFINITY location or preference bans it, nor with a resource it
// has a -INFINITY colocation with.
func TestProperty_NegInfinityNeverViolated(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewSource(seed))
		in := randomInput(r, 2+r.Intn(5), 6+r.Intn(12))
		plan, _ := Compute(in, time.Unix(0, 0))
		for _, con := range in.Cluster.Constraints {
			if l := con.Location; l != nil && l.Score == model.NegInfinity && l.Node != "" {
				for _, n := range plan.Placement[l.Resource] {
					if n == l.Node {
						t.Fatalf("seed %d: %s placed on %s despite location %s -INFINITY", seed, l.Resource, n, l.ID)
					}
				}
			}
			if co := con.Colocation; co != nil && co.Score == model.NegInfinity {
				for _, a := range plan.Placement[co.Resource] {
					for _, b := range plan.Placement[co.With] {
						if a == b {
							t.Fatalf("seed %d: %s and %s both on %s despite colocation %s -INFINITY", seed, co.Resource, co.With, a, co.ID)
						}
					}
				}
			}
		}
		for name, st := range in.Nodes {
			if st.Online && !st.Standby {
				continue
			}
			for id, nodes := range plan.Placement {
				for _, n := range nodes {
					if n == name {
						t.Fatalf("seed %d: %s placed on %s, which is offline or in standby", seed, id, n)
					}
				}
			}
		}
	}
}

// TestProperty_PlanIsAFixedPoint: computing again on the state the plan
// produces (failures cleared by the restarts, fail counts kept) yields no
// actions. Every resource has the same stickiness and the random
// colocations are left out here: without stickiness Pacemaker's tie-break
// (fewer assigned resources before the current node) may move an indifferent
// resource again on the next run, and colocations merge the dependents' new
// stickiness into their primaries' scores, so contradictory random
// colocation sets need not settle in one step (in Pacemaker neither). The
// seeds' colocations are checked for stability by the golden cases.
func TestProperty_PlanIsAFixedPoint(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewSource(seed))
		in := randomInput(r, 2+r.Intn(5), 6+r.Intn(12))
		for i := range in.Cluster.Resources {
			sticky := model.Score(1000) // above any sum of the finite random scores: no ties with the current node
			in.Cluster.Resources[i].Meta.Stickiness = &sticky
		}
		var kept []model.Constraint
		for _, c := range in.Cluster.Constraints {
			if c.Colocation == nil {
				kept = append(kept, c)
			}
		}
		in.Cluster.Constraints = kept
		now := time.Unix(0, 0)
		plan, _ := Compute(in, now)
		next := in
		next.Resources = nil
		fails := map[string]model.Score{}
		placed := map[string]bool{}
		for _, a := range plan.Assignments {
			placed[a.Resource+"@"+a.Node] = true
		}
		for _, o := range in.Resources {
			fails[o.Resource+"@"+o.Node] = o.FailCount
			if o.FailCount > 0 && !placed[o.Resource+"@"+o.Node] {
				next.Resources = append(next.Resources, Observed{Resource: o.Resource, Node: o.Node, State: StateStopped, FailCount: o.FailCount})
			}
		}
		for _, a := range plan.Assignments {
			if a.Node == "" {
				continue
			}
			id := a.Resource
			if a.Instance != "" {
				id = a.Instance
			}
			next.Resources = append(next.Resources, Observed{Resource: id, Node: a.Node, State: StateRunning, FailCount: fails[a.Resource+"@"+a.Node]})
		}
		plan2, _ := Compute(next, now)
		if len(plan2.Actions) != 0 {
			t.Fatalf("seed %d: applying the plan and computing again gives actions %+v", seed, plan2.Actions)
		}
		if !reflect.DeepEqual(plan.Placement, plan2.Placement) {
			t.Fatalf("seed %d: placement changed after applying the plan:\n%v\n%v", seed, plan.Placement, plan2.Placement)
		}
	}
}

// TestProperty_IndependentOfInputOrder: shuffling the observed state and
// the constraints' relative order among equals, and re-serialising the
// input (new maps), does not change the plan.
func TestProperty_IndependentOfInputOrder(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewSource(seed))
		in := randomInput(r, 2+r.Intn(5), 6+r.Intn(12))
		plan, why := Compute(in, time.Unix(0, 0))
		// Round-trip through JSON: fresh maps with fresh iteration orders.
		data, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var again Input
		if err := json.Unmarshal(data, &again); err != nil {
			t.Fatal(err)
		}
		again.Cluster = in.Cluster
		r.Shuffle(len(again.Resources), func(i, j int) { again.Resources[i], again.Resources[j] = again.Resources[j], again.Resources[i] })
		// Location and order constraints commute: shuffle them among themselves.
		cl := *in.Cluster
		cl.Constraints = append([]model.Constraint(nil), in.Cluster.Constraints...)
		var locs []int
		for i, c := range cl.Constraints {
			if c.Location != nil {
				locs = append(locs, i)
			}
		}
		perm := r.Perm(len(locs))
		shuffled := append([]model.Constraint(nil), cl.Constraints...)
		for k, i := range locs {
			shuffled[i] = cl.Constraints[locs[perm[k]]]
		}
		cl.Constraints = shuffled
		again.Cluster = &cl
		plan2, why2 := Compute(again, time.Unix(0, 0))
		if !reflect.DeepEqual(plan.Placement, plan2.Placement) || !reflect.DeepEqual(plan.Actions, plan2.Actions) {
			t.Fatalf("seed %d: plan depends on input order:\n%+v\n%+v", seed, plan, plan2)
		}
		if !reflect.DeepEqual(why.Scores(), why2.Scores()) {
			t.Fatalf("seed %d: scores depend on input order", seed)
		}
	}
}

// TestCompute_NoPanicOnOddInput: empty, nil and inconsistent inputs give a
// plan with warnings, never a panic.
func TestCompute_NoPanicOnOddInput(t *testing.T) {
	Compute(Input{}, time.Time{})
	noNodes := &model.Cluster{Resources: []model.Resource{{ID: "a"}, {ID: "b"}, {ID: "c"}},
		Groups: []model.Group{{ID: "g", Resources: []string{"b"}}}, Clones: []model.Clone{{ID: "cl", Resource: "c"}},
		Constraints: []model.Constraint{{Colocation: &model.Colocation{Resource: "a", With: "g", Score: 5}}, {Order: &model.Order{First: "a", Then: "cl"}}}}
	if plan, _ := Compute(Input{Cluster: noNodes, Resources: []Observed{{Resource: "a", Node: "x", State: "running"}}}, time.Time{}); len(plan.Placement["a"]) != 0 {
		t.Errorf("no nodes: a placed on %v", plan.Placement["a"])
	}
	c := &model.Cluster{
		Nodes:     []model.Node{{Name: "a"}, {Name: "a"}, {Name: ""}},
		Resources: []model.Resource{{ID: "x"}},
		Groups:    []model.Group{{ID: "g", Resources: []string{"missing"}}, {ID: "empty"}},
		Clones:    []model.Clone{{ID: "c", Resource: "nothing"}, {ID: "c2", Resource: "g", Max: -3}},
		Constraints: []model.Constraint{
			{Location: &model.Location{Resource: "x", Rule: "((("}},
			{Location: &model.Location{Resource: "nope", Node: "a"}},
			{Colocation: &model.Colocation{Resource: "x", With: "x", Score: 5}},
			{Colocation: &model.Colocation{Resource: "x", With: "ghost", Score: 5}},
			{Order: &model.Order{First: "x", Then: "x"}},
			{},
		},
	}
	in := Input{Cluster: c, Nodes: map[string]NodeStatus{"zz": {Online: true}},
		Resources: []Observed{{Resource: "x", Node: "q"}, {Resource: "x:7", Node: "a", State: "weird"}}}
	_, why := Compute(in, time.Time{})
	if len(why.Warnings) == 0 {
		t.Error("odd input: expected warnings naming the problems")
	}
}
