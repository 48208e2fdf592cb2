package inproc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/model"
)

// attrType is a test resource type standing in for ping: its monitor sets
// the node attribute pingd to the content of LOGDIR/pingd.NODE.
type attrType struct{}

func (attrType) Validate(map[string]any) []model.ParamProblem { return nil }
func (attrType) Defaults() model.OpDefaults                   { return model.OpDefaults{} }
func (attrType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	dir, _ := res.Params["dir"].(string)
	return &attrAgent{file: filepath.Join(dir, "pingd."+env.Node), env: env}, nil
}

type attrAgent struct {
	file    string
	env     model.AgentEnv
	running bool
}

func (a *attrAgent) Start(context.Context) error { a.running = true; return a.publish() }
func (a *attrAgent) Stop(context.Context) error  { a.running = false; return nil }
func (a *attrAgent) Monitor(context.Context) (model.Status, error) {
	if !a.running {
		return model.StatusStopped, nil
	}
	return model.StatusRunning, a.publish()
}

func (a *attrAgent) publish() error {
	b, err := os.ReadFile(a.file)
	if err != nil {
		return err
	}
	if a.env.SetAttribute != nil {
		a.env.SetAttribute("pingd", strings.TrimSpace(string(b)))
	}
	return nil
}

func init() {
	if err := types.Register("testattr", attrType{}); err != nil {
		panic(err)
	}
}

// TestAttributes_AgentSetAttributeDrivesLocationRules: seed 004's shape. A
// cloned agent publishes pingd on every node; a rule bans web where pingd
// is below 1; when the node running web loses "connectivity" web moves.
func TestAttributes_AgentSetAttributeDrivesLocationRules(t *testing.T) {
	c := newCluster(t, three+`
resources:
  - id: ping
    type: testattr
    params: {dir: LOGDIR}
    monitor: {interval: 200ms}
  - id: web
    type: exec
    params: {command: [/bin/sh, LOGDIR/web.sh], startup_grace: 100ms}
    monitor: {interval: 300ms, timeout: 5s}
    meta: {stickiness: 100}
clones:
  - {id: ping-clone, resource: ping}
constraints:
  - location: {resource: web, rule: 'not_defined pingd or pingd lt 1', score: -INFINITY}
`)
	c.script("web", 0)
	for _, n := range []string{"n1", "n2", "n3"} {
		if err := os.WriteFile(filepath.Join(c.logDir, "pingd."+n), []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.startAll()
	home := c.waitSingle("web", "")
	if err := os.WriteFile(filepath.Join(c.logDir, "pingd."+home), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	next := c.waitSingle("web", home)
	t.Logf("pingd 0 on %s moved web to %s", home, next)
	c.checkNeverTwice("web")
}
