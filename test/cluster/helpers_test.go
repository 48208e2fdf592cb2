package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/internal/testenv"
	"github.com/havenha/haven/test/harness"
)

// Deadlines are generous: the machine is shared and loaded. Nothing here
// asserts how fast anything happens.
const converge = 60 * time.Second

// baseResources ends the configuration with a resources: section, so that
// a test can append resources by appending lines.
const baseResources = `resources:
  - {id: r0, type: exec, params: {command: [/bin/sleep, "1000"]}}
`

func threeNodes(t *testing.T) *harness.Cluster {
	t.Helper()
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "multi-process cluster test")
	}
	return harness.New(t, harness.Spec{Name: "rep", PerNodeConfig: true, Profile: profile(),
		Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}, {Name: "c"}}, Extra: baseResources})
}

// withResource returns yaml (ending in a resources: list) plus one resource.
func withResource(yaml, id string) string {
	return strings.TrimRight(yaml, "\n") + fmt.Sprintf("\n  - {id: %s, type: exec, params: {command: [/bin/sleep, \"%s\"]}}\n", id, strings.TrimPrefix(id, "x"))
}

// apply posts yaml with base to node n's agent.
func apply(n *harness.Node, yaml string, base uint64) (api.ConfigResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	return n.Client().ApplyConfig(ctx, api.ConfigRequest{YAML: yaml, BaseVersion: &base, By: "test"})
}

// committedEverywhere waits until every running node reports the same
// committed configuration (version and bytes) and has written it to its own
// file; it returns the configuration.
func committedEverywhere(t *testing.T, c *harness.Cluster, minVersion uint64) api.ConfigView {
	t.Helper()
	deadline := time.Now().Add(converge)
	var why string
	for time.Now().Before(deadline) {
		var first *api.ConfigView
		why = ""
		for _, n := range c.Running() {
			v, err := n.Config()
			if err != nil {
				why = fmt.Sprintf("%s: %v", n.Name, err)
				break
			}
			if v.Version < minVersion {
				why = fmt.Sprintf("%s: version %d < %d", n.Name, v.Version, minVersion)
				break
			}
			if first == nil {
				first = &v
			} else if v.Version != first.Version || v.YAML != first.YAML {
				why = fmt.Sprintf("%s: version %d differs from %d (or its bytes)", n.Name, v.Version, first.Version)
				break
			}
			if b, err := os.ReadFile(n.ConfigPath); err != nil || string(b) != v.YAML {
				why = fmt.Sprintf("%s: file %s does not equal committed version %d yet (%v)", n.Name, n.ConfigPath, v.Version, err)
				break
			}
		}
		if why == "" && first != nil {
			return *first
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("committed configuration did not converge: %s", why)
	return api.ConfigView{}
}

func dumpLogsOnFailure(t *testing.T, c *harness.Cluster) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes {
				lines := strings.Split(strings.TrimRight(n.Log(), "\n"), "\n")
				if len(lines) > 60 {
					lines = lines[len(lines)-60:]
				}
				t.Logf("--- %s log tail:\n%s", n.Name, strings.Join(lines, "\n"))
			}
		}
	})
}

// profile is the timing profile of the test clusters: fast, or
// $HAVEN_TEST_PROFILE (e.g. lan) to run the suite with another one.
func profile() string {
	if p := os.Getenv("HAVEN_TEST_PROFILE"); p != "" {
		return p
	}
	return "fast"
}
