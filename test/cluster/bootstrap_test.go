package cluster

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
)

// TestBootstrap_NoManualStep: three fresh agents elect a leader and commit
// the file as version 1 by themselves; `haven status --json` shows the same
// leader and config_version on every node, over the socket and over TCP.
func TestBootstrap_NoManualStep(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.StartAll()
	leader, version := c.WaitConverged(1, converge)
	if version != 1 {
		t.Fatalf("config_version = %d after bootstrap, want 1 (the seed)", version)
	}
	cfg := committedEverywhere(t, c, 1)
	orig, _ := os.ReadFile(c.Node("a").ConfigPath)
	if cfg.YAML != string(orig) {
		t.Fatalf("committed configuration differs from the file it was seeded from")
	}
	for _, n := range c.Nodes {
		out, stderr, err := c.CLI("status", "--json", "-c", c.ConfigPath, "--node", n.Name)
		if err != nil {
			t.Fatalf("haven status --json --node %s: %v\n%s", n.Name, err, stderr)
		}
		var s api.StatusView
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("status --json is not JSON: %v\n%s", err, out)
		}
		if s.Leader != leader || s.ConfigVersion != 1 || s.Cluster != "rep" || len(s.Nodes) != 3 || s.Resources == nil || !s.Quorum.Quorate {
			t.Errorf("%s: status %+v, want leader %s, config_version 1, 3 nodes, quorate", n.Name, s, leader)
		}
		if len(s.Consensus.Voters) != 3 {
			t.Errorf("%s: voters %v, want a b c", n.Name, s.Consensus.Voters)
		}
		if len(s.Resources) != 1 || s.Resources[0].ID != "r0" {
			t.Errorf("%s: resources %+v, want r0", n.Name, s.Resources)
		}
	}
	// Raft converges before gossip has told every node about every other
	// (a node learns of a late joiner at the next gossip tick): wait for b
	// to see all three online before reading its human status.
	var out string
	var err error
	for deadline := time.Now().Add(converge); ; time.Sleep(100 * time.Millisecond) {
		out, _, err = c.CLI("status", "--socket", c.Node("b").Socket)
		if (err == nil && strings.Contains(out, "Online: [ a b c ]")) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !strings.Contains(out, "Current DC: "+leader) || !strings.Contains(out, "Configuration version: 1") || !strings.Contains(out, "Online: [ a b c ]") {
		t.Errorf("human status:\n%s (%v)", out, err)
	}
	out, _, err = c.CLI("config", "show", "--socket", c.Node("c").Socket)
	if err != nil || out != cfg.YAML {
		t.Errorf("config show printed %q (%v), want the committed file", out, err)
	}
}
