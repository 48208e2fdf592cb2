package config

import (
	"errors"
	"strings"
	"testing"
)

// fencingCases run with a test-only fencing type registered ("fake"), as a
// binary with fencing would: devices of that type are usable, any other type
// is refused, and stonith needs a usable device for every member node.
var fencingCases = []struct {
	name string
	yaml string
	want []string
}{
	{"node without fence device", head + "nodes:\n  - {name: a, addresses: [10.0.0.1], fence: [f]}\n  - {name: b, addresses: [10.0.0.2]}\n  - {name: w, role: witness, addresses: [10.0.0.3]}\nfencing:\n  - {id: f, type: fake, params: {command: x}}\n", []string{
		"t.yaml:6:5: node b has no fencing device but stonith is on; expected fence: [DEVICE, ...] so the node can be fenced (or stonith: false)",
	}},
	{"unregistered type", head + "nodes:\n  - {name: a, addresses: [10.0.0.1], fence: [g]}\n  - {name: b, addresses: [10.0.0.2], fence: [g, f]}\nfencing:\n  - {id: f, type: fake, params: {command: x}}\n  - {id: g, type: ipmi}\n", []string{
		"t.yaml:5:45: node a has no usable fencing device but stonith is on: g cannot run in this binary, and haven, like Pacemaker, does not recover a lost node's resources without fencing it; expected a device of a type this binary runs in fence: [...], or stonith: false",
		"t.yaml:9:19: fencing type \"ipmi\" of fencing device g is not built into this haven binary; expected a fencing type this binary registers",
	}},
	{"params", head + twoNodes + "  - {name: c, addresses: [10.0.0.3]}\n" + "fencing:\n  - {id: f, type: fake, params: {bad: 1}}\n  - {id: g, type: fake}\n", []string{
		"t.yaml:5:5: node a has no fencing device but stonith is on; expected fence: [DEVICE, ...] so the node can be fenced (or stonith: false)",
		"t.yaml:6:5: node b has no fencing device but stonith is on; expected fence: [DEVICE, ...] so the node can be fenced (or stonith: false)",
		"t.yaml:7:5: node c has no fencing device but stonith is on; expected fence: [DEVICE, ...] so the node can be fenced (or stonith: false)",
		"t.yaml:9:25: params of fencing device f: no command; expected command: PROGRAM",
		"t.yaml:9:34: param bad of fencing device f: unknown parameter; expected command",
		"t.yaml:10:5: params of fencing device g: no command; expected command: PROGRAM",
	}},
	{"stonith without devices", "cluster: {name: c, key_file: k, stonith: true}\n" + twoNodes, []string{
		"t.yaml:1:42: stonith is true but no fencing devices are defined; expected a fencing section (and nodes' fence lists) or stonith: false",
	}},
	{"on_fail fence without stonith", head + "  stonith: false\nnodes:\n  - {name: a, addresses: [10.0.0.1]}\nresources:\n  - {id: r, type: exec, monitor: {on_fail: fence}}\n", []string{
		"t.yaml:8:44: monitor on_fail fence of resource r needs stonith; expected stonith on with fencing devices, or another on_fail (stop, block, ...)",
	}},
}

func TestParse_FencingWithARegistry(t *testing.T) {
	for _, tc := range fencingCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml), Options{FenceTypes: fakeFenceTypes})
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v; want config.Errors", err)
			}
			if got := errs.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestParse_StonithWithUsableDevices: a file whose every member node has a
// usable device is accepted, with on_fail fence, and a witness needs none.
func TestParse_StonithWithUsableDevices(t *testing.T) {
	src := head + "  stonith: true\nnodes:\n  - {name: a, addresses: [10.0.0.1], fence: [f]}\n  - {name: b, addresses: [10.0.0.2], fence: [ipmi-b, f]}\n  - {name: w, role: witness, addresses: [10.0.0.3]}\n" +
		"fencing:\n  - {id: f, type: fake, params: {command: /bin/true}}\n  - {id: ipmi-b, type: fake, params: {command: /bin/true}, delay: 5s}\n" +
		"resources:\n  - {id: r, type: exec, monitor: {on_fail: fence}, stop: {on_fail: fence}}\n"
	c, err := Parse("t.yaml", []byte(src), Options{FenceTypes: fakeFenceTypes})
	if err != nil {
		t.Fatal(err)
	}
	if !c.StonithEnabled() || len(c.Fencing) != 2 || c.Fencing[1].Delay.D().Seconds() != 5 {
		t.Errorf("stonith %v, devices %+v; want stonith on and two devices", c.StonithEnabled(), c.Fencing)
	}
	// The same file in a binary without fencing: every device is refused.
	if _, err := Parse("t.yaml", []byte(src), Options{}); err == nil || !strings.Contains(err.Error(), noFencing) {
		t.Errorf("without a fencing registry: err = %v; want the devices refused (%s)", err, noFencing)
	}
}
