package config

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/havenha/haven/engine/model"
)

// requiredKeys are the keys a mapping must have, per model type (the schema
// states them; validation reports them with friendlier words).
var requiredKeys = map[reflect.Type][]string{
	reflect.TypeOf(model.Cluster{}):     {"cluster", "nodes"},
	reflect.TypeOf(model.Settings{}):    {"name", "key_file"},
	reflect.TypeOf(model.Node{}):        {"name", "addresses"},
	reflect.TypeOf(model.FenceDevice{}): {"id", "type"},
	reflect.TypeOf(model.Resource{}):    {"id", "type"},
	reflect.TypeOf(model.Group{}):       {"id", "resources"},
	reflect.TypeOf(model.Clone{}):       {"id", "resource"},
	reflect.TypeOf(model.Location{}):    {"resource"},
	reflect.TypeOf(model.Colocation{}):  {"resource", "with"},
	reflect.TypeOf(model.Order{}):       {"first", "then"},
}

// extra holds per-field schema keywords beyond what the Go type says. It
// advertises only what the binary carries out: the resource types it has,
// no fencing while it has no fencing type, mandatory symmetrical orders, one
// clone instance per node, and the on_fail values a failed stop honours.
var extra = func() map[string]map[string]any {
	x := map[string]map[string]any{
		"Node.gossip_port":          {"minimum": 1, "maximum": 65535},
		"Node.raft_port":            {"minimum": 1, "maximum": 65535},
		"Node.api_port":             {"minimum": 1, "maximum": 65535},
		"Node.votes":                {"minimum": 0},
		"Node.addresses":            {"minItems": 1},
		"Settings.expected_votes":   {"minimum": 1},
		"Meta.migration_threshold":  {"minimum": 0},
		"Clone.max":                 {"minimum": 0},
		"Clone.node_max":            {"minimum": 0, "maximum": 1},
		"Group.resources":           {"minItems": 1},
		"Timing.suspicion_mult":     {"minimum": 1},
		"Resource.type":             {"anyOf": []any{map[string]any{"enum": BuiltinTypes}, map[string]any{"pattern": ocfTypePattern}, map[string]any{"pattern": systemdTypePattern}}},
		"Constraint.__object__":     {"minProperties": 1, "maxProperties": 1},
		"Location.__object__":       {"oneOf": []any{map[string]any{"required": []string{"node"}}, map[string]any{"required": []string{"rule"}}}},
		"Settings.no_quorum_policy": {"default": model.NoQuorumStop},
		"Settings.profile":          {"default": model.ProfileLAN},
		"Node.role":                 {"default": model.RoleMember},
		"Order.kind":                {"enum": []string{model.OrderMandatory}, "default": model.OrderMandatory},
		"Order.symmetrical":         {"enum": []any{true}, "default": true},
		"Meta.target_role":          {"default": "Started"},
		"Operation.on_fail":         {"default": "restart"},
		"Resource.stop":             {"properties": map[string]any{"on_fail": map[string]any{"enum": []string{"block", "standby", "fence"}, "default": "block"}}},
	}
	if len(BuiltinFenceTypes) > 0 {
		x["FenceDevice.type"] = map[string]any{"enum": BuiltinFenceTypes}
		return x
	}
	// No fencing type: no device, no fence list, no stonith, no on_fail fence.
	x["Cluster.fencing"] = map[string]any{"maxItems": 0, "description": "fencing devices; " + noFencing}
	x["Node.fence"] = map[string]any{"maxItems": 0}
	x["Settings.stonith"] = map[string]any{"enum": []any{false}}
	x["Operation.on_fail"] = map[string]any{"enum": []string{"restart", "stop", "standby", "ignore", "block"}, "default": "restart"}
	x["Resource.stop"] = map[string]any{"properties": map[string]any{"on_fail": map[string]any{"enum": []string{"block", "standby"}, "default": "block"}}}
	return x
}()

const (
	ocfTypePattern     = "^ocf:[A-Za-z0-9_][A-Za-z0-9_.+-]*:[A-Za-z0-9_][A-Za-z0-9_.+-]*$"
	systemdTypePattern = "^systemd:[^/ \\t\\n]+$"
)

const (
	scorePattern    = "^[+-]?([0-9]+|[Ii][Nn][Ff][Ii][Nn][Ii][Tt][Yy])$"
	durationPattern = "^ *([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h|msec|usec|sec|min|mins|hr|hrs)?)+ *$"
)

// Schema returns a JSON Schema (draft 2020-12) of the configuration file,
// generated from the model types so it cannot drift from the decoder.
func Schema() ([]byte, error) {
	defs := map[string]any{}
	top := schemaOf(reflect.TypeOf(model.Cluster{}), defs)
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/havenha/haven/haven.schema.json",
		"title":       "haven configuration file",
		"description": "One file describes a haven cluster: cluster settings, nodes, fencing devices, resources, groups, clones and constraints. See docs/configuration.md.",
		"$defs":       defs,
	}
	for k, v := range top.(map[string]any) {
		root[k] = v
	}
	return json.MarshalIndent(root, "", "  ")
}

func defName(t reflect.Type) string {
	if t == reflect.TypeOf(model.Op{}) {
		return "Operation"
	}
	return t.Name()
}

func schemaOf(t reflect.Type, defs map[string]any) any {
	switch t {
	case scoreType:
		return map[string]any{"description": "a score: an integer, INFINITY, +INFINITY or -INFINITY",
			"anyOf": []any{map[string]any{"type": "integer"}, map[string]any{"type": "string", "pattern": scorePattern}}}
	case durType:
		return map[string]any{"description": "a duration: seconds as a number, or Go/pcs forms such as 500ms, 10s, 1min, 1h30m",
			"anyOf": []any{map[string]any{"type": "integer", "minimum": 0}, map[string]any{"type": "string", "pattern": durationPattern}}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), defs)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), defs)}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object"}
		}
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), defs)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		return structSchema(t, defs)
	}
	return map[string]any{}
}

func structSchema(t reflect.Type, defs map[string]any) any {
	name := defName(t)
	isTop := t == reflect.TypeOf(model.Cluster{})
	if !isTop {
		if _, done := defs[name]; done {
			return map[string]any{"$ref": "#/$defs/" + name}
		}
		defs[name] = map[string]any{} // placeholder against recursion
	}
	props := map[string]any{}
	si := infoOf(t)
	for _, f := range si.fields {
		sf := t.Field(f.index)
		ps := schemaOf(sf.Type, defs)
		m, ok := ps.(map[string]any)
		if !ok {
			m = map[string]any{}
		}
		if _, isRef := m["$ref"]; isRef {
			m = map[string]any{"allOf": []any{m}}
		}
		if doc := sf.Tag.Get("doc"); doc != "" {
			m["description"] = doc
		}
		if len(f.enum) > 0 {
			m["enum"] = f.enum
		}
		for k, x := range extra[name+"."+f.name] {
			m[k] = x
		}
		props[f.name] = m
	}
	s := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if req := requiredKeys[t]; len(req) > 0 {
		s["required"] = req
	}
	for k, x := range extra[name+".__object__"] {
		s[k] = x
	}
	if isTop {
		return s
	}
	if desc := strings.TrimSpace(typeDoc[name]); desc != "" {
		s["description"] = desc
	}
	defs[name] = s
	return map[string]any{"$ref": "#/$defs/" + name}
}

var typeDoc = map[string]string{
	"Settings":    "cluster-wide settings",
	"Timing":      "explicit timeouts; each overrides the timing profile's value",
	"Node":        "a cluster node",
	"FenceDevice": "a fencing device",
	"Operation":   "an operation's settings",
	"Meta":        "meta attributes",
	"Resource":    "a primitive resource",
	"Group":       "members colocated and started in list order",
	"Clone":       "an anonymous clone: one instance per node",
	"Constraint":  "exactly one of location, colocation, order",
	"Location":    "a score for a resource on a node, or on every node where a rule holds",
	"Colocation":  "place a resource relative to where another runs",
	"Order":       "start one resource before another",
}
