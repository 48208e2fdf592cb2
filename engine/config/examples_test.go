package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/model"
)

func exampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: found %d files (%v); expected at least 5 in ../../examples", len(files), err)
	}
	return files
}

// refusedExamples are the examples this binary cannot run yet, each with
// exactly the errors that say why. They are kept as the seeds wrote them: when
// the iSCSI target and fencing land, their errors go and they validate again.
var refusedExamples = map[string][]string{
	"seed000.yaml": {
		"../../examples/seed000.yaml:37:11: resource type \"iscsi-target\" of resource ClusterTgtd1 is not built into this haven binary (the in-process iSCSI target is not implemented yet); expected one of vip, systemd, exec, filesystem, ping, alert, systemd:UNIT or ocf:PROVIDER:AGENT",
		"../../examples/seed000.yaml:49:11: resource type \"iscsi-target\" of resource ClusterTgtd2 is not built into this haven binary (the in-process iSCSI target is not implemented yet); expected one of vip, systemd, exec, filesystem, ping, alert, systemd:UNIT or ocf:PROVIDER:AGENT",
	},
	"seed003.yaml": {
		"../../examples/seed003.yaml:25:12: node node1 has no usable fencing device but stonith is on: ipminode1 cannot run in this binary, and haven, like Pacemaker, does not recover a lost node's resources without fencing it; expected stonith: false (fencing devices are not built into this binary yet)",
		"../../examples/seed003.yaml:28:12: node node2 has no usable fencing device but stonith is on: ipminode2 cannot run in this binary, and haven, like Pacemaker, does not recover a lost node's resources without fencing it; expected stonith: false (fencing devices are not built into this binary yet)",
		"../../examples/seed003.yaml:36:11: fencing type \"ipmi\" of fencing device ipminode1 is not built into this haven binary (fencing devices are not built into this binary yet); expected no fencing devices, and stonith: false",
		"../../examples/seed003.yaml:39:11: fencing type \"ipmi\" of fencing device ipminode2 is not built into this haven binary (fencing devices are not built into this binary yet); expected no fencing devices, and stonith: false",
	},
}

func TestExamples_AllValidate(t *testing.T) {
	for _, f := range exampleFiles(t) {
		if _, refused := refusedExamples[filepath.Base(f)]; refused {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f, Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Cluster.Name == "" || len(c.Nodes) == 0 {
				t.Fatalf("decoded an empty cluster: %+v", c.Cluster)
			}
		})
	}
}

func TestExamples_RefusedUntilBuilt(t *testing.T) {
	for name, want := range refusedExamples {
		t.Run(name, func(t *testing.T) {
			_, err := Load(filepath.Join("../../examples", name), Options{})
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load error = %v; want config.Errors", err)
			}
			if got := errs.Error(); got != strings.Join(want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
		})
	}
}

// TestExamples_RefusedOnlyForWhatIsMissing: with stand-ins for the missing
// iSCSI target type and fencing type, the refused examples are valid, so
// nothing but the missing features keeps them out.
func TestExamples_RefusedOnlyForWhatIsMissing(t *testing.T) {
	opts := Options{Types: standIns("iscsi-target"), FenceTypes: func(name string) (model.FenceType, bool) {
		return anyFence{}, name == "ipmi"
	}}
	for name := range refusedExamples {
		if _, err := Load(filepath.Join("../../examples", name), opts); err != nil {
			t.Errorf("%s with stand-ins: %v", name, err)
		}
	}
}

type anyFence struct{}

func (anyFence) Validate(map[string]any) []model.ParamProblem { return nil }

func TestExamples_Seed000Quorum(t *testing.T) {
	c, err := Load("../../examples/seed000.yaml", Options{Types: standIns("iscsi-target")})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TotalVotes(); got != 6 {
		t.Errorf("total votes = %d; want 6 (2+2+1+1)", got)
	}
	if got := c.ExpectedVotes(); got != 8 {
		t.Errorf("expected votes = %d; want 8", got)
	}
	if c.NoQuorumPolicy() != model.NoQuorumStop || c.StonithEnabled() {
		t.Errorf("policy %q stonith %v; want stop and false", c.NoQuorumPolicy(), c.StonithEnabled())
	}
	r, ok := c.Resource("ClusterFsDatab")
	if !ok || r.Monitor == nil || r.Monitor.OnFail != "stop" || r.Monitor.Interval.D().Seconds() != 20 {
		t.Fatalf("ClusterFsDatab monitor = %+v; want interval 20s on_fail stop", r)
	}
	if p, ok := r.ParamPos["directory"]; !ok || p.Line == 0 {
		t.Errorf("ParamPos[directory] = %+v, %v; want a position", p, ok)
	}
	if r.Pos.Line == 0 || c.Nodes[0].Pos.Line == 0 || c.Constraints[0].Location.Pos.Line == 0 {
		t.Errorf("positions not filled: resource %+v node %+v", r.Pos, c.Nodes[0].Pos)
	}
	tgt := c.Constraints[0].Location
	if tgt.Resource != "ClusterTgtd1" || tgt.Node != "sv1" || tgt.Score != model.Infinity {
		t.Errorf("first location = %+v; want ClusterTgtd1 on sv1 INFINITY", tgt)
	}
}

func TestExamples_Seed004Rule(t *testing.T) {
	c, err := Load("../../examples/seed004.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var loc *model.Location
	for _, k := range c.Constraints {
		if k.Location != nil && k.Location.Rule != "" {
			loc = k.Location
		}
	}
	if loc == nil || loc.ParsedRule == nil {
		t.Fatalf("no parsed rule in seed004: %+v", loc)
	}
	if loc.Score != model.NegInfinity {
		t.Errorf("rule score = %v; want -INFINITY", loc.Score)
	}
	if !loc.ParsedRule.Eval("t3021cent", map[string]string{"pingd": "0"}) || loc.ParsedRule.Eval("t3021cent", map[string]string{"pingd": "1000"}) {
		t.Errorf("rule %q evaluates wrongly", loc.ParsedRule)
	}
	if len(c.Nodes[0].Addresses) != 2 {
		t.Errorf("t3021cent has %d links; want 2", len(c.Nodes[0].Addresses))
	}
}

// TestExamples_NameTheirSeed: every example says in its first line which
// seed it reproduces (or that it has none).
func TestExamples_NameTheirSeed(t *testing.T) {
	for _, f := range exampleFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		base := filepath.Base(f)
		if want, ok := strings.CutPrefix(strings.TrimSuffix(base, ".yaml"), "seed"); ok {
			want, _, _ = strings.Cut(want, "-") // seed000-tgtd.yaml: a variant of seed 000
			if !strings.HasPrefix(first, "# Seed "+want) {
				t.Errorf("%s starts with %q; want a comment naming seed %s", base, first, want)
			}
		} else if !strings.Contains(first, "no seed") && !strings.Contains(string(data), "(no seed") {
			t.Errorf("%s does not say which seed it reproduces", base)
		}
	}
}
