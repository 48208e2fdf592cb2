package consensus

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// feeder plays the lease wire: every interval it has each follower take
// contact from the current leader (Contact) and records the follower's ack,
// which ContactFresh reads on the leader.
type feeder struct {
	c      *tcluster
	mu     sync.Mutex
	acks   map[string]ack
	window time.Duration
	stop   chan struct{}
	done   chan struct{}
}

type ack struct {
	term uint64
	at   time.Time
}

func (f *feeder) fresh(peer string, term uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.acks[peer]
	return ok && a.term == term && time.Since(a.at) < f.window
}

// run feeds contact every interval until stop; names are read from the
// cluster under the test goroutine's control (nodes only start and stop
// between feeder runs in these tests).
func (f *feeder) run(interval time.Duration, nodes func() map[string]*Node) {
	defer close(f.done)
	for {
		select {
		case <-f.stop:
			return
		case <-time.After(interval):
		}
		ns := nodes()
		leader := ""
		for name, n := range ns {
			if n.IsLeader() {
				leader = name
			}
		}
		if leader == "" {
			continue
		}
		term := ns[leader].CurrentTerm()
		for name, n := range ns {
			if name == leader {
				continue
			}
			if err := n.Contact(leader, term); err == nil {
				f.mu.Lock()
				f.acks[name] = ack{term: term, at: time.Now()}
				f.mu.Unlock()
			}
		}
	}
}

// With contact fed every 100 ms, the leader answers most heartbeats
// locally, nobody starts an election, and the log still commits; when the
// leader dies, the others elect a new one.
func TestContact_StandsInForHeartbeats(t *testing.T) {
	f := &feeder{acks: map[string]ack{}, window: 150 * time.Millisecond, stop: make(chan struct{}), done: make(chan struct{})}
	c := newCluster(t, nil, "n1", "n2", "n3")
	f.c = c
	c.tune = func(cfg *Config) { cfg.ContactFresh = f.fresh }
	c.startAll()
	leader := c.leader()
	c.mustApply(leader, attr(t, "n1", "k", "v0"))

	var nmu sync.Mutex
	nodes := map[string]*Node{}
	for name, tn := range c.nodes {
		nodes[name] = tn.node
	}
	snapshot := func() map[string]*Node {
		nmu.Lock()
		defer nmu.Unlock()
		out := map[string]*Node{}
		for k, v := range nodes {
			out[k] = v
		}
		return out
	}
	go f.run(100*time.Millisecond, snapshot)
	defer func() {
		select {
		case <-f.stop:
		default:
			close(f.stop)
		}
		<-f.done
	}()

	term := c.nodes[leader].node.CurrentTerm()
	real0, local0 := c.nodes[leader].node.HeartbeatCounts()
	// Three seconds of fed contact: ten heartbeat timeouts.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for name, tn := range c.nodes {
			if got := tn.node.CurrentTerm(); got != term {
				t.Fatalf("%s moved to term %d (from %d): an election while contact was fed", name, got, term)
			}
		}
	}
	real1, local1 := c.nodes[leader].node.HeartbeatCounts()
	real, local := real1-real0, local1-local0
	t.Logf("in 3 s the leader sent %d heartbeats and answered %d locally (a figure, not a check)", real, local)
	if local == 0 || local < real {
		t.Errorf("leader answered %d heartbeats locally and sent %d; expected most answered locally", local, real)
	}
	res := c.mustApply(leader, attr(t, "n2", "k", "v1"))
	c.converged(res.Index)

	// The leader dies: its followers get no contact any more and elect.
	nmu.Lock()
	delete(nodes, leader)
	nmu.Unlock()
	c.stop(leader)
	var rest []string
	for name := range c.nodes {
		rest = append(rest, name)
	}
	next := c.leader(rest...)
	if next == leader {
		t.Fatalf("the dead leader %s is leader again", leader)
	}
	res = c.mustApply(next, attr(t, "n3", "k", "v2"))
	c.converged(res.Index, rest...)
}

// Contact refuses this node's own name, an unknown node and an older term.
func TestContact_Refusals(t *testing.T) {
	c := newCluster(t, nil, "n1", "n2", "n3")
	c.startAll()
	leader := c.leader()
	// Settled: every node follows that leader in its term (a follower that
	// had not heard from it yet could still start an election of its own
	// on a loaded machine, which is not what this test is about).
	c.eventually("every node following "+leader, func() bool {
		term := c.nodes[leader].node.CurrentTerm()
		for _, tn := range c.nodes {
			if tn.node.Leader() != leader || tn.node.CurrentTerm() != term {
				return false
			}
		}
		return true
	})
	var follower string
	for name := range c.nodes {
		if name != leader {
			follower = name
		}
	}
	n := c.nodes[follower].node
	term := n.CurrentTerm()
	for _, tc := range []struct {
		from string
		term uint64
	}{{follower, term}, {"nobody", term}, {leader, term - 1}} {
		if err := n.Contact(tc.from, tc.term); !errors.Is(err, ErrNoContact) {
			t.Errorf("Contact(%s, %d): err %v; expected ErrNoContact", tc.from, tc.term, err)
		}
	}
	if err := n.Contact(leader, term); err != nil {
		t.Errorf("Contact from the leader of the current term: %v", err)
	}
	if got := c.nodes[leader].node.CurrentTerm(); got != term || !c.nodes[leader].node.IsLeader() {
		t.Errorf("after the contacts: leader %s term %d (leader %v); expected unchanged term %d", leader, got, c.nodes[leader].node.IsLeader(), term)
	}
}
