package resources

import (
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
)

// no_quorum_policy stop: SIGKILL two of three agents; the survivor, without
// quorum, stops its resources (their own stop stamps say so) while its
// agent keeps running.
func TestResources_NoQuorumStopsTheSurvivor(t *testing.T) {
	r := newRig(t, "  no_quorum_policy: stop", threeNodes(), `resources:
  - {id: solo, type: exec, params: {command: SCRIPT(solo)}, monitor: {interval: 1s, timeout: 5s}}
  - {id: hb, type: exec, params: {command: SCRIPT(hb)}, monitor: {interval: 1s, timeout: 5s}}
clones:
  - {id: hb-clone, resource: hb}
constraints:
  - location: {resource: solo, node: n3, score: 100}
`)
	r.c.StartAll()
	r.waitOn("solo", "n3")
	r.waitOn("hb", "n1", "n2", "n3")
	r.c.Node("n1").Kill()
	r.c.Node("n2").Kill()
	// The killed agents' resources keep running (nothing stops them
	// without haven: the watchdog gap); this test is about n3.
	r.killNodeResources("n1")
	r.killNodeResources("n2")
	killedAt := time.Now()
	r.eventually("n3 stopped solo and hb (no quorum)", func() bool {
		return len(r.runningOn("solo")) == 0 && len(r.runningOn("hb")) == 0
	})
	t.Logf("n3 stopped its resources %s after the other two agents were killed", time.Since(killedAt).Round(100*time.Millisecond))
	// They were stopped, not lost: each n3 process stamped its stop.
	for _, iv := range r.intervals() {
		if iv.node == "n3" && iv.stop == 0 {
			t.Errorf("%s's process %d on n3 has no stop stamp: it was not stopped by haven", iv.res, iv.pid)
		}
	}
	if !r.c.Node("n3").Running() {
		t.Fatal("n3's agent exited; expected it to keep running without quorum")
	}
	s := r.c.Node("n3").WaitStatus("n3 without quorum", 30*time.Second, func(s api.StatusView) bool { return !s.Quorum.Quorate })
	t.Logf("n3 controller: %+v", s.Controller)
	// The others come back: quorum returns and everything runs again.
	r.c.Node("n1").Start()
	r.c.Node("n2").Start()
	r.waitOn("solo", "n3")
	r.waitOn("hb", "n1", "n2", "n3")
	r.checkNeverTwice("solo")
}
