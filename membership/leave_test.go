package membership

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

func TestLeaveNotice_RoundTripAndGarbage(t *testing.T) {
	name, inst, ok := decodeLeaveNotice(encodeLeaveNotice("sv2", "0123abcd"))
	if !ok || name != "sv2" || inst != "0123abcd" {
		t.Fatalf("round trip: %q %q %v", name, inst, ok)
	}
	for _, b := range [][]byte{nil, []byte("haven-leaving\x00"), []byte("haven-leaving\x00sv2"), []byte("haven-leaving\x00sv2\x00"),
		[]byte("haven-leaving\x00\x00i"), []byte("other\x00sv2\x00i")} {
		if _, _, ok := decodeLeaveNotice(b); ok {
			t.Errorf("%q decoded as a leave notice", b)
		}
	}
}

// A leave notice makes the peer's next departure "left" only for the
// instance it names; a join clears it.
func TestLeaveNotice_OnlyForTheInstanceItNames(t *testing.T) {
	c := testCluster(t, 41, []int{1, 1, 1})
	m, err := New(Config{Cluster: c, NodeName: "sv1", Keys: newKeys(t), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := Meta{Cluster: "test", Votes: 1, Instance: "aaaa"}.Encode()
	m.observe(0, &memberlist.Node{Name: "sv2", Meta: meta}, true, false) // joins
	m.noticeLeave([]byte("garbage"))
	m.noticeLeave(encodeLeaveNotice("stranger", "aaaa"))
	m.noticeLeave(encodeLeaveNotice("sv2", "bbbb")) // an earlier instance's notice
	leave := func() string {
		m.observe(0, &memberlist.Node{Name: "sv2", Meta: meta}, false, false)
		return member(m.Status(), "sv2").State
	}
	if got := leave(); got != StateDead {
		t.Fatalf("no notice for this instance: %s; want dead", got)
	}
	m.observe(0, &memberlist.Node{Name: "sv2", Meta: meta}, true, false) // back
	m.noticeLeave(encodeLeaveNotice("sv2", "aaaa"))
	if got := leave(); got != StateLeft {
		t.Fatalf("after its notice: %s; want left", got)
	}
	m.observe(0, &memberlist.Node{Name: "sv2", Meta: meta}, true, false) // rejoins: the notice is spent
	if got := leave(); got != StateDead {
		t.Fatalf("a death after a rejoin: %s; want dead", got)
	}
}

// Gossip over IPv6 (the transport's raw UDP path with IPv6 addresses): two
// nodes on ::1 find each other, and a graceful leave shows as left.
func TestMembership_IPv6LoopbackJoinAndLeave(t *testing.T) {
	if l, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		testenv.Skip(t, testenv.Machine, "no IPv6 loopback: %v", err)
	} else {
		l.Close()
	}
	c := &model.Cluster{Cluster: model.Settings{Name: "test", Profile: model.ProfileFast}}
	for _, n := range []string{"sv1", "sv2"} {
		c.Nodes = append(c.Nodes, model.Node{Name: n, Addresses: []string{"::1"}, Votes: intp(1), GossipPort: freePort(t, "::1")})
	}
	keys := newKeys(t)
	a, b := start(t, c, "sv1", keys), start(t, c, "sv2", keys)
	waitFor(t, "both see two votes over IPv6", 20*time.Second, func() bool {
		return a.m.Quorum().TotalVotes == 2 && b.m.Quorum().TotalVotes == 2
	})
	b.stop(t)
	waitFor(t, "sv2 left", 20*time.Second, func() bool { return member(a.m.Status(), "sv2").State == StateLeft })
}

// The join loop sets no timer while every peer is up: missing lists no
// address, and its channel is closed when a peer's link goes down, with
// that peer then listed.
func TestJoinLoop_WaitsForALinkDownWhileEveryPeerIsUp(t *testing.T) {
	c := testCluster(t, 42, []int{1, 1, 1})
	m, err := New(Config{Cluster: c, NodeName: "sv1", Keys: newKeys(t), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := Meta{Cluster: "test", Votes: 1, Instance: "aaaa"}.Encode()
	if addrs, _ := m.missing(0); len(addrs) != 2 {
		t.Fatalf("before any join: missing %v; want both peers", addrs)
	}
	for _, n := range []string{"sv2", "cl1"} {
		m.observe(0, &memberlist.Node{Name: n, Meta: meta}, true, false)
	}
	addrs, down := m.missing(0)
	if len(addrs) != 0 {
		t.Fatalf("every peer up: missing %v; want none", addrs)
	}
	select {
	case <-down:
		t.Fatal("the link-down channel is closed while every peer is up")
	default:
	}
	m.observe(0, &memberlist.Node{Name: "cl1", Meta: meta}, false, false)
	select {
	case <-down:
	case <-time.After(5 * time.Second):
		t.Fatal("a peer's link went down and the join loop's channel is still open")
	}
	if addrs, _ := m.missing(0); len(addrs) != 1 {
		t.Fatalf("cl1 down: missing %v; want cl1's address", addrs)
	}
}
