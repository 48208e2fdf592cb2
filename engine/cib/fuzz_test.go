package cib_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/cib"
	"github.com/havenha/haven/engine/scheduler"
)

// FuzzRead: no CIB, however broken, makes Read or Compute panic.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(*oracleDir, "xml", "*.xml"))
	for i, name := range files {
		if i%4 != 0 {
			continue // a sample keeps the seed corpus quick
		}
		if data, err := os.ReadFile(name); err == nil {
			f.Add(string(data))
		}
	}
	f.Add(`<cib><configuration><resources><clone id="c"/><group id="g"/></resources><constraints>` +
		`<rsc_location id="l" rsc="c"><rule id="r" score="x"><expression attribute="a" operation="gt" type="number" value="(("/></rule></rsc_location>` +
		`<rsc_colocation id="x" rsc="g" with-rsc="nope" score="INFINITY"/><rsc_order id="o" first="" then="c"/></constraints></configuration>` +
		`<status><node_state uname="ghost"><lrm><lrm_resources><lrm_resource id="c:9"><lrm_rsc_op operation="start" call-id="-1"/></lrm_resource></lrm_resources></lrm></node_state></status></cib>`)
	f.Add(`<cib/>`)
	f.Add(`not xml`)
	f.Fuzz(func(t *testing.T, doc string) {
		res, err := cib.Read(strings.NewReader(doc))
		if err != nil {
			return
		}
		scheduler.Compute(res.Input, time.Unix(0, 0))
	})
}
