package cluster

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
)

// TestKey_WrongKeyAgentCannotJoinRaft: an agent configured as node c but
// holding another key file never joins raft: a and b commit without it, c
// never learns a leader or a configuration, and the raft refusal is logged
// with the connecting address. (Package consensus tests the handshake with
// raw and forged peers; this is the same at the agent level.)
func TestKey_WrongKeyAgentCannotJoinRaft(t *testing.T) {
	c := threeNodes(t)
	dumpLogsOnFailure(t, c)
	c.WriteKey(filepath.Join(c.Dir, "otherkey"))
	c.WriteConfig(c.Node("c").ConfigPath, "otherkey", nil)
	c.StartAll()

	a, b := c.Node("a"), c.Node("b")
	for _, n := range []string{"a", "b"} {
		c.Node(n).WaitStatus("a and b elect a leader and commit version 1", converge, func(s api.StatusView) bool {
			return (s.Leader == "a" || s.Leader == "b") && s.ConfigVersion == 1
		})
	}
	refusal := regexp.MustCompile(`raft: refused connection without the cluster key.* remote=127\.\d+\.\d+\.\d+:\d+`)
	deadline := time.Now().Add(converge)
	for !refusal.MatchString(a.Log()) && !refusal.MatchString(b.Log()) {
		if time.Now().After(deadline) {
			t.Fatalf("neither a nor b logged a raft refusal naming the address of the wrong-key agent")
		}
		time.Sleep(100 * time.Millisecond)
	}
	line := refusal.FindString(a.Log() + b.Log())
	t.Logf("logged: %s", line[:min(len(line), 200)])
	// For a while: c never gets a leader nor a configuration, and the others
	// never count it as a raft server that is caught up.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		s, err := c.Node("c").Status()
		if err != nil {
			t.Fatal(err)
		}
		if s.Leader != "" || s.ConfigVersion != 0 || s.Consensus.StateIndex != 0 {
			t.Fatalf("the wrong-key agent learned something: %+v", s)
		}
		if v, err := a.Config(); err != nil || v.Version != 1 || strings.Contains(v.YAML, "otherkey") {
			t.Fatalf("a's committed configuration: %+v %v", v, err)
		}
	}
}
