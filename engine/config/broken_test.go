package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const head = "cluster:\n  name: c\n  key_file: k\n"
const twoNodes = "nodes:\n  - {name: a, addresses: [10.0.0.1]}\n  - {name: b, addresses: [10.0.0.2]}\n"

// brokenCases are whole files, each with every error it must yield, exactly.
var brokenCases = []struct {
	name string
	yaml string
	want []string
}{
	{"empty", "", []string{
		"t.yaml:1:1: the file is empty; expected a configuration with at least the sections cluster and nodes",
	}},
	{"only comments", "# nothing here\n", []string{
		"t.yaml:1:1: the file holds no YAML document (only comments?); expected a configuration with at least the sections cluster and nodes",
	}},
	{"two documents", head + twoNodes + "---\ncluster: {}\n", []string{
		"t.yaml:7:1: a second YAML document starts here; expected one document per file (remove the '---' separator)",
	}},
	{"syntax error", head + "nodes:\n  - name: a\n   addresses: [x]\n", []string{
		"t.yaml:4:1: invalid YAML: did not find expected '-' indicator; expected well-formed YAML (check indentation, quoting and colons)",
	}},
	{"top level list", "- cluster\n- nodes\n", []string{
		"t.yaml:1:1: the file holds a list; expected a mapping with the sections cluster, nodes, fencing, resources, groups, clones, constraints",
	}},
	{"unknown top key", head + twoNodes + "resource: []\n", []string{
		"t.yaml:7:1: unknown key \"resource\" at the top level (did you mean \"resources\"?); expected one of cluster, nodes, fencing, resources, groups, clones, constraints",
	}},
	{"unknown node key", head + "nodes:\n  - name: a\n    addresses: [10.0.0.1]\n    vote: 2\n", []string{
		"t.yaml:7:5: unknown key \"vote\" in node (did you mean \"votes\"?); expected one of name, addresses, votes, role, gossip_port, raft_port, api_port, fence, attributes",
	}},
	{"wrong types", head + "nodes:\n  - name: a\n    addresses: 10.0.0.1\n    votes: two\n", []string{
		"t.yaml:6:16: addresses is \"10.0.0.1\"; expected a list",
		"t.yaml:7:12: votes is \"two\"; expected an integer",
	}},
	{"bad duration", head + twoNodes + "resources:\n  - id: r\n    type: exec\n    monitor: {interval: 10 parsecs}\n", []string{
		"t.yaml:10:25: interval: duration \"10 parsecs\" is not understood; expected a form like 10s, 500ms, 1min or 1h30m",
	}},
	{"bad score", head + twoNodes + "resources:\n  - {id: r, type: exec}\nconstraints:\n  - location: {resource: r, node: a, score: lots}\n", []string{
		"t.yaml:10:45: score \"lots\" is not a score; expected an integer, INFINITY, +INFINITY or -INFINITY",
	}},
	{"bad enums", "cluster:\n  name: c\n  key_file: k\n  no_quorum_policy: halt\n  profile: lan\n" + twoNodes + "resources:\n  - {id: r, type: exec, monitor: {on_fail: explode}, meta: {target_role: running}}\n", []string{
		"t.yaml:4:21: invalid no_quorum_policy \"halt\" in cluster; expected one of stop, freeze, ignore",
		"t.yaml:10:44: invalid on_fail \"explode\" in operation; expected one of restart, stop, standby, ignore, fence, block",
		"t.yaml:10:74: invalid target_role \"running\" in meta; expected one of Started, Stopped",
	}},
	{"cluster without name and key", "cluster:\n  expected_votes: 2\n" + twoNodes, []string{
		"t.yaml:2:3: cluster has no key_file; expected key_file: PATH of a key made with 'haven keygen -o FILE' (a cluster without a key is refused)",
		"t.yaml:2:3: cluster has no name; expected name: CLUSTER_NAME",
	}},
	{"missing sections", "resources: []\n", []string{
		"t.yaml:1:1: missing section \"cluster\"; expected cluster: with at least name and key_file",
		"t.yaml:1:1: missing section \"nodes\"; expected nodes: a list of at least one node with name and addresses",
	}},
	{"empty nodes", head + "nodes: []\n", []string{
		"t.yaml:4:8: nodes is empty; expected a list of at least one node with name and addresses",
	}},
	{"duplicate node names", head + "nodes:\n  - {name: a, addresses: [10.0.0.1]}\n  - {name: a, addresses: [10.0.0.2]}\n", []string{
		"t.yaml:6:12: duplicate node name \"a\" (first at line 5); expected unique node names",
	}},
	{"bad addresses", head + "nodes:\n  - {name: a, addresses: [192.168.1.300, 'sv1 host', 10.0.0.1/24]}\n  - {name: b, addresses: []}\n", []string{
		"t.yaml:5:27: address \"192.168.1.300\" of node a is not an IP address or host name; expected e.g. 192.168.1.71, fd00::71 or sv1.example.com (ports go in gossip_port, raft_port, api_port)",
		"t.yaml:5:42: address \"sv1 host\" of node a is not an IP address or host name; expected e.g. 192.168.1.71, fd00::71 or sv1.example.com (ports go in gossip_port, raft_port, api_port)",
		"t.yaml:5:54: address \"10.0.0.1/24\" of node a is not an IP address or host name; expected e.g. 192.168.1.71, fd00::71 or sv1.example.com (ports go in gossip_port, raft_port, api_port)",
		"t.yaml:6:26: node b has no addresses; expected addresses: [IP or host name, ...] (one per link, the first is the primary)",
	}},
	{"shared address and port", head + "nodes:\n  - {name: a, addresses: [127.0.0.1]}\n  - {name: b, addresses: [127.0.0.1], gossip_port: 7000, raft_port: 7000}\n", []string{
		"t.yaml:6:27: node b's api port 7948 on 127.0.0.1 is already used by node a's api port; expected distinct address:port pairs",
		"t.yaml:6:69: node b's raft port 7000 on 127.0.0.1 is already used by node b's gossip port; expected distinct address:port pairs",
	}},
	{"ports and votes out of range", head + "nodes:\n  - {name: a, addresses: [10.0.0.1], gossip_port: 70000, api_port: 0, votes: -1}\n  - {name: b, addresses: [10.0.0.2]}\n", []string{
		"t.yaml:5:51: gossip_port 70000 of node a is out of range; expected 1 to 65535",
		"t.yaml:5:68: api_port 0 of node a is out of range; expected 1 to 65535",
		"t.yaml:5:78: votes -1 of node a is negative; expected 0 or more",
	}},
	{"expected votes too small", "cluster: {name: c, key_file: k, expected_votes: 1}\nnodes:\n  - {name: a, addresses: [10.0.0.1], votes: 2}\n  - {name: b, addresses: [10.0.0.2]}\n", []string{
		"t.yaml:1:49: expected_votes 1 is smaller than node a's 2 votes; expected at least 2",
	}},
	{"expected votes zero", "cluster: {name: c, key_file: k, expected_votes: 0}\n" + twoNodes, []string{
		"t.yaml:1:49: expected_votes 0 is below 1; expected at least 1 (or leave it out for the sum of all votes, 2)",
	}},
	{"two_node with three nodes", "cluster: {name: c, key_file: k, two_node: true}\n" + twoNodes + "  - {name: d, addresses: [10.0.0.3]}\n", []string{
		"t.yaml:1:43: two_node is true but there are 3 nodes; expected exactly two nodes of one vote each",
	}},
	{"two_node with witness", "cluster: {name: c, key_file: k, two_node: true}\n" + twoNodes + "  - {name: w, role: witness, addresses: [10.0.0.3]}\n", []string{
		"t.yaml:1:43: two_node is true but node w is a witness; expected two_node only without a witness (a witness already breaks the tie: remove two_node or the witness)",
	}},
	{"two_node with two votes", "cluster: {name: c, key_file: k, two_node: true}\nnodes:\n  - {name: a, addresses: [10.0.0.1], votes: 2}\n  - {name: b, addresses: [10.0.0.2]}\n", []string{
		"t.yaml:1:43: two_node is true but node a has 2 votes; expected exactly two nodes of one vote each",
	}},
	{"timing contradictions", "cluster:\n  name: c\n  key_file: k\n  timing:\n    probe_interval: 100ms\n    probe_timeout: 200ms\n    raft_leader_lease: 1s\n" + twoNodes, []string{
		"t.yaml:5:5: timing: probe_timeout 200ms is not below probe_interval 100ms; expected probe_timeout < probe_interval",
		"t.yaml:5:5: timing: raft_leader_lease 1s exceeds raft_heartbeat 300ms; expected raft_leader_lease <= raft_heartbeat",
	}},
	{"duplicate ids", head + twoNodes + "resources:\n  - {id: r, type: exec}\n  - {id: r, type: exec}\ngroups:\n  - {id: r, resources: [x]}\n", []string{
		"t.yaml:9:10: duplicate id \"r\": already used by a resource at line 8; expected ids unique across resources, groups, clones, fencing devices and constraints",
		"t.yaml:11:10: duplicate id \"r\": already used by a resource at line 8; expected ids unique across resources, groups, clones, fencing devices and constraints",
		"t.yaml:11:25: group r refers to resource \"x\", which is not defined; expected one of r",
	}},
	{"group members", head + twoNodes + "resources:\n  - {id: r1, type: exec}\n  - {id: r2, type: exec}\ngroups:\n  - {id: g1, resources: [r1, missing, r1]}\n  - {id: g2, resources: [r1, g1]}\n  - {id: g3, resources: []}\n", []string{
		"t.yaml:11:30: group g1 refers to resource \"missing\", which is not defined; expected one of r1, r2",
		"t.yaml:11:39: resource \"r1\" is listed twice in group g1; expected each member once",
		"t.yaml:12:26: resource r1 is already a member of group g1 (line 11); expected each resource in at most one group",
		"t.yaml:12:30: member \"g1\" of group g2 is a group; expected a primitive resource (groups hold resources only)",
		"t.yaml:13:25: group g3 has no resources; expected resources: [ids of primitive resources, in start order]",
	}},
	{"clones", head + twoNodes + "resources:\n  - {id: r1, type: exec}\n  - {id: r2, type: exec}\ngroups:\n  - {id: g1, resources: [r1]}\nclones:\n  - {id: c1, resource: r1}\n  - {id: c2, resource: r2, max: -1}\n  - {id: c3, resource: r2}\n  - {id: c4, resource: c2}\n  - {id: c5, resource: nope, node_max: -2}\n", []string{
		"t.yaml:13:24: clone c1 wraps resource r1, which is a member of group g1; expected the clone to wrap the group g1 instead",
		"t.yaml:14:33: max -1 of clone c2 is negative; expected 0 (one per node) or more",
		"t.yaml:15:24: r2 is already cloned by c2 (line 14); expected each resource or group cloned once",
		"t.yaml:16:24: clone c4 wraps c2, which is a clone; expected a primitive resource or a group",
		"t.yaml:17:24: clone c5 wraps \"nope\", which is not defined; expected one of r1, r2, g1",
		"t.yaml:17:40: node_max -2 of clone c5 is negative; expected 0 (default 1) or more",
	}},
	{"location node and rule", head + twoNodes + "resources:\n  - {id: r, type: exec}\nconstraints:\n  - location: {resource: r, node: a, rule: 'x eq 1'}\n  - location: {resource: r, score: 5}\n  - location: {resource: q, node: z}\n", []string{
		"t.yaml:10:44: location sets both node and rule; expected one of them (node: NAME or rule: EXPRESSION)",
		"t.yaml:11:15: location has neither node nor rule; expected node: NAME or rule: EXPRESSION",
		"t.yaml:12:26: location refers to \"q\", which is not a resource, group or clone; expected one of r",
		"t.yaml:12:35: location refers to node \"z\", which is not defined; expected one of a, b",
	}},
	{"rule syntax", head + twoNodes + "resources:\n  - {id: r, type: exec}\nconstraints:\n  - location: {resource: r, rule: \"pingd lessthan 1\"}\n  - location: {resource: r, rule: pingd lt 1 or}\n", []string{
		"t.yaml:10:42: invalid rule: unknown operator \"lessthan\"; expected lt, gt, lte, gte, eq or ne",
		"t.yaml:11:48: invalid rule: rule ends early; expected an attribute name, 'defined', 'not_defined' or '('",
	}},
	{"order cycle", head + twoNodes + "resources:\n  - {id: a1, type: exec}\n  - {id: a2, type: exec}\n  - {id: a3, type: exec}\nconstraints:\n  - order: {first: a1, then: a2}\n  - order: {first: a2, then: a3}\n  - order: {first: a3, then: a1}\n  - order: {first: a3, then: a2, kind: optional}\n", []string{
		"t.yaml:14:12: mandatory order cycle a1 → a2 → a3 → a1 (order a1 then a2 at line 12, order a2 then a3 at line 13, order a3 then a1 at line 14); expected mandatory orders without a cycle: remove one of them",
		"t.yaml:15:40: order kind optional (a3 then a2) is not carried out by haven: the nodes honour only mandatory orders; expected kind: mandatory (the default), or no order",
	}},
	{"order cycle through group", head + twoNodes + "resources:\n  - {id: a1, type: exec}\n  - {id: a2, type: exec}\ngroups:\n  - {id: g, resources: [a1, a2]}\nconstraints:\n  - order: {first: a2, then: a1}\n", []string{
		"t.yaml:13:12: mandatory order cycle a1 → a2 → a1 (group g at line 11, order a2 then a1 at line 13); expected mandatory orders without a cycle: remove one of them",
	}},
	{"colocation conflict", head + twoNodes + "resources:\n  - {id: a1, type: exec}\n  - {id: a2, type: exec}\n  - {id: a3, type: exec}\nconstraints:\n  - colocation: {resource: a1, with: a2}\n  - colocation: {resource: a2, with: a3, score: INFINITY}\n  - colocation: {resource: a3, with: a1, score: INFINITY}\n  - colocation: {resource: a1, with: a3, score: -INFINITY}\n", []string{
		"t.yaml:15:17: colocation a1 with a3 at -INFINITY can never hold: they are kept on one node by colocation a3 with a1 INFINITY at line 14; expected no -INFINITY colocation between resources that INFINITY colocations or a group keep together",
	}},
	{"resource types", head + twoNodes + "resources:\n  - {id: r1, type: iscsi-target}\n  - {id: r2, type: ocf:heartbeat}\n  - {id: r3, type: vipp}\n  - {id: r4}\n  - {id: r5, type: 'systemd:'}\n  - {id: r6, type: systemd:tgtd}\n  - {id: r7, type: ocf:heartbeat:IPaddr2}\n", []string{
		"t.yaml:8:20: resource type \"iscsi-target\" of resource r1 is not built into this haven binary (the in-process iSCSI target is not implemented yet); expected one of vip, systemd, exec, filesystem, ping, alert, systemd:UNIT or ocf:PROVIDER:AGENT",
		"t.yaml:9:20: resource type \"ocf:heartbeat\" of resource r2 is not of the form ocf:PROVIDER:AGENT; expected e.g. ocf:heartbeat:IPaddr2",
		"t.yaml:10:20: unknown resource type \"vipp\" for resource r3 (did you mean \"vip\"?); expected one of vip, systemd, exec, filesystem, ping, alert, systemd:UNIT or ocf:PROVIDER:AGENT",
		"t.yaml:11:5: resource r4 has no type; expected type: one of vip, systemd, exec, filesystem, ping, alert, systemd:UNIT or ocf:PROVIDER:AGENT",
		"t.yaml:12:20: unknown resource type \"systemd:\" for resource r5 (for a systemd unit write type: systemd with params: {unit: }); expected one of vip, systemd, exec, filesystem, ping, alert, systemd:UNIT or ocf:PROVIDER:AGENT",
	}},
	{"constraint kinds", head + twoNodes + "resources:\n  - {id: r, type: exec}\nconstraints:\n  - {}\n  - location: {resource: r, node: a}\n    order: {first: r, then: r}\n", []string{
		"t.yaml:10:5: constraint has none of location, colocation, order; expected exactly one of them per list item",
		"t.yaml:11:5: constraint sets location and order; expected exactly one of location, colocation, order per list item",
		"t.yaml:12:29: order of r after itself; expected two different resources",
	}},
	{"fence references", "cluster: {name: c, key_file: k, stonith: true}\nnodes:\n  - {name: a, addresses: [10.0.0.1], fence: [ipmi-a, ipmi-a]}\n  - {name: b, addresses: [10.0.0.2], fence: [ipmi-b]}\n", []string{
		"t.yaml:1:42: stonith is true but this binary cannot fence (fencing devices are not built into this binary yet); expected stonith: false",
		"t.yaml:3:46: node a refers to fencing device \"ipmi-a\", which is not defined; expected a device defined in the fencing section (there is none)",
		"t.yaml:3:54: fencing device \"ipmi-a\" is listed twice for node a; expected each device once",
		"t.yaml:4:46: node b refers to fencing device \"ipmi-b\", which is not defined; expected a device defined in the fencing section (there is none)",
	}},
	{"fencing devices not built", head + "nodes:\n  - {name: a, addresses: [10.0.0.1], fence: [f1, f2]}\n  - {name: b, addresses: [10.0.0.2], fence: [f3]}\n  - {name: w, role: witness, addresses: [10.0.0.3]}\nfencing:\n  - {id: f1, type: ipmi, params: {host: 10.0.1.1}}\n  - {id: f2, type: exec}\n  - {id: f3, type: ilo}\n  - {id: f4}\n", []string{
		"t.yaml:5:45: node a has no usable fencing device but stonith is on: f1, f2 cannot run in this binary, and haven, like Pacemaker, does not recover a lost node's resources without fencing it; expected stonith: false (fencing devices are not built into this binary yet)",
		"t.yaml:6:45: node b has no usable fencing device but stonith is on: f3 cannot run in this binary, and haven, like Pacemaker, does not recover a lost node's resources without fencing it; expected stonith: false (fencing devices are not built into this binary yet)",
		"t.yaml:9:20: fencing type \"ipmi\" of fencing device f1 is not built into this haven binary (fencing devices are not built into this binary yet); expected no fencing devices, and stonith: false",
		"t.yaml:10:20: fencing type \"exec\" of fencing device f2 is not built into this haven binary (fencing devices are not built into this binary yet); expected no fencing devices, and stonith: false",
		"t.yaml:11:20: unknown fencing type \"ilo\" for fencing device f3 (fencing devices are not built into this binary yet); expected no fencing devices, and stonith: false",
		"t.yaml:12:5: fencing device f4 has no type; expected type: no fencing devices, and stonith: false",
	}},
	{"fencing devices with stonith off", head + "  stonith: false\nnodes:\n  - {name: a, addresses: [10.0.0.1], fence: [f]}\nfencing:\n  - {id: f, type: watchdog}\n", []string{
		"t.yaml:8:19: fencing type \"watchdog\" of fencing device f is not built into this haven binary (fencing devices are not built into this binary yet); expected no fencing devices, and stonith: false",
	}},
	{"settings no node carries out", head + twoNodes + "resources:\n  - {id: r, type: exec, stop: {on_fail: restart}}\n  - {id: s, type: exec, stop: {on_fail: ignore}}\n  - {id: u, type: exec, stop: {on_fail: stop}}\n  - {id: p, type: ping, stop: {on_fail: standby}}\nclones:\n  - {id: pc, resource: p, node_max: 2}\nconstraints:\n  - order: {first: r, then: s, kind: serialize}\n  - order: {first: s, then: u, kind: optional}\n  - order: {first: r, then: u, symmetrical: false}\n  - order: {first: pc, then: r, symmetrical: true}\n", []string{
		"t.yaml:8:41: stop on_fail restart of resource r is not carried out by haven: a failed stop leaves the resource blocked on its node until cleanup; expected on_fail block (the default) or standby",
		"t.yaml:9:41: stop on_fail ignore of resource s is not carried out by haven: a failed stop leaves the resource blocked on its node until cleanup; expected on_fail block (the default) or standby",
		"t.yaml:10:41: stop on_fail stop of resource u is not carried out by haven: a failed stop leaves the resource blocked on its node until cleanup; expected on_fail block (the default) or standby",
		"t.yaml:13:37: node_max 2 of clone pc has no effect: an anonymous clone runs at most one instance per node (as in Pacemaker); expected node_max 1 or none",
		"t.yaml:15:38: order kind serialize (r then s) is not carried out by haven: the nodes honour only mandatory orders; expected kind: mandatory (the default), or no order",
		"t.yaml:16:38: order kind optional (s then u) is not carried out by haven: the nodes honour only mandatory orders; expected kind: mandatory (the default), or no order",
		"t.yaml:17:45: symmetrical: false (r then u) is not carried out by haven: a node always stops then before first; expected symmetrical: true (the default)",
	}},
	{"duplicate keys", "cluster:\n  name: c\n  name: d\n  key_file: k\n" + twoNodes, []string{
		"t.yaml:3:3: duplicate key \"name\" in cluster (first at line 2); expected each key once",
	}},
	{"alias bomb", head + twoNodes + "resources:\n  - id: r\n    type: exec\n    params:\n      a: &a [x, x, x, x, x, x, x, x, x, x]\n      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", []string{
		"t.yaml:11:32: the document expands to more than 200000 YAML nodes (through aliases?); expected a configuration without alias bombs",
	}},
	{"self alias", head + "nodes: &n\n  - {name: a, addresses: [10.0.0.1], attributes: *n}\n", []string{
		"t.yaml:5:50: alias *n refers to a value that contains it; expected an alias of a value defined outside itself",
	}},
	{"meta and clone limits", head + twoNodes + "resources:\n  - {id: r, type: exec, meta: {migration_threshold: -1}, start: {interval: 5s}, monitor: {interval: 0}}\n", []string{
		"t.yaml:8:53: migration_threshold -1 of resource r is negative; expected 0 (never move) or more",
		"t.yaml:8:76: start of resource r has an interval; expected interval only on monitor",
		"t.yaml:8:101: monitor interval of resource r is 0; expected a positive interval such as 10s (or leave it out for the type's default)",
	}},
	{"stonith without fencing", "cluster: {name: c, key_file: k, stonith: true}\n" + twoNodes, []string{
		"t.yaml:1:42: stonith is true but this binary cannot fence (fencing devices are not built into this binary yet); expected stonith: false",
	}},
	{"constraint on a cloned resource", head + twoNodes + "resources:\n  - {id: p, type: ping}\n  - {id: w, type: exec}\nclones:\n  - {id: pc, resource: p}\nconstraints:\n  - colocation: {resource: w, with: p}\n  - order: {first: pc, then: w}\n", []string{
		"t.yaml:13:37: colocation refers to p, which is cloned by pc; expected the clone's id pc (constraints apply to the clone's instances)",
	}},
	{"fencing gaps", head + "  stonith: false\nnodes:\n  - {name: a, addresses: [10.0.0.1]}\nresources:\n  - {id: r, type: exec, stop: {on_fail: fence}}\n", []string{
		"t.yaml:8:41: stop on_fail fence of resource r needs stonith, and this binary cannot fence (fencing devices are not built into this binary yet); expected another on_fail (stop, block, ...)",
	}},
	{"reserved attribute and cloned group member", head + "nodes:\n  - {name: a, addresses: [10.0.0.1], attributes: {'#uname': x, rack: r1}}\nresources:\n  - {id: m, type: exec}\n  - {id: x, type: exec}\ngroups:\n  - {id: g, resources: [m]}\nclones:\n  - {id: gc, resource: g}\nconstraints:\n  - order: {first: x, then: m}\n", []string{
		"t.yaml:5:51: attribute \"#uname\" of node a is reserved (names starting with # are built in, like #uname); expected another name",
		"t.yaml:14:29: order refers to m, a member of group g, which is cloned by gc; expected the clone's id gc",
	}},
	{"witness preferred", head + twoNodes + "  - {name: w, role: witness, addresses: [10.0.0.3]}\nresources:\n  - {id: r, type: exec}\nconstraints:\n  - location: {resource: r, node: w, score: 100}\n", []string{
		"t.yaml:11:35: location prefers node w, which is a witness and runs no resources; expected a member node",
	}},
}

func TestParse_Broken(t *testing.T) {
	print := os.Getenv("HAVEN_PRINT_CASES") != ""
	for _, tc := range brokenCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml), Options{})
			if err == nil {
				t.Fatalf("Parse succeeded (%+v); want errors", c.Cluster)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T (%v); want config.Errors", err, err)
			}
			got := strings.Split(errs.Error(), "\n")
			if print {
				var b strings.Builder
				for _, g := range got {
					b.WriteString("\t\t" + strconvQuote(g) + ",\n")
				}
				t.Logf("%s:\n%s", tc.name, b.String())
				return
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
