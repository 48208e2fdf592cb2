package membership

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/harness"
	"github.com/havenha/haven/test/netns"
)

// TestRedundantLinks_CutOneLinkInNamespaces: three agents in their own
// network namespaces, each with two links (two addresses on one bridge).
// nftables inside b's namespace drops b's second address: a and c report
// link 1 of b down while b stays online and quorum does not move; removing
// the drop brings the link back. Needs root, ip and nft (skips otherwise).
func TestRedundantLinks_CutOneLinkInNamespaces(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		testenv.MissingPackage(t, "nftables", "nft is not installed")
	}
	bed := netns.New(t, netns.Options{Nodes: []string{"a", "b", "c"}})
	var specs []harness.NodeSpec
	second := map[string]string{}
	for i, n := range bed.Nodes() {
		second[n] = fmt.Sprintf("10.78.0.%d", 11+i)
		bed.MustExec(n, "ip", "addr", "add", second[n]+"/24", "dev", netns.Dev)
		specs = append(specs, harness.NodeSpec{Name: n, Addresses: []string{bed.Addr4(n).Addr().String(), second[n]}})
	}
	c := harness.New(t, harness.Spec{Nodes: specs})
	for _, n := range c.Nodes {
		bed.Start(n.Name, n.ShellArgv(c.ConfigPath)...)
	}
	bothUp := func(q api.QuorumView) bool {
		if q.TotalVotes != 3 {
			return false
		}
		for _, m := range q.Members {
			if !m.Online || !m.Links[0].Up || !m.Links[1].Up {
				return false
			}
		}
		return true
	}
	for _, n := range c.Nodes {
		n.WaitQuorum("3 members, both links up", converge, bothUp)
	}
	// Cut b's second link, both ways, inside b's namespace only.
	for _, args := range [][]string{
		{"nft", "add", "table", "inet", "hvlink"},
		{"nft", "add", "chain", "inet", "hvlink", "in", "{", "type", "filter", "hook", "input", "priority", "0", ";", "}"},
		{"nft", "add", "chain", "inet", "hvlink", "out", "{", "type", "filter", "hook", "output", "priority", "0", ";", "}"},
		{"nft", "add", "rule", "inet", "hvlink", "in", "ip", "daddr", second["b"], "drop"},
		{"nft", "add", "rule", "inet", "hvlink", "out", "ip", "saddr", second["b"], "drop"},
	} {
		bed.MustExec("b", args...)
	}
	cutAt := time.Now()
	for _, name := range []string{"a", "c"} {
		q := c.Node(name).WaitQuorum("b's link 1 down, b online, quorum unchanged", converge, func(q api.QuorumView) bool {
			m, _ := harness.MemberOf(q, "b")
			return m.Online && m.State == "online" && m.Links[0].Up && !m.Links[1].Up && q.Quorate && q.TotalVotes == 3
		})
		t.Logf("%s after the cut (%v): %s", name, time.Since(cutAt).Round(time.Millisecond), harness.Describe(q))
	}
	if log := c.Node("a").Log(); !strings.Contains(log, "link down; node still reachable on another link") || strings.Contains(log, `msg="node dead"`) {
		t.Errorf("a's log should report b's link down and no death:\n%s", log)
	}
	bed.MustExec("b", "nft", "delete", "table", "inet", "hvlink")
	for _, n := range c.Nodes {
		n.WaitQuorum("link 1 back everywhere", converge, bothUp)
	}
	if !strings.Contains(c.Node("a").Log(), `msg="link up"`) {
		t.Errorf("a's log does not report the link coming back")
	}
}
