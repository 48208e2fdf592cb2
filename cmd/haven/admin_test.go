package main

// admin_test.go checks how the administrative commands print their answers
// and refuse bad arguments; what the requests mean is engine/admin's
// (tested there without processes).

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
)

func TestPrintMove_SaysWhatAndUntilWhen(t *testing.T) {
	exp := time.Date(2026, 11, 22, 15, 0, 0, 0, time.Local)
	var b strings.Builder
	printMove(&b, api.MoveResponse{Resource: "web", Kind: "move", Node: "n2", From: []string{"n1"}, Expires: &exp, Index: 7,
		Cleared:   []api.PreferenceView{{Resource: "web", Kind: "ban", Node: "n2", Score: "-INFINITY"}},
		Placement: []api.PlacementChange{{ID: "web", From: []string{"n1"}, To: []string{"n2"}}}}, "move", "1h")
	out := b.String()
	for _, want := range []string{"Moving web to n2", "cleared first: web: banned from n2", "web: n1 -> n2", "(lifetime 1h) or 'haven resource clear web'"} {
		if !strings.Contains(out, want) {
			t.Errorf("move output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printMove(&b, api.MoveResponse{Resource: "web", Kind: "ban", Node: "n1", From: []string{"n1"}, Placement: []api.PlacementChange{},
		Warnings: []string{"web will not run anywhere: no node can run it"}}, "move", "")
	out = b.String()
	for _, want := range []string{"Moving web away from n1", "placement: no change", "Warning: web will not run anywhere", "until 'haven resource clear web n1', even if n1 is the last node"} {
		if !strings.Contains(out, want) {
			t.Errorf("move-away output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printWhere(&b, api.WhereView{Resource: "g", Kind: "group", Nodes: []string{"n1"}, TargetRole: "Stopped",
		Primitives:  []api.PrimitiveWhere{{ID: "a", Started: []string{"n1"}}, {ID: "b"}},
		Preferences: []api.PreferenceView{{Resource: "g", Kind: "move", Node: "n1", Score: "INFINITY"}}})
	out = b.String()
	for _, want := range []string{"resource g is running on: n1\n", "  a: n1\n", "  b: stopped\n", "target role: Stopped (haven resource disable)", "g: prefer n1 (INFINITY"} {
		if !strings.Contains(out, want) {
			t.Errorf("where output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printConstraints(&b, &api.ConstraintsView{Preferences: []api.PreferenceView{{Resource: "web", Kind: "ban", Node: "n1", Score: "-INFINITY"}},
		TargetRoles: []api.TargetRoleView{{Resource: "db", Role: "Stopped"}}})
	if out = b.String(); !strings.Contains(out, "Runtime Constraints") || !strings.Contains(out, "web: banned from n1 (-INFINITY") || !strings.Contains(out, "db: target role Stopped") {
		t.Errorf("constraints output:\n%s", out)
	}
	b.Reset()
	printConstraints(&b, &api.ConstraintsView{})
	if b.Len() != 0 {
		t.Errorf("no constraints printed %q; expected nothing", b.String())
	}
}

// Bad arguments are refused by the real binary before any agent is
// reached (HAVEN_SOCKET names no socket, so reaching one would say so).
func TestResourceCLI_ArgumentErrors(t *testing.T) {
	bin := buildHaven(t)
	nosock := filepath.Join(t.TempDir(), "none.sock")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HAVEN_SOCKET="+nosock)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"resource", "move"}, "takes RESOURCE [NODE]; got 0 argument(s)"},
		{[]string{"resource", "move", "web", "n1", "n2"}, "takes RESOURCE [NODE]; got 3 argument(s)"},
		{[]string{"resource", "ban", "web", ""}, "an empty argument"},
		{[]string{"resource", "clear"}, "takes RESOURCE [NODE]"},
		{[]string{"resource", "where", "a", "b"}, "takes RESOURCE; got 2"},
		{[]string{"resource", "enable"}, "takes RESOURCE; got 0"},
		{[]string{"resource", "disable", "a", "b"}, "takes RESOURCE; got 2"},
		{[]string{"resource", "restart"}, "takes RESOURCE; got 0"},
		{[]string{"resource", "cleanup"}, "takes RESOURCE; got 0"},
		{[]string{"node", "maintenance"}, "takes NODE; got 0"},
		{[]string{"node", "unmaintenance", "a", "b"}, "takes NODE; got 2"},
		{[]string{"resource", "move", "web", "n1", "--lifetime", "soon"}, `lifetime "soon" is not a duration`},
		{[]string{"resource", "move", "web", "n1", "--lifetime", "-5m"}, `lifetime "-5m" is negative`},
		{[]string{"resource", "ban", "web", "--lifetime", "P1M"}, "years or months"},
		{[]string{"resource", "ban", "web", "--lifetime", "0"}, "not positive"},
		{[]string{"resource", "move", "web", "n1", "--node", "n2"}, "NODE given twice"},
		{[]string{"resource", "restart", "web", "--timeout", "0s"}, "--timeout 0s is not positive"},
		{[]string{"resource", "restart", "web", "--timeout", "soon"}, "invalid argument"},
		{[]string{"resource", "move", "web", "n1", "--score", "5"}, "unknown flag: --score"},
		{[]string{"resource", "ban", "web", "--force"}, "unknown flag: --force"},
	} {
		out, err := run(c.args...)
		if err == nil {
			t.Errorf("haven %s succeeded; expected a refusal\n%s", strings.Join(c.args, " "), out)
			continue
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("haven %s: %q; expected it to contain %q", strings.Join(c.args, " "), out, c.want)
		}
		if strings.Contains(out, "reach the agent") {
			t.Errorf("haven %s reached for an agent before refusing its arguments: %q", strings.Join(c.args, " "), out)
		}
	}
	// Well-formed commands reach for the agent and say when none answers.
	for _, args := range [][]string{
		{"resource", "move", "web", "n1", "--lifetime", "PT30M"}, {"resource", "where", "web"}, {"resource", "restart", "web"},
		{"node", "maintenance", "n1"}, {"resource", "clear", "web", "--node", "n1"},
	} {
		out, err := run(args...)
		if err == nil || !strings.Contains(out, "reach the agent at unix:"+nosock) {
			t.Errorf("haven %s without an agent: %v %q; expected it to say it cannot reach the agent", strings.Join(args, " "), err, out)
		}
	}
	// -c with a missing file names it.
	if out, err := run("resource", "disable", "web", "-c", filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(out, "missing.yaml") {
		t.Errorf("disable -c missing.yaml: %v %q", err, out)
	}
}
