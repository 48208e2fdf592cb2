package config

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/havenha/haven/engine/model"
)

// everySection uses every model struct that has a Pos.
const everySection = `cluster:
  name: all
  key_file: k
  timing: {lease: 2s}
nodes:
  - {name: a, addresses: [10.0.0.1], fence: [f]}
  - {name: b, addresses: [10.0.0.2], fence: [f]}
fencing:
  - {id: f, type: fake, params: {command: /bin/true}, delay: 1s}
resources:
  - id: r
    type: exec
    params: {command: [/bin/true]}
    monitor: {interval: 5s}
    start: {timeout: 5s}
    stop: {timeout: 5s}
    meta: {stickiness: 10}
  - {id: s, type: exec}
groups:
  - {id: g, resources: [r], meta: {priority: 1}}
clones:
  - {id: c, resource: s, meta: {stickiness: 1}}
constraints:
  - location: {resource: g, node: a, score: 10}
  - colocation: {resource: g, with: c}
  - order: {first: c, then: g}
`

func TestParse_FillsEveryPos(t *testing.T) {
	c, err := Parse("all.yaml", []byte(everySection), Options{FenceTypes: fakeFenceTypes})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if f.Type == reflect.TypeOf(model.Pos{}) {
					if p := v.Field(i).Interface().(model.Pos); p.Line < 1 || p.Col < 1 {
						missing = append(missing, path)
					}
					continue
				}
				if f.IsExported() && f.Type != reflect.TypeOf(model.Rule{}) {
					walk(v.Field(i), path+"."+f.Name)
				}
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "cluster")
	if len(missing) > 0 {
		t.Errorf("Pos not filled at %v", missing)
	}
	if p := c.Resources[0].ParamPos["command"]; p != (model.Pos{Line: 13, Col: 14}) {
		t.Errorf("ParamPos[command] = %+v; want 13:14", p)
	}
	if p := c.Nodes[1].Pos; p != (model.Pos{Line: 7, Col: 5}) {
		t.Errorf("node b at %+v; want 7:5", p)
	}
}
