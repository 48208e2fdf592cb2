package cib_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/cib"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/internal/testenv"
)

var oracleDir = flag.String("oracle", "../../../shared/oracle/scheduler", "folder of Pacemaker's scheduler regression cases")

// knownDifferences lists oracle cases where haven deliberately or knowingly
// places differently from Pacemaker 2.1.5, each with the reason (see
// docs/scheduler.md).
var knownDifferences = map[string]string{
	"bug-5025-4": "Pacemaker clears a fail count when the resource's parameters changed since the failure " +
		"(op-digest mismatch); haven does not compute OCF parameter digests, so the INFINITY fail count still bans the node",
	"clone-interleave-2": "interleave=true pairs clone instances per node in orders; model.Clone has no interleave " +
		"field, so haven orders whole clones and keeps clone-3's instance on pcmk-1",
}

// TestOracle_PacemakerRegressionCases reads every case of the shared oracle
// with engine/cib, computes, and compares each resource's placement with
// the "Revised Cluster Status" of Pacemaker 2.1.5's summary.
func TestOracle_PacemakerRegressionCases(t *testing.T) {
	list, err := os.ReadFile(filepath.Join(*oracleDir, "cases.txt"))
	if err != nil {
		testenv.Missing(t, "the oracle is not there (%v): ../shared must be beside the checkout", err)
	}
	cases := strings.Fields(string(list))
	agree := 0
	for _, name := range cases {
		res, err := cib.ReadFile(filepath.Join(*oracleDir, "xml", name+".xml"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		f, err := os.Open(filepath.Join(*oracleDir, "summary", name+".summary"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := cib.Placement(f, "Revised Cluster Status:")
		f.Close()
		plan, why := scheduler.Compute(res.Input, time.Now())
		var diffs []string
		for _, id := range sortedIDs(want) {
			got := plan.Placement[id]
			if got == nil {
				got = []string{}
			}
			if !reflect.DeepEqual(got, want[id]) {
				diffs = append(diffs, id+": haven "+strings.Join(got, ",")+" pacemaker "+strings.Join(want[id], ","))
			}
		}
		if len(diffs) == 0 {
			agree++
			if reason, ok := knownDifferences[name]; ok {
				t.Errorf("%s now agrees with Pacemaker; remove it from knownDifferences (%s)", name, reason)
			}
			continue
		}
		if reason, ok := knownDifferences[name]; ok {
			t.Logf("%s: known difference (%s): %s", name, reason, strings.Join(diffs, "; "))
			continue
		}
		t.Errorf("%s: placement differs from Pacemaker: %s\nunmodelled: %v\n%s", name, strings.Join(diffs, "; "), res.Unmodelled, why)
	}
	t.Logf("oracle agreement: %d/%d cases (%.1f%%)", agree, len(cases), 100*float64(agree)/float64(len(cases)))
}

func sortedIDs(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
