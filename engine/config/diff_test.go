package config_test

import (
	"strings"
	"testing"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
)

const diffBase = `cluster:
  name: c1
  key_file: authkey
  profile: lan
nodes:
  - {name: a, addresses: [10.0.0.1]}
  - {name: b, addresses: [10.0.0.2]}
  - {name: c, addresses: [10.0.0.3]}
resources:
  - {id: ip, type: vip, params: {ip: 10.0.0.10/24, nic: eth0}}
  - {id: web, type: exec, params: {command: [/bin/true]}, meta: {stickiness: 100}}
  - {id: old, type: exec, params: {command: [/bin/true]}}
groups:
  - {id: g, resources: [ip, web]}
constraints:
  - location: {resource: g, node: a, score: 50}
  - order: {first: ip, then: web}
`

func mustParse(t *testing.T, s string) *model.Cluster {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(s), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, s)
	}
	return c
}

func find(d config.Diff, kind, section, id string) (config.Change, bool) {
	for _, c := range d.Changes {
		if c.Kind == kind && c.Section == section && c.ID == id {
			return c, true
		}
	}
	return config.Change{}, false
}

func TestCompare_IdenticalIsEmpty(t *testing.T) {
	// Reordering items and reformatting YAML is not a change.
	reordered := strings.Replace(diffBase, "  - {name: a, addresses: [10.0.0.1]}\n  - {name: b, addresses: [10.0.0.2]}\n",
		"  - {name: b, addresses: [10.0.0.2]}\n  - name: a\n    addresses: [10.0.0.1]\n", 1)
	d := config.Compare(mustParse(t, diffBase), mustParse(t, reordered))
	if !d.Empty() {
		t.Fatalf("want no changes, got:\n%s", d)
	}
	if d.String() != "no changes\n" {
		t.Fatalf("String of an empty diff: %q", d.String())
	}
}

func TestCompare_AddedRemovedChanged(t *testing.T) {
	next := diffBase
	next = strings.Replace(next, "profile: lan", "profile: fast", 1)
	next = strings.Replace(next, "ip: 10.0.0.10/24", "ip: 10.0.0.11/24", 1)
	next = strings.Replace(next, "meta: {stickiness: 100}", "meta: {stickiness: 200, migration_threshold: 3}", 1)
	next = strings.Replace(next, "  - {id: old, type: exec, params: {command: [/bin/true]}}\n", "  - {id: new, type: exec, params: {command: [/bin/false]}}\n", 1)
	next = strings.Replace(next, "  - {name: c, addresses: [10.0.0.3]}\n", "  - {name: c, addresses: [10.0.0.3], votes: 2}\n  - {name: d, addresses: [10.0.0.4]}\n", 1)
	next = strings.Replace(next, "node: a, score: 50", "node: a, score: 60", 1)
	next = strings.Replace(next, "  - order: {first: ip, then: web}\n", "  - colocation: {resource: new, with: g}\n", 1)
	d := config.Compare(mustParse(t, diffBase), mustParse(t, next))
	t.Logf("\n%s", d)

	cl, ok := find(d, config.Changed, config.SectionCluster, "")
	if !ok || len(cl.Fields) != 1 || cl.Fields[0].Path != "profile" || cl.Fields[0].Old != `"lan"` || cl.Fields[0].New != `"fast"` {
		t.Errorf("cluster change: %+v", cl)
	}
	ip, ok := find(d, config.Changed, config.SectionResource, "ip")
	if !ok || len(ip.Fields) != 1 || ip.Fields[0].Path != "params.ip" || ip.Fields[0].New != `"10.0.0.11/24"` {
		t.Errorf("ip change: %+v", ip)
	}
	web, ok := find(d, config.Changed, config.SectionResource, "web")
	if !ok || len(web.Fields) != 2 || web.Fields[0].Path != "meta.migration_threshold" || web.Fields[0].Old != "" ||
		web.Fields[1].Path != "meta.stickiness" || web.Fields[1].Old != `"100"` || web.Fields[1].New != `"200"` {
		t.Errorf("web change: %+v", web)
	}
	for _, w := range []struct{ kind, section, id string }{
		{config.Removed, config.SectionResource, "old"},
		{config.Added, config.SectionResource, "new"},
		{config.Added, config.SectionNode, "d"},
		{config.Changed, config.SectionNode, "c"},
		{config.Changed, config.SectionConstraint, "location g on a"},
		{config.Removed, config.SectionConstraint, "order ip then web"},
		{config.Added, config.SectionConstraint, "colocation new with g"},
	} {
		if _, ok := find(d, w.kind, w.section, w.id); !ok {
			t.Errorf("missing %s %s %q in\n%s", w.kind, w.section, w.id, d)
		}
	}
	if _, ok := find(d, config.Changed, config.SectionGroup, "g"); ok {
		t.Errorf("group g did not change")
	}
	a, r, c := d.Count()
	if a != 3 || r != 2 || c != 5 {
		t.Errorf("count = %d added %d removed %d changed, want 3 2 5", a, r, c)
	}
	s := d.String()
	for _, want := range []string{"~ resource ip\n    params.ip: \"10.0.0.10/24\" -> \"10.0.0.11/24\"", "- resource old", "+ resource new",
		"meta.migration_threshold: added 3", "3 added, 2 removed, 5 changed"} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered diff lacks %q:\n%s", want, s)
		}
	}
}

func TestCompare_NilOldAddsEverything(t *testing.T) {
	d := config.Compare(nil, mustParse(t, diffBase))
	a, r, c := d.Count()
	// cluster settings (changed from empty), 3 nodes, 3 resources, 1 group, 2 constraints
	if a != 9 || r != 0 || c != 1 {
		t.Fatalf("count = %d %d %d, want 9 0 1:\n%s", a, r, c, d)
	}
}

func TestCompare_DuplicateConstraintKeys(t *testing.T) {
	two := diffBase + "  - location: {resource: g, node: a, score: 10}\n"
	d := config.Compare(mustParse(t, diffBase), mustParse(t, two))
	if _, ok := find(d, config.Added, config.SectionConstraint, "location g on a #2"); !ok || len(d.Changes) != 1 {
		t.Fatalf("want one added #2 constraint:\n%s", d)
	}
}
