package cib_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/cib"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/internal/testenv"
)

var (
	diffCount = flag.Int("diff.count", 100, "random configurations to compare against crm_simulate")
	diffSeed  = flag.Int64("diff.seed", 1, "seed of the random configurations")
	diffKeep  = flag.String("diff.keep", "", "folder to keep the CIBs of disagreeing cases in")
	diffMore  = flag.Bool("diff.extended", false, "also generate cloned groups, clone-node-max 2, failed starts and unmanaged resources")
	// diffFloor is the agreement rate below which the differential test fails.
	diffFloor = flag.Float64("diff.floor", 0.95, "minimum agreement rate with crm_simulate")
)

// TestDifferential_CrmSimulate generates random CIBs (nodes up, down and in
// standby; primitives, groups and clones; locations by node and by rule,
// colocations, orders; stickiness, migration thresholds, disabled resources;
// running and failed resources with fail counts; quorum and its policy), runs
// Pacemaker's crm_simulate and haven on each, and compares placements.
func TestDifferential_CrmSimulate(t *testing.T) {
	bin, err := exec.LookPath("crm_simulate")
	if err != nil {
		testenv.MissingPackage(t, "pacemaker-cli-utils", "crm_simulate is not installed: haven was not compared with Pacemaker")
	}
	dir := t.TempDir()
	r := rand.New(rand.NewSource(*diffSeed))
	agree, deliberate, stacked, skipped := 0, 0, 0, 0
	for i := 0; i < *diffCount; i++ {
		xml := randomCIB(r)
		path := filepath.Join(dir, fmt.Sprintf("case%04d.xml", i))
		if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-x", path, "-S")
		cmd.Env = append(os.Environ(), "LC_ALL=C", "CIB_shadow_dir="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			// crm_simulate occasionally produces a transition it cannot execute
			// ("An invalid transition was produced"); its revised status is then
			// not a decision to compare with.
			skipped++
			t.Logf("case %d: crm_simulate failed (%v); not compared", i, err)
			continue
		}
		want := cib.Placement(bytes.NewReader(out), "Revised Cluster Status:")
		res, err := cib.Read(strings.NewReader(xml))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		plan, _ := scheduler.Compute(res.Input, time.Now())
		var diffs []string
		for _, id := range sortedIDs(want) {
			got := plan.Placement[id]
			if got == nil {
				got = []string{}
			}
			if !reflect.DeepEqual(got, want[id]) {
				diffs = append(diffs, fmt.Sprintf("%s: haven %v pacemaker %v", id, got, want[id]))
			}
		}
		if len(diffs) == 0 {
			agree++
			continue
		}
		if v := stackedInstances(string(out)); v != "" {
			// Pacemaker 2.1.5 can put several instances of a cloned group on
			// one node (it rolls back a group instance but not its members).
			stacked++
			t.Logf("case %d (seed %d) differs deliberately: Pacemaker stacks %s; %s", i, *diffSeed, v, strings.Join(diffs, "; "))
			continue
		}
		if v := violatedColocation(res, want); v != "" {
			// Pacemaker breaks a mandatory colocation inside a colocation
			// loop; haven never does (docs/scheduler.md).
			deliberate++
			t.Logf("case %d (seed %d) differs deliberately: Pacemaker violates %s; %s", i, *diffSeed, v, strings.Join(diffs, "; "))
			continue
		}
		t.Logf("case %d (seed %d) differs: %s", i, *diffSeed, strings.Join(diffs, "; "))
		if *diffKeep != "" {
			os.MkdirAll(*diffKeep, 0o755)
			os.WriteFile(filepath.Join(*diffKeep, filepath.Base(path)), []byte(xml), 0o644)
		}
	}
	compared := *diffCount - deliberate - stacked - skipped
	rate := float64(agree) / float64(compared)
	t.Logf("crm_simulate agreement: %d/%d random configurations (%.1f%%); %d more differ only because Pacemaker "+
		"violates a mandatory colocation in a colocation loop and haven does not; %d because Pacemaker stacks "+
		"instances of a cloned group on one node; %d not compared (crm_simulate failed)",
		agree, compared, 100*rate, deliberate, stacked, skipped)
	if rate < *diffFloor {
		t.Errorf("agreement %.1f%% is below the floor %.1f%%", 100*rate, 100**diffFloor)
	}
}

// randomCIB writes one random CIB.
func randomCIB(r *rand.Rand) string {
	var b strings.Builder
	nNodes := 2 + r.Intn(4)
	nodes := make([]string, nNodes)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node%d", i+1)
	}
	policies := []string{"stop", "freeze", "ignore"}
	quorum := "1"
	if r.Intn(8) == 0 {
		quorum = "0"
	}
	fmt.Fprintf(&b, `<cib crm_feature_set="3.0.14" validate-with="pacemaker-3.7" epoch="1" num_updates="0" admin_epoch="0" have-quorum="%s" dc-uuid="1">
  <configuration>
    <crm_config>
      <cluster_property_set id="opts">
        <nvpair id="o1" name="stonith-enabled" value="false"/>
        <nvpair id="o2" name="no-quorum-policy" value="%s"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
`, quorum, policies[r.Intn(3)])
	standby := map[string]bool{}
	online := map[string]bool{}
	for i, n := range nodes {
		online[n] = r.Intn(5) != 0
		fmt.Fprintf(&b, `      <node id="%d" uname="%s">`, i+1, n)
		fmt.Fprintf(&b, `<instance_attributes id="na%d">`, i)
		if r.Intn(6) == 0 {
			standby[n] = true
			fmt.Fprintf(&b, `<nvpair id="na%d-s" name="standby" value="on"/>`, i)
		}
		fmt.Fprintf(&b, `<nvpair id="na%d-p" name="pingd" value="%d"/>`, i, r.Intn(3)*1000)
		fmt.Fprintf(&b, "</instance_attributes></node>\n")
	}
	b.WriteString("    </nodes>\n    <resources>\n")
	type rsc struct {
		id     string
		cloned bool
	}
	var prims []rsc
	var tops []string
	nPrims := 3 + r.Intn(7)
	k := 0
	meta := func(id string) string {
		var nv []string
		if r.Intn(3) == 0 {
			nv = append(nv, fmt.Sprintf(`<nvpair id="%s-st" name="resource-stickiness" value="%d"/>`, id, []int{0, 1, 50, 100, 1000}[r.Intn(5)]))
		}
		if r.Intn(5) == 0 {
			nv = append(nv, fmt.Sprintf(`<nvpair id="%s-mt" name="migration-threshold" value="%d"/>`, id, 1+r.Intn(3)))
		}
		if r.Intn(12) == 0 {
			nv = append(nv, fmt.Sprintf(`<nvpair id="%s-tr" name="target-role" value="Stopped"/>`, id))
		}
		if r.Intn(10) == 0 {
			nv = append(nv, fmt.Sprintf(`<nvpair id="%s-pr" name="priority" value="%d"/>`, id, 1+r.Intn(5)))
		}
		if *diffMore && r.Intn(15) == 0 {
			nv = append(nv, fmt.Sprintf(`<nvpair id="%s-im" name="is-managed" value="false"/>`, id))
		}
		if len(nv) == 0 {
			return ""
		}
		return fmt.Sprintf(`<meta_attributes id="%s-meta">%s</meta_attributes>`, id, strings.Join(nv, ""))
	}
	prim := func(id string) string {
		return fmt.Sprintf(`<primitive id="%s" class="ocf" provider="pacemaker" type="Dummy">%s</primitive>`, id, meta(id))
	}
	for k < nPrims {
		switch x := r.Intn(10); {
		case x < 6 || nPrims-k < 2:
			id := fmt.Sprintf("rsc%d", k)
			k++
			fmt.Fprintf(&b, "      %s\n", prim(id))
			prims = append(prims, rsc{id, false})
			tops = append(tops, id)
		case x < 8:
			g := fmt.Sprintf("grp%d", k)
			fmt.Fprintf(&b, `      <group id="%s">`, g)
			for j := 0; j < 2+r.Intn(2) && k < nPrims; j++ {
				id := fmt.Sprintf("rsc%d", k)
				k++
				b.WriteString(prim(id))
				prims = append(prims, rsc{id, false})
			}
			fmt.Fprintf(&b, "%s</group>\n", meta(g))
			tops = append(tops, g)
		case *diffMore && x == 8 && nPrims-k >= 2:
			c := fmt.Sprintf("clone%d", k)
			g := fmt.Sprintf("cgrp%d", k)
			fmt.Fprintf(&b, `      <clone id="%s"><group id="%s">`, c, g)
			for j := 0; j < 2; j++ {
				id := fmt.Sprintf("rsc%d", k)
				k++
				fmt.Fprintf(&b, `<primitive id="%s" class="ocf" provider="pacemaker" type="Dummy"/>`, id)
				prims = append(prims, rsc{id, true})
			}
			fmt.Fprintf(&b, "</group></clone>\n")
			tops = append(tops, c)
		default:
			c := fmt.Sprintf("clone%d", k)
			id := fmt.Sprintf("rsc%d", k)
			k++
			cm := ""
			if r.Intn(3) == 0 {
				cm = fmt.Sprintf(`<meta_attributes id="%s-cm"><nvpair id="%s-cmx" name="clone-max" value="%d"/></meta_attributes>`, c, c, 1+r.Intn(nNodes))
			} else if *diffMore && r.Intn(3) == 0 {
				cm = fmt.Sprintf(`<meta_attributes id="%s-cm"><nvpair id="%s-cmx" name="clone-max" value="%d"/><nvpair id="%s-cnm" name="clone-node-max" value="2"/></meta_attributes>`, c, c, 1+r.Intn(2*nNodes), c)
			}
			fmt.Fprintf(&b, `      <clone id="%s"><primitive id="%s" class="ocf" provider="pacemaker" type="Dummy"/>%s</clone>`+"\n", c, id, cm)
			prims = append(prims, rsc{id, true})
			tops = append(tops, c)
		}
	}
	b.WriteString("    </resources>\n    <constraints>\n")
	scores := []string{"-INFINITY", "-100", "-10", "10", "50", "100", "200", "INFINITY"}
	for i := 0; i < r.Intn(2*len(tops)+1); i++ {
		t := tops[r.Intn(len(tops))]
		if r.Intn(4) == 0 {
			fmt.Fprintf(&b, `      <rsc_location id="loc%d" rsc="%s"><rule id="loc%d-r" score="%s" boolean-op="or"><expression id="loc%d-e" attribute="pingd" operation="lt" value="1"/><expression id="loc%d-e2" attribute="pingd" operation="not_defined"/></rule></rsc_location>`+"\n",
				i, t, i, scores[r.Intn(len(scores))], i, i)
			continue
		}
		fmt.Fprintf(&b, `      <rsc_location id="loc%d" rsc="%s" node="%s" score="%s"/>`+"\n", i, t, nodes[r.Intn(nNodes)], scores[r.Intn(len(scores))])
	}
	for i := 0; i < r.Intn(len(tops)+1); i++ {
		a, c := tops[r.Intn(len(tops))], tops[r.Intn(len(tops))]
		if a == c {
			continue
		}
		fmt.Fprintf(&b, `      <rsc_colocation id="col%d" rsc="%s" with-rsc="%s" score="%s"/>`+"\n", i, a, c, scores[r.Intn(len(scores))])
	}
	for i := 0; i < r.Intn(len(tops)+1); i++ {
		a, c := r.Intn(len(tops)), r.Intn(len(tops))
		if a >= c {
			continue
		}
		kind := []string{"Mandatory", "Optional"}[r.Intn(2)]
		fmt.Fprintf(&b, `      <rsc_order id="ord%d" first="%s" then="%s" kind="%s"/>`+"\n", i, tops[a], tops[c], kind)
	}
	b.WriteString("    </constraints>\n")
	if r.Intn(3) == 0 {
		fmt.Fprintf(&b, `    <rsc_defaults><meta_attributes id="rd"><nvpair id="rd-st" name="resource-stickiness" value="%d"/></meta_attributes></rsc_defaults>`+"\n", []int{0, 1, 100}[r.Intn(3)])
	}
	b.WriteString("  </configuration>\n  <status>\n")
	// Each primitive runs (or failed) on at most one online node; clones on several.
	where := map[string][]string{}
	for _, p := range prims {
		for _, n := range nodes {
			if !online[n] {
				continue
			}
			if (p.cloned && r.Intn(2) == 0) || (!p.cloned && len(where[p.id]) == 0 && r.Intn(nNodes+1) == 0) {
				where[p.id] = append(where[p.id], n)
			}
		}
	}
	call := 10
	for i, n := range nodes {
		if !online[n] {
			fmt.Fprintf(&b, `    <node_state id="%d" uname="%s" in_ccm="false" crmd="offline" join="down" expected="down"/>`+"\n", i+1, n)
			continue
		}
		fmt.Fprintf(&b, `    <node_state id="%d" uname="%s" in_ccm="true" crmd="online" join="member" expected="member">`+"\n", i+1, n)
		var attrs []string
		var lrm []string
		inst := map[string]int{}
		for _, p := range prims {
			for _, on := range where[p.id] {
				if on != n {
					continue
				}
				id := p.id
				if p.cloned {
					id = fmt.Sprintf("%s:%d", p.id, inst[p.id])
					inst[p.id]++
				}
				call++
				op := fmt.Sprintf(`<lrm_rsc_op id="%s_last_0" operation_key="%s_start_0" operation="start" crm-debug-origin="test" crm_feature_set="3.16.2" transition-key="1:1:0:00000000-0000-0000-0000-000000000000" transition-magic="0:0;1:1:0:00000000-0000-0000-0000-000000000000" call-id="%d" rc-code="0" op-status="0" interval="0" last-rc-change="1700000000" exec-time="10" queue-time="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"/>`, p.id, p.id, call)
				if *diffMore && r.Intn(10) == 0 {
					// A failed start: the fail count is INFINITY (start failures are fatal).
					call++
					op = fmt.Sprintf(`<lrm_rsc_op id="%s_last_0" operation_key="%s_start_0" operation="start" crm-debug-origin="test" crm_feature_set="3.16.2" transition-key="1:1:0:00000000-0000-0000-0000-000000000000" transition-magic="0:1;1:1:0:00000000-0000-0000-0000-000000000000" call-id="%d" rc-code="1" op-status="0" interval="0" last-rc-change="1700000000" exec-time="10" queue-time="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"/>`, p.id, p.id, call)
					attrs = append(attrs, fmt.Sprintf(`<nvpair id="fc-%s-%s" name="fail-count-%s#start_0" value="INFINITY"/>`, p.id, n, p.id),
						fmt.Sprintf(`<nvpair id="lf-%s-%s" name="last-failure-%s#start_0" value="1700000000"/>`, p.id, n, p.id))
				} else if r.Intn(6) == 0 {
					// Past failures: a fail count (crm_simulate would keep a failed
					// monitor's history entry active after recovery, so none is written).
					attrs = append(attrs, fmt.Sprintf(`<nvpair id="fc-%s-%s" name="fail-count-%s#monitor_10000" value="%d"/>`, p.id, n, p.id, 1+r.Intn(3)),
						fmt.Sprintf(`<nvpair id="lf-%s-%s" name="last-failure-%s#monitor_10000" value="1700000100"/>`, p.id, n, p.id))
				}
				lrm = append(lrm, fmt.Sprintf(`<lrm_resource id="%s" class="ocf" provider="pacemaker" type="Dummy">%s</lrm_resource>`, id, op))
			}
		}
		if len(attrs) > 0 {
			fmt.Fprintf(&b, `      <transient_attributes id="%d"><instance_attributes id="status-%d">%s</instance_attributes></transient_attributes>`+"\n", i+1, i+1, strings.Join(attrs, ""))
		}
		fmt.Fprintf(&b, `      <lrm id="%d"><lrm_resources>%s</lrm_resources></lrm>`+"\n", i+1, strings.Join(lrm, ""))
		b.WriteString("    </node_state>\n")
	}
	b.WriteString("  </status>\n</cib>\n")
	return b.String()
}

// violatedColocation names a -INFINITY or INFINITY colocation that the
// placement breaks, or "".
func violatedColocation(res *cib.Result, pl map[string][]string) string {
	for _, c := range res.Input.Cluster.Constraints {
		co := c.Colocation
		if co == nil || (co.Score > -1000000 && co.Score < 1000000) {
			continue
		}
		dep, prim := pl[co.Resource], pl[co.With]
		on := map[string]bool{}
		for _, n := range prim {
			on[n] = true
		}
		for _, n := range dep {
			if (co.Score < 0 && on[n]) || (co.Score > 0 && !on[n]) {
				return fmt.Sprintf("colocation %s (%s with %s, %s)", co.ID, co.Resource, co.With, co.Score)
			}
		}
	}
	return ""
}

var transitionRe = regexp.MustCompile(`^\s+\* (Start|Move|Restart|Recover|Migrate)\s+(\S+):(\d+)\s+\(\s*(?:\S+ -> )?(\S+)\s*\)`)

// stackedInstances names a clone instance that crm_simulate's transition
// summary puts on a node where another instance of the same primitive goes,
// or "".
func stackedInstances(out string) string {
	seen := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := transitionRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		key := m[2] + "@" + m[4]
		if other, ok := seen[key]; ok && other != m[3] {
			return fmt.Sprintf("instances %s:%s and %s:%s on %s", m[2], other, m[2], m[3], m[4])
		}
		seen[key] = m[3]
	}
	return ""
}
