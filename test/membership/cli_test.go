package membership

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/test/harness"
)

// TestCLI_QuorumRemoteAndLocal: `haven quorum` reaches an agent over its
// unix socket and, with -c FILE --node NAME, over TCP with the token derived
// from the key file; a wrong key file is refused with a clear error.
func TestCLI_QuorumRemoteAndLocal(t *testing.T) {
	c := seed000(t)
	c.StartAll()
	for _, n := range c.Nodes {
		n.WaitQuorum("6 votes", converge, func(q api.QuorumView) bool { return q.TotalVotes == 6 })
	}
	out, err := exec.Command(c.Bin, "quorum", "--json", "-c", c.ConfigPath, "--node", "sv2").CombinedOutput()
	if err != nil {
		t.Fatalf("haven quorum -c --node: %v\n%s", err, out)
	}
	var q api.QuorumView
	if err := json.Unmarshal(out, &q); err != nil || !q.Quorate || q.TotalVotes != 6 || q.Quorum != 5 || q.ExpectedVotes != 8 {
		t.Fatalf("remote quorum JSON: %v\n%s", err, out)
	}
	if m, _ := harness.MemberOf(q, "sv2"); !m.Local {
		t.Fatalf("answer is not sv2's own view:\n%s", out)
	}
	out, err = exec.Command(c.Bin, "quorum", "--socket", c.Node("cl1").Socket).CombinedOutput()
	if err != nil {
		t.Fatalf("haven quorum --socket: %v\n%s", err, out)
	}
	for _, want := range []string{"Quorate:          Yes", "Expected votes:   8", "Highest expected: 8", "Total votes:      6", "Quorum:           5", "Flags:            Quorate", "cl1 (local)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("local output lacks %q:\n%s", want, out)
		}
	}
	// The same file with another key: the TCP API refuses the token.
	c.WriteKey(c.Dir + "/otherkey")
	c.WriteConfig(c.Dir+"/other.yaml", "otherkey", nil)
	out, err = exec.Command(c.Bin, "quorum", "-c", c.Dir+"/other.yaml", "--node", "sv1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "401") || !strings.Contains(string(out), "wrong token") {
		t.Fatalf("a wrong key file was not refused clearly: %v\n%s", err, out)
	}
	if !strings.Contains(c.Node("sv1").Log(), "api request refused") {
		t.Errorf("sv1 did not log the refused API request")
	}
}
