package resources

import (
	"strings"
	"testing"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/test/harness"
)

// Seed 001's shape: two nodes and a witness, a service address colocated
// with a web server (exec stands in for both), preferring Lubuntu.
const seed001 = `resources:
  - {id: failoverip, type: exec, params: {command: SCRIPT(failoverip)}, monitor: {interval: 1s, timeout: 5s}}
  - {id: serviceWeb, type: exec, params: {command: SCRIPT(serviceWeb)}, monitor: {interval: 1s, timeout: 5s}}
constraints:
  - location: {id: preferred-Lubuntu, resource: failoverip, node: Lubuntu, score: 100}
  - colocation: {id: failoverip-serviceWeb, resource: failoverip, with: serviceWeb, score: INFINITY}
`

func seed001Rig(t *testing.T) *rig {
	return newRig(t, "  no_quorum_policy: ignore\n  stonith: false",
		[]harness.NodeSpec{{Name: "Lubuntu"}, {Name: "Lubuntu1"}, {Name: "witness", Role: "witness"}}, seed001)
}

func (r *rig) waitBothOn(node string) {
	r.t.Helper()
	r.waitOn("failoverip", node)
	r.waitOn("serviceWeb", node)
}

// The preferred node fails (agent and processes killed, as a machine
// failure): both move to Lubuntu1; it returns: both fail back.
func TestResources_Seed001FailbackToPreferred(t *testing.T) {
	r := seed001Rig(t)
	r.c.StartAll()
	r.waitBothOn("Lubuntu")
	r.c.Node("Lubuntu").Kill()
	r.killNodeResources("Lubuntu")
	r.waitBothOn("Lubuntu1")
	r.c.Node("Lubuntu").Start()
	r.waitBothOn("Lubuntu")
	r.checkNeverTwice("failoverip", "serviceWeb")
	// The witness never ran anything.
	for _, iv := range r.intervals() {
		if iv.node == "witness" {
			t.Errorf("%s ran on the witness (pid %d)", iv.res, iv.pid)
		}
	}
}

// `haven node standby` moves everything off Lubuntu; unstandby brings it
// back (stickiness 0, location 100).
func TestResources_Seed001StandbyAndBack(t *testing.T) {
	r := seed001Rig(t)
	r.c.StartAll()
	r.waitBothOn("Lubuntu")
	out := r.cli("node", "standby", "Lubuntu", "-c", r.c.ConfigPath)
	if !strings.Contains(out, "Lubuntu is in standby") {
		t.Errorf("node standby said %q", out)
	}
	r.waitBothOn("Lubuntu1")
	s := r.c.Node("witness").WaitStatus("Lubuntu shown in standby", waitFor, func(s api.StatusView) bool {
		for _, n := range s.Nodes {
			if n.Name == "Lubuntu" {
				return n.State == "standby"
			}
		}
		return false
	})
	if st := r.cli("status", "--socket", r.c.Node("witness").Socket); !strings.Contains(st, "Standby: [ Lubuntu ]") {
		t.Errorf("haven status on the witness does not show Lubuntu in standby:\n%s", st)
	}
	_ = s
	r.cli("node", "unstandby", "Lubuntu", "--socket", r.c.Node("Lubuntu1").Socket)
	r.waitBothOn("Lubuntu")
	r.checkNeverTwice("failoverip", "serviceWeb")
	// Standby of the witness is refused.
	if _, errOut, err := r.c.CLI("node", "standby", "witness", "-c", r.c.ConfigPath); err == nil || !strings.Contains(errOut, "witness") {
		t.Errorf("standby of the witness: err %v, stderr %q; expected a refusal", err, errOut)
	}
}

// The witness coordinates when it is the raft leader: data nodes are
// restarted gracefully (leadership handed over) until the witness leads;
// then a standby is still carried out, scheduled by the witness.
func TestResources_Seed001WitnessCoordinates(t *testing.T) {
	r := seed001Rig(t)
	r.c.StartAll()
	r.waitBothOn("Lubuntu")
	// The coordinator role moves to the witness by itself (the plan's
	// handoff: a coordinator running resources hands the role to an
	// answering voter running none, a witness first), except from
	// Lubuntu1, which runs nothing and keeps it; restarting Lubuntu1 hands
	// its leadership to Lubuntu or the witness, and Lubuntu hands over.
	// A leader counts once it says so itself: right after a restart the
	// witness may still name the node that just stopped.
	leading := func(name string) bool {
		s, err := r.c.Node(name).Status()
		return err == nil && s.Controller != nil && s.Controller.Leading
	}
	leader := ""
	for try := 0; try < 3; try++ {
		leader = r.c.Node("witness").WaitStatus("the witness, or Lubuntu1 (idle), coordinating", waitFor, func(s api.StatusView) bool {
			return (s.Leader == "witness" || s.Leader == "Lubuntu1") && leading(s.Leader)
		}).Leader
		if leader == "witness" {
			break
		}
		t.Logf("leader is %s, which runs nothing and keeps the role; restarting it", leader)
		r.c.Node(leader).Stop()
		r.c.Node(leader).Start()
		r.c.Node(leader).WaitStatus("back with a leader", waitFor, func(s api.StatusView) bool { return s.Leader != "" })
	}
	if leader != "witness" {
		t.Fatalf("the witness never became coordinator (leader %s): no handoff to the witness", leader)
	}
	r.c.Node("witness").WaitStatus("the witness coordinating", waitFor, func(s api.StatusView) bool {
		return s.Controller != nil && s.Controller.Leading
	})
	r.waitBothOn("Lubuntu")
	r.cli("node", "standby", "Lubuntu", "-c", r.c.ConfigPath)
	r.waitBothOn("Lubuntu1")
	r.cli("node", "unstandby", "Lubuntu", "-c", r.c.ConfigPath)
	r.waitBothOn("Lubuntu")
	for _, iv := range r.intervals() {
		if iv.node == "witness" {
			t.Errorf("%s ran on the witness (pid %d)", iv.res, iv.pid)
		}
	}
}
