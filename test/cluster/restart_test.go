package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/harness"
)

// snapshotOf is what must survive a restart: the committed configuration
// and every node's view of it.
type snapshotOf struct {
	version uint64
	yaml    string
	nodes   string
	res     string
}

func takeSnapshot(t *testing.T, c *harness.Cluster) snapshotOf {
	t.Helper()
	cfg := committedEverywhere(t, c, 1)
	_, v := c.WaitConverged(cfg.Version, converge)
	s, err := c.Nodes[0].Status()
	if err != nil {
		t.Fatal(err)
	}
	var nodes, res []string
	for _, n := range s.Nodes {
		nodes = append(nodes, fmt.Sprintf("%s/%s/%v", n.Name, n.Role, n.Voter))
	}
	for _, r := range s.Resources {
		res = append(res, r.ID+"/"+r.Type)
	}
	return snapshotOf{version: v, yaml: cfg.YAML, nodes: strings.Join(nodes, " "), res: strings.Join(res, " ")}
}

// TestRestart_WholeClusterKeepsState: after a few applies, the whole
// cluster is stopped (SIGTERM) and started, then killed (SIGKILL) and
// started: the committed configuration, its version and what status shows
// are identical each time.
func TestRestart_WholeClusterKeepsState(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.StartAll()
	c.WaitConverged(1, converge)
	for i := 1; i <= 3; i++ {
		cur, _ := c.Node("a").Config()
		if _, err := apply(c.Node("b"), withResource(cur.YAML, fmt.Sprintf("x%d", i)), cur.Version); err != nil {
			t.Fatal(err)
		}
	}
	before := takeSnapshot(t, c)
	if before.version != 4 {
		t.Fatalf("version %d before the restart, want 4", before.version)
	}
	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		for _, n := range c.Nodes {
			if how == "SIGTERM" {
				n.Stop()
			} else {
				n.Kill()
			}
		}
		c.StartAll()
		after := takeSnapshot(t, c)
		if after != before {
			t.Fatalf("after %s of every node and a restart: %+v\nbefore: %+v", how, after, before)
		}
	}
}

// TestRestart_WipedNodeCatchesUp: a node whose data directory is removed
// while it is down (changes are committed meanwhile) rejoins with an empty
// directory and catches up: same committed version and file as the others.
// A node whose file was edited by hand while it was down gets the committed
// file back once it has joined.
func TestRestart_WipedNodeCatchesUp(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.StartAll()
	c.WaitConverged(1, converge)
	c.Node("c").Stop()
	c.Node("c").WipeData()
	for i := 1; i <= 3; i++ {
		cur, err := c.Node("a").Config()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := apply(c.Node("a"), withResource(cur.YAML, fmt.Sprintf("x%d", i)), cur.Version); err != nil {
			t.Fatalf("apply %d with c down: %v", i, err)
		}
	}
	// Drift: c's own file is edited by hand while it is down.
	if err := os.WriteFile(c.Node("c").ConfigPath, []byte(withResource(mustRead(t, c.Node("c").ConfigPath), "handmade")), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Node("c").Start()
	cfg := committedEverywhere(t, c, 4)
	if cfg.Version != 4 || strings.Contains(cfg.YAML, "handmade") {
		t.Fatalf("after the wipe: version %d (want 4), handmade resource committed: %v", cfg.Version, strings.Contains(cfg.YAML, "handmade"))
	}
	c.Node("c").WaitStatus("c follows with version 4", converge, func(s api.StatusView) bool {
		return s.ConfigVersion == 4 && s.Leader != "" && s.Leader != "c" || s.ConfigVersion == 4 && s.Consensus.State == "Leader"
	})
	if !strings.Contains(c.Node("c").Log(), "configuration file differs from the committed configuration; the committed one wins") {
		t.Errorf("c's log does not say its file was replaced by the committed one")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWitness_TwoNodesKeepApplying: two data nodes and a witness run by
// `haven witness`: with either data node down, applies still commit; the
// node coming back catches up. `haven witness` refuses a member, `haven
// agent` refuses the witness.
func TestWitness_TwoNodesKeepApplying(t *testing.T) {
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "multi-process cluster test")
	}
	c := harness.New(t, harness.Spec{Name: "wit", PerNodeConfig: true, Profile: "fast", Extra: baseResources,
		Nodes: []harness.NodeSpec{{Name: "n1"}, {Name: "n2"}, {Name: "w", Role: "witness"}}})
	dumpLogsOnFailure(t, c)

	_, stderr, err := c.CLI("witness", "-c", c.ConfigPath, "--node", "n1", "--data-dir", filepath.Join(t.TempDir(), "x"), "--socket", filepath.Join(t.TempDir(), "x.sock"))
	if err == nil || !strings.Contains(stderr, "node n1 is not a witness") {
		t.Fatalf("haven witness --node n1: %v %q, want a refusal", err, stderr)
	}
	_, stderr, err = c.CLI("agent", "-c", c.ConfigPath, "--node", "w", "--data-dir", filepath.Join(t.TempDir(), "y"), "--socket", filepath.Join(t.TempDir(), "y.sock"))
	if err == nil || !strings.Contains(stderr, "haven witness") {
		t.Fatalf("haven agent --node w: %v %q, want a refusal pointing to haven witness", err, stderr)
	}

	c.StartAll()
	c.WaitConverged(1, converge)
	s, _ := c.Node("w").Status()
	if len(s.Consensus.Voters) != 3 {
		t.Fatalf("voters %v, want n1 n2 w", s.Consensus.Voters)
	}
	version := uint64(1)
	for round, down := range []string{"n1", "n2"} {
		up := map[string]string{"n1": "n2", "n2": "n1"}[down]
		c.Node(down).Kill()
		for i := 0; i < 3; i++ {
			id := fmt.Sprintf("x%d%d", round, i)
			var err error
			deadline := time.Now().Add(converge)
			for time.Now().Before(deadline) {
				var cur api.ConfigView
				if cur, err = c.Node(up).Config(); err == nil && !cur.Stale {
					if _, err = apply(c.Node(up), withResource(cur.YAML, id), cur.Version); err == nil {
						break
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("apply %s with %s down: %v", id, down, err)
			}
			version++
		}
		c.Node(down).Start()
		cfg := committedEverywhere(t, c, version)
		if cfg.Version != version {
			t.Fatalf("version %d, want %d", cfg.Version, version)
		}
	}
}
