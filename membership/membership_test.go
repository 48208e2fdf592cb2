package membership

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

// freePort finds a port free for both TCP and UDP on ip (memberlist binds
// both on the same port).
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func intp(v int) *int { return &v }

// testCluster builds seed 000's shape on 127.0.0.x with free ports.
func testCluster(t *testing.T, base int, votes []int) *model.Cluster {
	c := &model.Cluster{Cluster: model.Settings{Name: "test", Profile: model.ProfileFast}}
	names := []string{"sv1", "sv2", "cl1", "cl2", "n5"}
	total := 0
	for i, v := range votes {
		ip := fmt.Sprintf("127.0.0.%d", base+i)
		c.Nodes = append(c.Nodes, model.Node{Name: names[i], Addresses: []string{ip}, Votes: intp(v), GossipPort: freePort(t, ip)})
		total += v
	}
	return c
}

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type running struct {
	once   sync.Once
	m      *Membership
	cancel context.CancelFunc
	done   chan error
	log    *logBuf
}

func start(t *testing.T, c *model.Cluster, name string, keys Keys) *running {
	t.Helper()
	lb := &logBuf{}
	m, err := New(Config{Cluster: c, NodeName: name, Keys: keys, Version: "test", JoinInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{m: m, cancel: cancel, done: make(chan error, 1), log: lb}
	go func() { r.done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-r.done:
		t.Fatalf("%s: %v", name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not ready", name)
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Errorf("membership did not stop")
		}
	})
}

func newKeys(t *testing.T) Keys {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	k, err := DeriveKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func member(s Status, name string) MemberStatus {
	for _, m := range s.Members {
		if m.Name == name {
			return m
		}
	}
	return MemberStatus{}
}

func TestMembership_Seed000QuorumLeaveAndDeath(t *testing.T) {
	c := testCluster(t, 21, []int{2, 2, 1, 1})
	c.Cluster.ExpectedVotes = intp(8)
	keys := newKeys(t)
	rs := map[string]*running{}
	for _, n := range c.Nodes {
		rs[n.Name] = start(t, c, n.Name, keys)
	}
	waitFor(t, "all four see 6 votes", 20*time.Second, func() bool {
		for _, r := range rs {
			if q := r.m.Quorum(); !q.Quorate || q.TotalVotes != 6 || q.Quorum != 5 {
				return false
			}
		}
		return true
	})
	// cl1 is stopped without a leave: the others must call it dead.
	rs["cl1"].m.Close()
	waitFor(t, "cl1 dead, 5 votes", 20*time.Second, func() bool {
		for _, n := range []string{"sv1", "sv2", "cl2"} {
			s := rs[n].m.Status()
			if !s.Quorum.Quorate || s.Quorum.TotalVotes != 5 || member(s, "cl1").State != StateDead {
				return false
			}
		}
		return true
	})
	// sv2 leaves gracefully: "left", and sv1+cl2 (3 votes) are not quorate.
	rs["sv2"].stop(t)
	defer func() {
		if t.Failed() {
			for _, n := range []string{"sv2", "sv1", "cl2"} {
				t.Logf("%s's log:\n%s", n, rs[n].log.String())
			}
		}
	}()
	waitFor(t, "sv2 left, 3 votes, not quorate", 20*time.Second, func() bool {
		for _, n := range []string{"sv1", "cl2"} {
			s := rs[n].m.Status()
			if s.Quorum.Quorate || s.Quorum.TotalVotes != 3 || member(s, "sv2").State != StateLeft {
				t.Logf("%s: quorate=%v total=%d sv2=%s", n, s.Quorum.Quorate, s.Quorum.TotalVotes, member(s, "sv2").State)
				return false
			}
		}
		return true
	})
}

func TestMembership_WrongKeyRefused(t *testing.T) {
	c := testCluster(t, 31, []int{1, 1, 1})
	good := newKeys(t)
	a := start(t, c, "sv1", good)
	b := start(t, c, "sv2", good)
	bad := start(t, c, "cl1", newKeys(t))
	waitFor(t, "sv1 and sv2 together", 20*time.Second, func() bool { return a.m.Quorum().TotalVotes == 2 && b.m.Quorum().TotalVotes == 2 })
	badAddr := c.Nodes[2].Addresses[0]
	waitFor(t, "the refusal logged with cl1's address", 20*time.Second, func() bool {
		return strings.Contains(a.log.String(), "gossip refused") && strings.Contains(a.log.String(), badAddr)
	})
	for _, r := range []*running{a, b} {
		if member(r.m.Status(), "cl1").Online || r.m.Online("cl1") {
			t.Fatalf("the wrong-key node is listed online")
		}
		if !r.m.Online("sv1") || !r.m.Online("sv2") || r.m.Online("stranger") {
			t.Fatalf("Online: sv1 %v, sv2 %v, an unconfigured name %v; expected true, true, false",
				r.m.Online("sv1"), r.m.Online("sv2"), r.m.Online("stranger"))
		}
	}
	if q := bad.m.Quorum(); q.TotalVotes != 1 {
		t.Fatalf("the wrong-key node sees %d votes; expected only its own", q.TotalVotes)
	}
}

func TestKeys_Derivation(t *testing.T) {
	if _, err := DeriveKeys([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	k1, _ := DeriveKeys([]byte("0123456789abcdef"))
	k2, _ := DeriveKeys([]byte("0123456789abcdef"))
	k3, _ := DeriveKeys([]byte("0123456789abcdeF"))
	if string(k1.Gossip) != string(k2.Gossip) || k1.APIToken() != k2.APIToken() {
		t.Fatal("derivation is not deterministic")
	}
	if string(k1.Gossip) == string(k3.Gossip) || string(k1.Gossip) == string(k1.Raft) || string(k1.Raft) == string(k1.API) {
		t.Fatal("layer keys collide")
	}
	if len(k1.Gossip) != 32 || len(k1.APIToken()) != 64 {
		t.Fatal("wrong key sizes")
	}
}

// TestMembership_LinkLossChangesNothingElse: three nodes with two links;
// node sv2's link-1 memberlist is shut down (the link fails while the
// process lives): peers emit link-down, keep sv2 online on link 0, and the
// quorum does not move.
func TestMembership_LinkLossChangesNothingElse(t *testing.T) {
	c := testCluster(t, 41, []int{1, 1, 1})
	for i := range c.Nodes {
		ip := fmt.Sprintf("127.0.1.%d", 41+i)
		c.Nodes[i].Addresses = append(c.Nodes[i].Addresses, ip)
		// the same gossip port must be free on the second address too
		for !portFreeOn(ip, c.Nodes[i].GossipPort) {
			c.Nodes[i].GossipPort = freePort(t, c.Nodes[i].Addresses[0])
		}
	}
	keys := newKeys(t)
	rs := map[string]*running{}
	for _, n := range c.Nodes {
		rs[n.Name] = start(t, c, n.Name, keys)
	}
	waitFor(t, "both links up everywhere", 20*time.Second, func() bool {
		for _, r := range rs {
			for _, m := range r.m.Status().Members {
				if !m.Online || !m.Links[0].Up || !m.Links[1].Up {
					return false
				}
			}
		}
		return true
	})
	before := rs["sv1"].m.Quorum()
	rs["sv2"].m.links[1].ml.Shutdown()
	waitFor(t, "sv2's link 1 down, sv2 online", 20*time.Second, func() bool {
		for _, n := range []string{"sv1", "cl1"} {
			m := member(rs[n].m.Status(), "sv2")
			if !m.Online || m.State != StateOnline || !m.Links[0].Up || m.Links[1].Up {
				return false
			}
		}
		return true
	})
	if after := rs["sv1"].m.Quorum(); after.TotalVotes != before.TotalVotes || after.Quorate != before.Quorate {
		t.Fatalf("quorum moved with a link: before %+v after %+v", before, after)
	}
	sawLinkDown := false
	for len(rs["sv1"].m.EventCh()) > 0 {
		e := <-rs["sv1"].m.EventCh()
		if e.Kind == EventDead || e.Kind == EventLeave {
			t.Fatalf("unexpected %s event for %s", e.Kind, e.Node)
		}
		sawLinkDown = sawLinkDown || (e.Kind == EventLinkDown && e.Node == "sv2" && e.Link == 1)
	}
	if !sawLinkDown {
		t.Fatal("no link-down event for sv2 link 1")
	}
}

func portFreeOn(ip string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
	if err != nil {
		return false
	}
	l.Close()
	u, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
	if err != nil {
		return false
	}
	u.Close()
	return true
}
