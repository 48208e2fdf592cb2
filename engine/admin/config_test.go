package admin

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

func version(v uint64) *uint64 { return &v }

// edit returns testYAML with old replaced by new (once, which must exist).
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(testYAML, old) {
		t.Fatalf("testYAML has no %q", old)
	}
	return strings.Replace(testYAML, old, new, 1)
}

func TestApplyConfig_FirstCommitPlacesEverything(t *testing.T) {
	h := newHarness(t, false)
	resp, err := h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: testYAML, BaseVersion: version(0), By: "alice@host"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Applied || resp.Version != 1 || resp.BaseVersion != 0 || resp.Diff.Empty() {
		t.Errorf("first apply: %+v; expected version 1 applied with a diff", resp)
	}
	// Nothing was committed before: every placed resource comes from stopped.
	var ids []string
	for _, c := range resp.Placement {
		if len(c.From) != 0 || len(c.To) == 0 {
			t.Errorf("placement change %+v; expected from stopped", c)
		}
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c", "c-clone", "g", "web"}) {
		t.Errorf("placed %v; expected everything but off", ids)
	}
	if cv, err := h.svc.Config(ctx); err != nil || cv.Version != 1 || cv.YAML != testYAML || cv.By != "alice@host" || cv.Stale {
		t.Errorf("config after apply: %+v %v", cv, err)
	}
}

func TestApplyConfig_DryRunDiffsAndPreviewsOnly(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	next := edit(t, "web-never-n3, resource: web, node: n3,", "web-never-n1, resource: web, node: n1,")
	mark := h.log.count()
	resp, err := h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: next, BaseVersion: version(1), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Applied || !resp.DryRun || resp.Version != 1 || !strings.Contains(resp.DiffText, "web-never-n1") {
		t.Errorf("dry run: %+v", resp)
	}
	if got := changes(resp.Placement); got != "web: n1 -> n2" {
		t.Errorf("placement %q; expected web: n1 -> n2", got)
	}
	if got := h.log.commandsSince(mark); len(got) != 0 {
		t.Errorf("dry run committed %v", got)
	}
	// Without a leader a dry run still answers, from this node's copy.
	h.log.barrierErr = errors.New("no leader")
	if _, err := h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: next, BaseVersion: version(1), DryRun: true}); err != nil {
		t.Errorf("dry run without a leader: %v", err)
	}
	_, err = h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: next, BaseVersion: version(1)})
	apiError(t, err, 503, "no raft leader reachable from n1 (no leader); nothing changed")
	if cv, _ := h.svc.Config(ctx); !cv.Stale || cv.Version != 1 {
		t.Errorf("config read without a leader: %+v; expected version 1 marked stale", cv)
	}
}

func TestApplyConfig_CommitsWithTheBaseVersion(t *testing.T) {
	h := newHarness(t, true)
	next := edit(t, "  - {name: w,", "  - {name: n4, addresses: [127.0.0.5]}\n  - {name: w,")
	resp, err := h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: next, BaseVersion: version(1)})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Applied || resp.Version != 2 {
		t.Errorf("apply: %+v; expected version 2", resp)
	}
	if len(resp.Notes) != 1 || !strings.Contains(resp.Notes[0], "node n4 is added: raft's voters follow at once") {
		t.Errorf("notes %q; expected the restart note for n4", resp.Notes)
	}
	c, v := h.svc.committed()
	if _, ok := c.Node("n4"); !ok || v != 2 {
		t.Errorf("committed version %d without n4", v)
	}
	// The same file again: nothing to commit.
	mark := h.log.count()
	resp, err = h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: next, BaseVersion: version(2)})
	if err != nil || resp.Applied || !slices.Contains(resp.Notes, "no changes; nothing committed") {
		t.Errorf("unchanged apply: %+v %v", resp, err)
	}
	if got := h.log.commandsSince(mark); len(got) != 0 {
		t.Errorf("unchanged apply committed %v", got)
	}
}

func TestApplyConfig_RefusesStaleBasesAndBadFiles(t *testing.T) {
	h := newHarness(t, true)
	_, err := h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: testYAML, BaseVersion: version(0)})
	apiError(t, err, 409, "the configuration changed since version 0 (now version 1)", "expected base_version 1")
	var e *api.Error
	if errors.As(err, &e) && (e.BaseVersion == nil || *e.BaseVersion != 0 || e.CurrentVersion == nil || *e.CurrentVersion != 1) {
		t.Errorf("conflict versions %v %v; expected 0 and 1", e.BaseVersion, e.CurrentVersion)
	}
	_, err = h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: "cluster: {name: t}\nnodes: []\n", BaseVersion: version(1)})
	apiError(t, err, 400, "the configuration is not valid; nothing changed:\n")
	_, err = h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: testYAML})
	apiError(t, err, 400, "base_version is missing")
	// The binary's registries decide what can run: here, nothing.
	h.svc.cfg.ConfigOptions = config.Options{Types: func(string) (model.AgentType, bool) { return nil, false }}
	_, err = h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: testYAML, BaseVersion: version(1)})
	apiError(t, err, 400, "the configuration is not valid; nothing changed:\n", "exec")
	h.svc.cfg.ConfigOptions = config.Options{}
	// Another change wins between the check and the commit: 409 naming
	// the version that won.
	other := edit(t, "name: t,", "name: t, expected_votes: 3,")
	h.log.beforeApply = func() { h.apply(state.CmdSetConfig, state.SetConfig{Base: 1, YAML: []byte(other)}) }
	next := edit(t, "{id: off,", "{id: off2, type: exec, params: {command: [/bin/true]}}\n  - {id: off,")
	_, err = h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: next, BaseVersion: version(1)})
	apiError(t, err, 409, "the configuration changed since version 1 (now version 2)")
}

func TestApplyConfig_RefusesWhatCannotChangeLive(t *testing.T) {
	h := newHarness(t, true)
	for _, c := range []struct{ old, new, want string }{
		{"{name: n2, addresses: [127.0.0.2]}", "{name: n2, addresses: [127.0.0.9]}",
			"node n2's addresses or ports change (127.0.0.2 gossip"},
		{"key_file: k}", "key_file: k2}", `cluster.key_file changes ("k" -> "k2"); the cluster key cannot change live`},
		{"key_file: k}", "key_file: k, data_dir: /srv/haven}", "cluster.data_dir changes"},
	} {
		_, err := h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: edit(t, c.old, c.new), BaseVersion: version(1)})
		apiError(t, err, 422, "this change cannot be applied to the running cluster; nothing changed:\n  ", c.want)
	}
	// The consensus layer's own rules come first.
	h.svc.cfg.CheckChange = func(old, next *model.Cluster) error {
		if len(next.Nodes) != len(old.Nodes) {
			return errors.New("no raft voter set matches the weighted quorum")
		}
		return nil
	}
	next := edit(t, "  - {name: w,", "  - {name: n4, addresses: [127.0.0.5]}\n  - {name: w,")
	_, err := h.svc.ApplyConfig(ctx, api.ConfigRequest{YAML: next, BaseVersion: version(1)})
	apiError(t, err, 422, "this change cannot be applied to the running cluster; nothing changed: no raft voter set matches the weighted quorum")
	if _, v := h.svc.committed(); v != 1 {
		t.Errorf("a refusal committed version %d", v)
	}
}

func TestRestartNotes_NodesAndClusterSettings(t *testing.T) {
	old := parse(t, testYAML)
	next := parse(t, edit(t, "name: t,", "name: t, expected_votes: 3,"))
	notes := restartNotes(config.Compare(old, next))
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "cluster settings change: quorum and timing settings take effect when each agent restarts") {
		t.Errorf("notes %q", notes)
	}
	if notes := restartNotes(config.Compare(old, old)); len(notes) != 0 {
		t.Errorf("no change gave notes %q", notes)
	}
}
