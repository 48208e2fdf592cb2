package membership

import (
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/test/harness"
)

func hostOf(addr string) string { return addr[:strings.LastIndex(addr, ".")] }

// TestKey_WrongKeyRefused: a configured node started with another key file
// never joins: the others never list it online, it never sees them, and
// their logs name its address.
func TestKey_WrongKeyRefused(t *testing.T) {
	c := harness.New(t, harness.Spec{Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}, {Name: "intruder"}}})
	c.WriteKey(c.Dir + "/otherkey")
	c.WriteConfig(c.Dir+"/other.yaml", "otherkey", nil)
	c.Node("a").Start()
	c.Node("b").Start()
	c.Node("intruder").StartWith(c.Dir + "/other.yaml")
	for _, n := range []string{"a", "b"} {
		c.Node(n).WaitQuorum("a and b together", converge, func(q api.QuorumView) bool { return q.TotalVotes == 2 })
	}
	ip := c.Node("intruder").Addresses[0]
	deadline := time.Now().Add(converge)
	for !strings.Contains(c.Node("a").Log(), "gossip refused") || !strings.Contains(c.Node("a").Log(), ip) {
		if time.Now().After(deadline) {
			t.Fatalf("a's log never names the wrong-key peer %s:\n%s", ip, c.Node("a").Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The intruder's own API must be up before it is asked (under load it may
	// not be yet): it sees itself alone.
	c.Node("intruder").WaitQuorum("the wrong-key node up, alone", converge, func(q api.QuorumView) bool { return q.TotalVotes == 1 })
	// Keep watching for a while: it must never get in.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, n := range []string{"a", "b"} {
			q, err := c.Node(n).Quorum()
			if err != nil {
				t.Fatal(err)
			}
			if m, _ := harness.MemberOf(q, "intruder"); m.Online || q.TotalVotes != 2 {
				t.Fatalf("%s lists the wrong-key node: %s", n, harness.Describe(q))
			}
		}
		q, err := c.Node("intruder").Quorum()
		if err != nil {
			t.Fatal(err)
		}
		if q.TotalVotes != 1 {
			t.Fatalf("the wrong-key node sees others: %s", harness.Describe(q))
		}
	}
	t.Logf("a logged: %s", firstLine(c.Node("a").Log(), "gossip refused"))
}

// TestKey_KeylessProcessRefused: a plain memberlist without any key (not a
// haven agent) tries to join; it learns nothing and the cluster logs it.
func TestKey_KeylessProcessRefused(t *testing.T) {
	c := harness.New(t, harness.Spec{Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}}})
	c.StartAll()
	c.Node("a").WaitQuorum("a and b together", converge, func(q api.QuorumView) bool { return q.TotalVotes == 2 })
	ip := hostOf(c.Node("a").Addresses[0]) + ".99"
	mc := memberlist.DefaultLANConfig()
	mc.Name = "a" // even claiming a configured name
	mc.Logger = log.New(io.Discard, "", 0)
	mc.TCPTimeout = 2 * time.Second
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{ip}, BindPort: 0, Logger: mc.Logger})
	if err != nil {
		t.Fatal(err)
	}
	mc.Transport = &boundTransport{NetTransport: nt, local: net.ParseIP(ip)}
	mc.BindAddr, mc.AdvertiseAddr = ip, ip
	mc.BindPort, mc.AdvertisePort = nt.GetAutoBindPort(), nt.GetAutoBindPort()
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	a := c.Node("a")
	if n, err := ml.Join([]string{net.JoinHostPort(a.Addresses[0], strconv.Itoa(a.Gossip))}); err == nil && n > 0 {
		t.Errorf("keyless join reported %d contacts", n)
	}
	if got := ml.NumMembers(); got != 1 {
		t.Errorf("keyless process sees %d members; expected only itself", got)
	}
	deadline := time.Now().Add(converge)
	for !strings.Contains(a.Log(), "gossip refused") || !strings.Contains(a.Log(), ip) {
		if time.Now().After(deadline) {
			t.Fatalf("a's log never names the keyless peer %s:\n%s", ip, a.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	q, _ := a.Quorum()
	if q.TotalVotes != 2 {
		t.Errorf("keyless process changed the view: %s", harness.Describe(q))
	}
	t.Logf("a logged: %s", firstLine(a.Log(), "gossip refused"))
}

// TestAdmission_UnknownNodeRefused: a process holding the key but absent
// from the cluster's configuration is refused and logged by name and address.
func TestAdmission_UnknownNodeRefused(t *testing.T) {
	c := harness.New(t, harness.Spec{Nodes: []harness.NodeSpec{{Name: "a"}, {Name: "b"}, {Name: "stranger"}}})
	// The cluster's own file lists only a and b; the stranger's file lists all three.
	full := c.Dir + "/full.yaml"
	c.WriteConfig(full, "authkey", nil)
	stranger := c.Nodes[2]
	c.Nodes = c.Nodes[:2]
	c.WriteConfig(c.ConfigPath, "authkey", nil)
	c.Nodes = append(c.Nodes, stranger)
	c.Node("a").Start()
	c.Node("b").Start()
	stranger.StartWith(full)
	c.Node("a").WaitQuorum("a and b together", converge, func(q api.QuorumView) bool { return q.TotalVotes == 2 })
	// The member the stranger reaches first refuses it and logs it. The
	// other may never hear of it: the stranger learns of that member from
	// the first one's gossip, stops counting it missing, and memberlist
	// re-syncs state only every 30 s (seen in 2 of 15 runs).
	deadline := time.Now().Add(converge)
	var by string
	for by == "" {
		for _, n := range []string{"a", "b"} {
			if strings.Contains(c.Node(n).Log(), `node \"stranger\" at `+stranger.Addresses[0]) &&
				strings.Contains(c.Node(n).Log(), "not in the configuration") {
				by = n
			}
		}
		if by != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no member's log refuses the stranger:\n--- a:\n%s\n--- b:\n%s", c.Node("a").Log(), c.Node("b").Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range []string{"a", "b"} {
		q, _ := c.Node(n).Quorum()
		if _, listed := harness.MemberOf(q, "stranger"); listed || q.TotalVotes != 2 {
			t.Errorf("%s lists the stranger: %s", n, harness.Describe(q))
		}
	}
	t.Logf("%s logged: %s", by, firstLine(c.Node(by).Log(), "node refused"))
}

// boundTransport dials from the keyless process's own address so the
// cluster's log can name it (the kernel would pick 127.0.0.1).
type boundTransport struct {
	*memberlist.NetTransport
	local net.IP
}

func (b *boundTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: b.local}}
	return d.Dial("tcp", addr)
}

func (b *boundTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return b.DialTimeout(a.Addr, timeout)
}

func firstLine(log, sub string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
