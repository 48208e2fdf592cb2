package resources

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/test/harness"
)

// cliFail runs the haven CLI expecting it to fail; it returns stderr and
// fails the test when the command succeeds.
func (r *rig) cliFail(args ...string) string {
	r.t.Helper()
	out, errOut, err := r.c.CLI(args...)
	if err == nil {
		r.t.Fatalf("haven %s succeeded; expected a refusal\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

// cliLong runs the haven CLI with a longer bound than Cluster.CLI's 60 s
// (restart waits for a stop and a start).
func (r *rig) cliLong(limit time.Duration, args ...string) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.c.Bin, args...)
	cmd.Env = append(cmd.Environ(), "HAVEN_SOCKET=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("haven %s: %v\n%s%s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String()
}

// where returns `haven resource where RES --json` asked of node's agent.
func (r *rig) where(res, node string) api.WhereView {
	r.t.Helper()
	out := r.cli("resource", "where", res, "--json", "--socket", r.c.Node(node).Socket)
	var v api.WhereView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		r.t.Fatalf("resource where --json: %v\n%s", err, out)
	}
	return v
}

// waitWhere polls where on node's agent (a local read, which may lag the
// agent that committed) until ok.
func (r *rig) waitWhere(what, res, node string, ok func(api.WhereView) bool) api.WhereView {
	r.t.Helper()
	var v api.WhereView
	r.eventually(what, func() bool {
		v = r.where(res, node)
		return ok(v)
	})
	return v
}

func (r *rig) waitStopped(res string) {
	r.t.Helper()
	r.eventually(res+" stopped everywhere (processes and status)", func() bool {
		if len(r.runningOn(res)) > 0 {
			return false
		}
		s, err := r.status()
		if err != nil {
			return false
		}
		rv, ok := resourceOf(s, res)
		return ok && rv.State == "stopped" && len(rv.Nodes) == 0
	})
}

// The operator commands of DESIGN §8 against three agents and a witness:
// move to a named node, clear (stickiness keeps it), ban from the current
// node, refusals that change nothing, disable, enable, restart, where, and
// node maintenance.
func TestResources_MoveBanClearEnableDisableRestart(t *testing.T) {
	nodes := append(threeNodes(), harness.NodeSpec{Name: "w", Role: "witness"})
	r := newRig(t, "", nodes, `resources:
  - {id: svc, type: exec, params: {command: SCRIPT(svc)}, monitor: {interval: 1s, timeout: 5s}, meta: {stickiness: 100}}
constraints:
  - location: {resource: svc, node: n1, score: 50}
`)
	cfg := r.c.ConfigPath
	began := time.Now()
	phase := func(name string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), name) }
	r.c.StartAll()
	r.waitOn("svc", "n1")

	phase("started on n1")
	// where prints the node (crm_resource --locate's line).
	r.eventually("resource where svc names n1", func() bool {
		out, _, err := r.c.CLI("resource", "where", "svc", "-c", cfg)
		return err == nil && strings.Contains(out, "resource svc is running on: n1")
	})

	phase("where")
	// move to n3 with a lifetime: it runs there only; the answer says what
	// happens and until when.
	out := r.cli("resource", "move", "svc", "n3", "--lifetime", "1h", "-c", cfg)
	t.Logf("move svc n3:\n%s", out)
	for _, want := range []string{"Moving svc to n3", "svc: n1 -> n3", "(lifetime 1h)", "haven resource clear svc"} {
		if !strings.Contains(out, want) {
			t.Errorf("move said %q; expected it to contain %q", out, want)
		}
	}
	r.waitOn("svc", "n3")
	r.checkNeverTwice("svc")
	onN3 := r.pidFromFile("svc", "n3")
	r.eventually("status on n2 lists the move preference", func() bool {
		out, _, err := r.c.CLI("status", "--socket", r.c.Node("n2").Socket)
		return err == nil && strings.Contains(out, "Runtime Constraints") && strings.Contains(out, "svc: prefer n3 (INFINITY")
	})
	v := r.waitWhere("where on n2 shows the move", "svc", "n2", func(v api.WhereView) bool { return len(v.Preferences) > 0 })
	if len(v.Preferences) != 1 || v.Preferences[0].Kind != "move" || v.Preferences[0].Node != "n3" || v.Preferences[0].Expires == nil {
		t.Fatalf("where after the move: preferences %+v; expected one move to n3 with an expiry", v.Preferences)
	}

	phase("moved to n3")
	// Refusals change nothing: unknown resource, unknown node, the
	// witness, a standby node, a bad lifetime, too many arguments.
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"resource", "move", "nope", "n1"}, []string{`no resource, group or clone "nope"`, "svc"}},
		{[]string{"resource", "move", "svc", "n9"}, []string{`no node "n9"`, "n1, n2, n3, w"}},
		{[]string{"resource", "move", "svc", "w"}, []string{"node w is a witness", "nothing changed"}},
		{[]string{"resource", "ban", "svc", "w"}, []string{"node w is a witness"}},
		{[]string{"resource", "move", "svc", "n2", "--lifetime", "soon"}, []string{`lifetime "soon"`, "PT30M"}},
		{[]string{"resource", "clear", "svc", "n9"}, []string{`no node "n9"`}},
		{[]string{"resource", "disable", "nope"}, []string{`no resource, group or clone "nope"`}},
		{[]string{"resource", "move", "svc", "n2", "n3"}, []string{"takes RESOURCE [NODE]"}},
		{[]string{"node", "maintenance", "w"}, []string{"node w is a witness"}},
	} {
		errOut := r.cliFail(append(c.args, "-c", cfg)...)
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("haven %s: %q; expected it to contain %q", strings.Join(c.args, " "), errOut, w)
			}
		}
	}
	r.cli("node", "standby", "n2", "-c", cfg)
	r.eventually("n2 in standby on n2's agent", func() bool {
		s, err := r.c.Node("n2").Status()
		if err != nil {
			return false
		}
		for _, n := range s.Nodes {
			if n.Name == "n2" {
				return n.State == "standby"
			}
		}
		return false
	})
	errOut := r.cliFail("resource", "move", "svc", "n2", "--socket", r.c.Node("n2").Socket)
	if !strings.Contains(errOut, "svc cannot run on n2") || !strings.Contains(errOut, "standby") || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("move to a standby node: %q; expected a refusal naming standby", errOut)
	}
	r.cli("node", "unstandby", "n2", "-c", cfg)
	v = r.where("svc", "n2")
	if len(v.Preferences) != 1 || v.Preferences[0].Node != "n3" {
		t.Fatalf("after the refusals: preferences %+v; expected only the move to n3", v.Preferences)
	}
	if got := r.runningOn("svc"); !slices.Equal(got, []string{"n3"}) {
		t.Fatalf("after the refusals svc runs on %v; expected [n3]", got)
	}

	phase("refusals")
	// clear: stickiness 100 beats the location's 50, so it stays on n3
	// (the agent's scheduler preview says so, and the process lives on).
	out = r.cli("resource", "clear", "svc", "-c", cfg, "--json")
	var cr api.ClearResponse
	if err := json.Unmarshal([]byte(out), &cr); err != nil {
		t.Fatalf("clear --json: %v\n%s", err, out)
	}
	if len(cr.Cleared) != 1 || cr.Index == 0 {
		t.Fatalf("clear: %+v; expected one preference cleared and committed", cr)
	}
	for _, pc := range cr.Placement {
		if pc.ID == "svc" {
			t.Errorf("clear moves svc %v -> %v; expected it to stay on n3 (stickiness 100 > location 50)", pc.From, pc.To)
		}
	}
	out = r.cli("resource", "clear", "svc", "-c", cfg)
	if !strings.Contains(out, "nothing changed") {
		t.Errorf("a second clear said %q; expected nothing changed", out)
	}

	phase("cleared")
	// ban without a node: the current node, n3. It leaves n3 (for n1,
	// its location preference) and never runs twice.
	out = r.cli("resource", "ban", "svc", "-c", cfg)
	t.Logf("ban svc:\n%s", out)
	if !strings.Contains(out, "Banned svc from n3") || !strings.Contains(out, "haven resource clear svc n3") {
		t.Errorf("ban said %q; expected a ban of n3 and how to clear it", out)
	}
	r.waitOn("svc", "n1")
	r.checkNeverTwice("svc")
	for _, iv := range r.intervals() {
		if iv.node == "n3" && iv.pid != onN3 {
			t.Errorf("svc started again on n3 (pid %d) after the move there; expected it to stay (stickiness) until the ban", iv.pid)
		}
	}
	phase("banned from n3")
	// move without a node = away from the current node (n1): a ban there.
	out = r.cli("resource", "move", "svc", "--json", "-c", cfg)
	var mr api.MoveResponse
	if err := json.Unmarshal([]byte(out), &mr); err != nil {
		t.Fatalf("move --json: %v\n%s", err, out)
	}
	if mr.Kind != "ban" || mr.Node != "n1" || !slices.Equal(mr.From, []string{"n1"}) {
		t.Fatalf("move without a node: %+v; expected a ban of n1", mr)
	}
	r.waitOn("svc", "n2") // banned from n3 and n1
	r.cli("resource", "clear", "svc", "n1", "-c", cfg)
	r.cli("resource", "clear", "svc", "n3", "-c", cfg)
	r.waitWhere("no preferences left on n1's agent", "svc", "n1", func(v api.WhereView) bool { return len(v.Preferences) == 0 })

	phase("moved away from n1, cleared")
	// disable: stopped everywhere; enable: runs again.
	out = r.cli("resource", "disable", "svc", "-c", cfg)
	if !strings.Contains(out, "target role Stopped") {
		t.Errorf("disable said %q", out)
	}
	r.waitStopped("svc")
	r.eventually("where says svc is not running", func() bool {
		out, _, err := r.c.CLI("resource", "where", "svc", "-c", cfg)
		return err == nil && strings.Contains(out, "resource svc is NOT running")
	})
	r.cli("resource", "enable", "svc", "-c", cfg)
	r.eventually("svc running on one node again", func() bool { return len(r.runningOn("svc")) == 1 })
	on := r.runningOn("svc")[0]
	r.waitOn("svc", on)

	phase("disabled and enabled")
	// restart: a new process, where it ran (stickiness).
	old := r.pidFromFile("svc", on)
	out = r.cliLong(3*time.Minute, "resource", "restart", "svc", "--timeout", "80s", "-c", cfg)
	t.Logf("restart svc:\n%s", out)
	if !strings.Contains(out, "Restarted svc") {
		t.Errorf("restart said %q", out)
	}
	r.eventually("svc running with a new process", func() bool {
		l := r.live("svc")
		return len(l) == 1 && l[0].pid != old
	})
	if processAlive(old) {
		t.Errorf("svc's old process %d still runs after restart", old)
	}
	r.checkNeverTwice("svc")
	if v := r.where("svc", on); v.TargetRole == "Stopped" {
		t.Errorf("after restart svc's target role is %q; expected it restored", v.TargetRole)
	}

	phase("restarted")
	// node maintenance shows in the status; unmaintenance takes it back.
	r.cli("node", "maintenance", "n3", "-c", cfg)
	nodeState := func(want string) func() bool {
		return func() bool {
			s, err := r.c.Node("n1").Status()
			if err != nil {
				return false
			}
			for _, n := range s.Nodes {
				if n.Name == "n3" {
					return n.State == want
				}
			}
			return false
		}
	}
	r.eventually("n3 in maintenance", nodeState("maintenance"))
	r.cli("node", "unmaintenance", "n3", "-c", cfg)
	r.eventually("n3 online again", nodeState("online"))
	r.checkNeverTwice("svc")
}
