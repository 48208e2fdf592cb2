package scheduler

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

// benchInput builds a realistic large cluster: nodes with a ping attribute;
// resources with stickiness 100, a preferred node each (location 100), a
// ban every tenth; groups of three (a fifth of the resources); chains of
// INFINITY colocations and mandatory orders every five primitives; a few
// anonymous clones; a ping rule on every group; half the resources already
// running where they were, some with failures.
func benchInput(nodes, rscs int) Input {
	r := rand.New(rand.NewSource(42))
	c := &model.Cluster{}
	in := Input{Cluster: c, Nodes: map[string]NodeStatus{}, Quorate: true}
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("node%02d", i)
		c.Nodes = append(c.Nodes, model.Node{Name: name})
		in.Nodes[name] = NodeStatus{Online: i != 3, Standby: i == 5, Attributes: map[string]string{"pingd": fmt.Sprint(1000 * (i % 4))}}
	}
	sticky := model.Score(100)
	id := func(i int) string { return fmt.Sprintf("rsc%05d", i) }
	for i := 0; i < rscs; i++ {
		c.Resources = append(c.Resources, model.Resource{ID: id(i), Type: "exec", Meta: model.Meta{Stickiness: &sticky, MigrationThreshold: 3}})
		c.Constraints = append(c.Constraints, model.Constraint{Location: &model.Location{ID: "prefer-" + id(i), Resource: id(i), Node: c.Nodes[r.Intn(nodes)].Name, Score: 100}})
		if i%10 == 0 {
			c.Constraints = append(c.Constraints, model.Constraint{Location: &model.Location{ID: "ban-" + id(i), Resource: id(i), Node: c.Nodes[r.Intn(nodes)].Name, Score: model.NegInfinity}})
		}
		if r.Intn(2) == 0 {
			o := Observed{Resource: id(i), Node: c.Nodes[r.Intn(nodes)].Name, State: StateRunning}
			if r.Intn(20) == 0 {
				o.State, o.FailCount, o.LastFailure = StateFailed, 1, time.Unix(1000, 0)
			}
			in.Resources = append(in.Resources, o)
		}
	}
	// Groups of three over the first fifth of the resources.
	grouped := rscs / 5 / 3 * 3
	for g := 0; g < grouped; g += 3 {
		gid := fmt.Sprintf("grp%05d", g)
		c.Groups = append(c.Groups, model.Group{ID: gid, Resources: []string{id(g), id(g + 1), id(g + 2)}})
		c.Constraints = append(c.Constraints, model.Constraint{Location: &model.Location{ID: "ping-" + gid, Resource: gid, Score: model.NegInfinity, Rule: "pingd lt 1 or not_defined pingd"}})
	}
	// A few clones.
	clones := 0
	for i := grouped; i < grouped+8 && i < rscs; i++ {
		c.Clones = append(c.Clones, model.Clone{ID: id(i) + "-clone", Resource: id(i)})
		clones++
	}
	// Colocation and order chains of five among the plain primitives.
	for i := grouped + clones; i+1 < rscs; i++ {
		if (i-grouped-clones)%5 == 4 {
			continue
		}
		c.Constraints = append(c.Constraints,
			model.Constraint{Colocation: &model.Colocation{ID: "col-" + id(i+1), Resource: id(i + 1), With: id(i), Score: model.Infinity}},
			model.Constraint{Order: &model.Order{ID: "ord-" + id(i+1), First: id(i), Then: id(i + 1)}})
	}
	return in
}

// BenchmarkCompute measures a whole Compute (placement, transition and
// explanation). Run with -cpu 1; figures are in docs/bench/scheduler.md.
func BenchmarkCompute(b *testing.B) {
	for _, size := range []struct{ nodes, rscs int }{{32, 1000}, {32, 10000}} {
		in := benchInput(size.nodes, size.rscs)
		b.Run(fmt.Sprintf("nodes=%d/resources=%d", size.nodes, size.rscs), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				plan, _ := Compute(in, time.Unix(2000, 0))
				if len(plan.Placement) == 0 {
					b.Fatal("empty placement")
				}
			}
		})
	}
}

// TestBenchInput_Places checks the benchmark's cluster is meaningful: most
// resources are placed and no -INFINITY location is violated.
func TestBenchInput_Places(t *testing.T) {
	in := benchInput(32, 1000)
	plan, _ := Compute(in, time.Unix(2000, 0))
	placed := 0
	for _, a := range plan.Assignments {
		if a.Node != "" {
			placed++
		}
	}
	if placed < len(plan.Assignments)/2 {
		t.Fatalf("only %d of %d instances placed", placed, len(plan.Assignments))
	}
	for _, con := range in.Cluster.Constraints {
		if l := con.Location; l != nil && l.Score == model.NegInfinity && l.Node != "" {
			for _, n := range plan.Placement[l.Resource] {
				if n == l.Node {
					t.Fatalf("%s on %s despite %s", l.Resource, n, l.ID)
				}
			}
		}
	}
}
