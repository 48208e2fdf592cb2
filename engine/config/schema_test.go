package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	return s
}

func TestSchema_ListsEverySection(t *testing.T) {
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v; want draft 2020-12", s["$schema"])
	}
	props, _ := s["properties"].(map[string]any)
	var got []string
	for k := range props {
		got = append(got, k)
	}
	sort.Strings(got)
	want := "clones cluster constraints fencing groups nodes resources"
	if strings.Join(got, " ") != want {
		t.Errorf("top-level properties = %v; want %s", got, want)
	}
	defs, _ := s["$defs"].(map[string]any)
	node, _ := defs["Node"].(map[string]any)
	np, _ := node["properties"].(map[string]any)
	votes, _ := np["votes"].(map[string]any)
	if votes["description"] == nil || votes["minimum"] != float64(0) {
		t.Errorf("Node.votes = %v; want a description and minimum 0", votes)
	}
	settings, _ := defs["Settings"].(map[string]any)
	sp, _ := settings["properties"].(map[string]any)
	nqp, _ := sp["no_quorum_policy"].(map[string]any)
	if fmt.Sprint(nqp["enum"]) != "[stop freeze ignore]" {
		t.Errorf("no_quorum_policy enum = %v; want [stop freeze ignore]", nqp["enum"])
	}
}

// TestSchema_ExamplesConform checks every example against the schema with a
// small validator covering the keywords the schema uses.
func TestSchema_ExamplesConform(t *testing.T) {
	s := loadSchema(t)
	for _, f := range exampleFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		errs := conform(s, s, toJSON(doc), "$")
		if _, refused := refusedExamples[filepath.Base(f)]; refused {
			// The schema advertises only what the binary runs.
			if len(errs) == 0 {
				t.Errorf("%s conforms; want the schema to refuse what validation refuses", f)
			}
			continue
		}
		if len(errs) > 0 {
			t.Errorf("%s does not conform:\n%s", f, strings.Join(errs, "\n"))
		}
	}
	// and the validator can fail: a wrong type, an unknown key, a bad enum
	bad := map[string]any{"cluster": map[string]any{"name": "c", "key_file": "k", "profile": "slow", "bogus": 1},
		"nodes": []any{map[string]any{"name": "a", "addresses": []any{}, "votes": -1}}}
	errs := conform(s, s, bad, "$")
	if len(errs) != 4 {
		t.Errorf("bad document: %d errors; want 4 (enum, unknown key, minItems, minimum):\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// TestSchema_AdvertisesOnlyWhatRuns: every value validation refuses because
// no node carries it out is outside the schema too, and a value it accepts in
// the same places still conforms.
func TestSchema_AdvertisesOnlyWhatRuns(t *testing.T) {
	s := loadSchema(t)
	doc := func(cluster map[string]any, node map[string]any, extra map[string]any) map[string]any {
		c := map[string]any{"name": "c", "key_file": "k"}
		for k, v := range cluster {
			c[k] = v
		}
		n := map[string]any{"name": "a", "addresses": []any{"10.0.0.1"}}
		for k, v := range node {
			n[k] = v
		}
		d := map[string]any{"cluster": c, "nodes": []any{n}}
		for k, v := range extra {
			d[k] = v
		}
		return toJSON(d).(map[string]any)
	}
	res := func(r map[string]any) map[string]any {
		base := map[string]any{"id": "r", "type": "exec"}
		for k, v := range r {
			base[k] = v
		}
		return map[string]any{"resources": []any{base}}
	}
	order := func(o map[string]any) map[string]any {
		base := map[string]any{"first": "r", "then": "r"}
		for k, v := range o {
			base[k] = v
		}
		return map[string]any{"constraints": []any{map[string]any{"order": base}}}
	}
	for _, tc := range []struct {
		name string
		doc  map[string]any
		ok   bool
	}{
		{"stonith true", doc(map[string]any{"stonith": true}, nil, nil), false},
		{"stonith false", doc(map[string]any{"stonith": false}, nil, nil), true},
		{"a fencing device", doc(nil, nil, map[string]any{"fencing": []any{map[string]any{"id": "f", "type": "ipmi"}}}), false},
		{"a node's fence list", doc(nil, map[string]any{"fence": []any{"f"}}, nil), false},
		{"iscsi-target", doc(nil, nil, res(map[string]any{"type": "iscsi-target"})), false},
		{"systemd:UNIT", doc(nil, nil, res(map[string]any{"type": "systemd:tgtd"})), true},
		{"ocf", doc(nil, nil, res(map[string]any{"type": "ocf:heartbeat:IPaddr2"})), true},
		{"monitor on_fail fence", doc(nil, nil, res(map[string]any{"monitor": map[string]any{"on_fail": "fence"}})), false},
		{"monitor on_fail standby", doc(nil, nil, res(map[string]any{"monitor": map[string]any{"on_fail": "standby"}})), true},
		{"stop on_fail restart", doc(nil, nil, res(map[string]any{"stop": map[string]any{"on_fail": "restart"}})), false},
		{"stop on_fail block", doc(nil, nil, res(map[string]any{"stop": map[string]any{"on_fail": "block"}})), true},
		{"order kind optional", doc(nil, nil, order(map[string]any{"kind": "optional"})), false},
		{"order kind serialize", doc(nil, nil, order(map[string]any{"kind": "serialize"})), false},
		{"order kind mandatory", doc(nil, nil, order(map[string]any{"kind": "mandatory"})), true},
		{"symmetrical false", doc(nil, nil, order(map[string]any{"symmetrical": false})), false},
		{"symmetrical true", doc(nil, nil, order(map[string]any{"symmetrical": true})), true},
		{"node_max 2", doc(nil, nil, map[string]any{"clones": []any{map[string]any{"id": "c", "resource": "r", "node_max": 2}}}), false},
		{"node_max 1", doc(nil, nil, map[string]any{"clones": []any{map[string]any{"id": "c", "resource": "r", "node_max": 1}}}), true},
	} {
		errs := conform(s, s, tc.doc, "$")
		if tc.ok && len(errs) > 0 {
			t.Errorf("%s: does not conform: %v", tc.name, errs)
		}
		if !tc.ok && len(errs) == 0 {
			t.Errorf("%s: conforms; want the schema to refuse it", tc.name)
		}
	}
}

// toJSON turns YAML values into what encoding/json would produce.
func toJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func conform(root, s map[string]any, v any, path string) []string {
	var errs []string
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, _ := root["$defs"].(map[string]any)[name].(map[string]any)
		if def == nil {
			return []string{path + ": unresolved " + ref}
		}
		errs = append(errs, conform(root, def, v, path)...)
	}
	for _, key := range []string{"allOf"} {
		if list, ok := s[key].([]any); ok {
			for _, sub := range list {
				errs = append(errs, conform(root, sub.(map[string]any), v, path)...)
			}
		}
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if list, ok := s[key].([]any); ok {
			n := 0
			for _, sub := range list {
				if len(conform(root, sub.(map[string]any), v, path)) == 0 {
					n++
				}
			}
			if n == 0 || (key == "oneOf" && n != 1) {
				errs = append(errs, fmt.Sprintf("%s: %d of %s match", path, n, key))
			}
		}
	}
	if typ, ok := s["type"].(string); ok && !hasType(v, typ) {
		return append(errs, fmt.Sprintf("%s: %v is not %s", path, v, typ))
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v not in %v", path, v, enum))
		}
	}
	if pat, ok := s["pattern"].(string); ok {
		if str, isStr := v.(string); isStr && !regexp.MustCompile(pat).MatchString(str) {
			errs = append(errs, fmt.Sprintf("%s: %q does not match %s", path, str, pat))
		}
	}
	if min, ok := s["minimum"].(float64); ok {
		if n, isNum := v.(float64); isNum && n < min {
			errs = append(errs, fmt.Sprintf("%s: %v < minimum %v", path, n, min))
		}
	}
	if max, ok := s["maximum"].(float64); ok {
		if n, isNum := v.(float64); isNum && n > max {
			errs = append(errs, fmt.Sprintf("%s: %v > maximum %v", path, n, max))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, val := range x {
			ps, known := props[k].(map[string]any)
			if !known {
				if s["additionalProperties"] == false {
					errs = append(errs, fmt.Sprintf("%s: unknown key %q", path, k))
				} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
					errs = append(errs, conform(root, ap, val, path+"."+k)...)
				}
				continue
			}
			errs = append(errs, conform(root, ps, val, path+"."+k)...)
		}
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, has := x[r.(string)]; !has {
					errs = append(errs, fmt.Sprintf("%s: missing %v", path, r))
				}
			}
		}
		if n, ok := s["maxProperties"].(float64); ok && float64(len(x)) > n {
			errs = append(errs, fmt.Sprintf("%s: more than %v keys", path, n))
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(x)) < n {
			errs = append(errs, fmt.Sprintf("%s: fewer than %v items", path, n))
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(x)) > n {
			errs = append(errs, fmt.Sprintf("%s: more than %v items", path, n))
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, item := range x {
				errs = append(errs, conform(root, items, item, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	}
	return true
}
