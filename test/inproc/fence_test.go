package inproc

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/state"
)

// testFencer "powers off" a node like a machine crash (haven stopped, its
// resource processes SIGKILLed), after the test releases it.
type testFencer struct {
	c       *cluster
	release chan struct{}

	mu     sync.Mutex
	called map[string]time.Time
	done   map[string]time.Time
}

func (f *testFencer) Fence(ctx context.Context, node string) error {
	f.mu.Lock()
	if _, ok := f.called[node]; !ok {
		f.called[node] = time.Now()
	}
	f.mu.Unlock()
	select {
	case <-f.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	go f.c.crashNode(node) // the fencer must not wait for the node it powers off
	f.c.eventually(node+" powered off", func() bool {
		for _, iv := range f.c.intervals() {
			if iv.node == node && iv.open() {
				return false
			}
		}
		return f.c.node(node) == nil
	})
	f.mu.Lock()
	f.done[node] = time.Now()
	f.mu.Unlock()
	return nil
}

func (f *testFencer) calledAt(node string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.called[node]
	return t, ok
}

// stonithThree is the three-node cluster with stonith on and a test device.
func stonithThree() string {
	return strings.NewReplacer("stonith: false", "stonith: true",
		"addresses: [127.0.0.1]}", "addresses: [127.0.0.1], fence: [fake]}",
		"addresses: [127.0.0.2]}", "addresses: [127.0.0.2], fence: [fake]}",
		"addresses: [127.0.0.3]}", "addresses: [127.0.0.3], fence: [fake]}").Replace(three) + `
fencing:
  - {id: fake, type: exec, params: {command: /bin/true}}
`
}

// TestFencing_OnFailFenceFencesTheNode: a monitor failure with on_fail
// fence gets the node fenced; the resource starts elsewhere after the fence.
func TestFencing_OnFailFenceFencesTheNode(t *testing.T) {
	c := newCluster(t, stonithThree()+`
resources:
  - id: web
    type: exec
    params: {command: [/bin/sh, LOGDIR/web.sh], startup_grace: 100ms}
    monitor: {interval: 200ms, timeout: 5s, on_fail: fence}
`)
	f := &testFencer{c: c, release: make(chan struct{}), called: map[string]time.Time{}, done: map[string]time.Time{}}
	c.fencer = f
	c.script("web", 0)
	c.startAll()
	home := c.waitSingle("web", "")
	if c.leader() == home {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		err := c.node(home).cn.TransferLeadership(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c.eventually("another coordinator", func() bool { return c.leader() != home })
	}
	c.killRunning("web", home)
	// The failing node stops web itself and reports it; the fence is held
	// until that report is in the state, so a coordinator that trusted it
	// would start web elsewhere before the fence (a race CI once hit).
	c.eventually(home+" reports web stopped", func() bool {
		tn := c.node(c.leader())
		if tn == nil {
			return false
		}
		ns := tn.st.View().Nodes[home]
		return ns != nil && ns.Resources["web"] != nil && ns.Resources["web"].State == state.Stopped
	})
	if on := c.runningOn("web"); len(on) > 0 {
		t.Errorf("web started on %v while the fence of %s is not confirmed", on, home)
	}
	close(f.release)
	next := c.waitSingle("web", home)
	f.mu.Lock()
	fenced, ok := f.done[home]
	f.mu.Unlock()
	if !ok {
		t.Fatalf("web moved to %s but %s was never fenced", next, home)
	}
	for _, iv := range c.intervals() {
		if iv.res == "web" && iv.node == next && iv.open() && iv.start < fenced.UnixNano() {
			t.Errorf("web started on %s before the fence of %s was confirmed", next, home)
		}
	}
}

// TestFencing_LostNodeRecoveredOnlyAfterTheFence: with stonith on, the
// resources of a cut-off node are not recovered when its lease lapses, only
// once its fence is confirmed (DESIGN §9.4).
func TestFencing_LostNodeRecoveredOnlyAfterTheFence(t *testing.T) {
	yaml := stonithThree() + `
resources:
  - id: web
    type: exec
    params: {command: [/bin/sh, LOGDIR/web.sh], startup_grace: 100ms}
    monitor: {interval: 200ms, timeout: 5s}
`
	c := newCluster(t, yaml)
	f := &testFencer{c: c, release: make(chan struct{}), called: map[string]time.Time{}, done: map[string]time.Time{}}
	c.fencer = f
	c.script("web", 0)
	c.startAll()
	home := c.waitSingle("web", "")
	if c.leader() == home {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		err := c.node(home).cn.TransferLeadership(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c.eventually("another coordinator", func() bool { return c.leader() != home })
	}
	c.partition(home)
	c.eventually("the coordinator fences "+home, func() bool { _, ok := f.calledAt(home); return ok })
	// Its lease lapses and it stops web; nothing starts it elsewhere while
	// the fence is not confirmed, however long that takes.
	until := time.Now().Add(3 * c.lease)
	for time.Now().Before(until) {
		if on := c.runningOn("web"); len(on) > 0 && on[0] != home {
			c.dump()
			t.Fatalf("web started on %v before %s was fenced", on, home)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(f.release)
	next := c.waitSingle("web", home)
	var started int64
	for _, iv := range c.intervals() {
		if iv.res == "web" && iv.node == next && iv.open() {
			started = iv.start
		}
	}
	f.mu.Lock()
	fenced := f.done[home]
	f.mu.Unlock()
	if started < fenced.UnixNano() {
		t.Errorf("web started on %s at %d, before the fence of %s was confirmed at %d", next, started, home, fenced.UnixNano())
	}
	c.checkNeverTwice("web")
}
