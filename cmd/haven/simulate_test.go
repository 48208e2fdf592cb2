package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havenha/haven/internal/testenv"
)

// buildHaven builds the real binary once per test.
func buildHaven(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "haven")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type simJSON struct {
	Placement map[string][]string `json:"placement"`
	Actions   []struct {
		Action, Resource, Node, From string
	} `json:"actions"`
	Scores  map[string]map[string]string `json:"scores"`
	Quorate bool                         `json:"quorate"`
}

func runSim(t *testing.T, bin string, args ...string) simJSON {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"simulate", "--json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("haven simulate %v: %v", args, err)
	}
	var doc simJSON
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("haven simulate %v: not JSON: %v\n%s", args, err, out)
	}
	return doc
}

func TestSimulate_Seed000QuorumLossStopsEverything(t *testing.T) {
	bin := buildHaven(t)
	cfg := "../../examples/seed000-tgtd.yaml"
	up := runSim(t, bin, "-c", cfg)
	want := map[string]string{"ClusterTgtd1": "sv1", "ClusterTgtd2": "sv2", "ClusterIscsid": "cl1", "ClusterIP": "cl1",
		"ClusterMailTo": "cl1", "ClusterFsDatab": "cl1", "ClusterFsDatac": "cl1"}
	for r, n := range want {
		if got := up.Placement[r]; len(got) != 1 || got[0] != n {
			t.Errorf("all up: %s on %v, want %s", r, got, n)
		}
	}
	if len(up.Actions) != 0 || !up.Quorate {
		t.Errorf("steady state: want no actions and quorum, got %+v quorate=%v", up.Actions, up.Quorate)
	}
	if up.Scores["ClusterTgtd1"]["sv1"] != "INFINITY" {
		t.Errorf("scores: ClusterTgtd1 on sv1 = %q, want INFINITY", up.Scores["ClusterTgtd1"]["sv1"])
	}

	down := runSim(t, bin, "-c", cfg, "--down", "sv2")
	if down.Quorate {
		t.Error("--down sv2 leaves 4 of 8 votes: want no quorum")
	}
	for r := range want {
		if got := down.Placement[r]; len(got) != 0 {
			t.Errorf("--down sv2: %s still placed on %v", r, got)
		}
	}
	stops := 0
	for _, a := range down.Actions {
		if a.Action != "stop" {
			t.Errorf("--down sv2: unexpected action %+v", a)
		}
		stops++
	}
	if stops != 6 { // sv2's own Tgtd2 went down with it
		t.Errorf("--down sv2: %d stops, want 6", stops)
	}

	cl1 := runSim(t, bin, "-c", cfg, "--down", "cl1")
	if got := cl1.Placement["ClusterIP"]; !cl1.Quorate || len(got) != 1 || got[0] != "cl2" {
		t.Errorf("--down cl1: ClusterIP on %v (quorate %v), want cl2 with quorum", got, cl1.Quorate)
	}
}

func TestSimulate_CIB(t *testing.T) {
	cibFile := "../../../shared/oracle/scheduler/seed000-four-node-cib.xml"
	if _, err := os.Stat(cibFile); err != nil {
		testenv.Missing(t, "the oracle CIB %s is not there: ../shared must be beside the checkout", cibFile)
	}
	bin := buildHaven(t)
	doc := runSim(t, bin, "--cib", cibFile)
	for r, n := range map[string]string{"ClusterTgtd1": "sv1", "ClusterTgtd2": "sv2", "ClusterIscsid": "cl1", "ClusterFsDatac": "cl1"} {
		if got := doc.Placement[r]; len(got) != 1 || got[0] != n {
			t.Errorf("CIB: %s on %v, want %s", r, got, n)
		}
	}
	out, err := exec.Command(bin, "simulate", "--cib", cibFile, "--down", "cl1").CombinedOutput()
	if err != nil {
		t.Fatalf("simulate --cib --down cl1: %v\n%s", err, out)
	}
	for _, section := range []string{"Current cluster status:", "Transition Summary:", "Executing Cluster Transition:", "Revised Cluster Status:"} {
		if !strings.Contains(string(out), section) {
			t.Errorf("human output lacks %q:\n%s", section, out)
		}
	}
	if !strings.Contains(string(out), "ClusterIP\t(ocf:heartbeat:IPaddr2):\t Started cl2") {
		t.Errorf("--down cl1: ClusterIP should be revised to cl2:\n%s", out)
	}
	bad := exec.Command(bin, "simulate", "-c", "../../examples/seed000-tgtd.yaml", "--down", "nosuch")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "not configured") {
		t.Errorf("--down of an unknown node: want an error naming it, got %v: %s", err, out)
	}
}

func TestSimulate_StateFile(t *testing.T) {
	bin := buildHaven(t)
	state := filepath.Join(t.TempDir(), "state.json")
	// cl1 is down while the client stack still runs there; ClusterIP failed on
	// it: everything of the client side moves to cl2.
	doc := `{"nodes": {"sv1": {"online": true}, "sv2": {"online": true}, "cl1": {"online": false, "unclean": true}, "cl2": {"online": true}},
	 "quorate": true,
	 "resources": [{"resource": "ClusterTgtd1", "node": "sv1", "state": "running"},
	               {"resource": "ClusterTgtd2", "node": "sv2", "state": "running"},
	               {"resource": "ClusterIscsid", "node": "cl1", "state": "running"},
	               {"resource": "ClusterIP", "node": "cl1", "state": "failed", "fail_count": "1", "last_failure": "2026-01-01T00:00:00Z"}],
	 "admin": {"target_role": {"ClusterMailTo": "Stopped"}}}`
	if err := os.WriteFile(state, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runSim(t, bin, "-c", "../../examples/seed000-tgtd.yaml", "--state", state)
	if p := got.Placement["ClusterIscsid"]; len(p) != 1 || p[0] != "cl2" {
		t.Errorf("ClusterIscsid on %v, want cl2", p)
	}
	if p := got.Placement["ClusterMailTo"]; len(p) != 0 {
		t.Errorf("ClusterMailTo disabled but placed on %v", p)
	}
	moves := 0
	for _, a := range got.Actions {
		if a.Action == "move" && a.From == "cl1" && a.Node == "cl2" {
			moves++
		}
	}
	if moves != 2 {
		t.Errorf("want ClusterIscsid and ClusterIP moved from the unclean cl1 to cl2, got %+v", got.Actions)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"nodes": 3}`), 0o644)
	if out, err := exec.Command(bin, "simulate", "-c", "../../examples/seed000-tgtd.yaml", "--state", bad).CombinedOutput(); err == nil || !strings.Contains(string(out), "expected the JSON of a scheduler input") {
		t.Errorf("bad state file: want a clear error, got %v: %s", err, out)
	}
}
