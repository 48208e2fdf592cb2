// Package netns is haven's network-namespace test bed: one namespace per
// cluster node, an optional client namespace, and a "switch" namespace that
// holds a Linux bridge, joined by veth pairs. Addresses exist only inside
// these namespaces, none of which has a route out (New asserts there is no
// default route anywhere), so tests can add VIPs, send ARP and neighbour
// advertisements, kill processes and cut links without touching the host.
//
// Usage from a test (needs root, iproute2 and nftables):
//
//	bed := netns.New(t, netns.Options{Nodes: []string{"n1", "n2", "n3"}, Client: true, IPv6: true})
//	out := bed.MustExec("client", "ping", "-c1", "-W1", bed.Addr4("n1").String())
//	p := bed.Start("n1", "/path/to/haven", "agent", "-c", cfg)
//	bed.Cut("n1", netns.Both)      // nftables drops inside n1 (netdev hooks on eth0)
//	bed.Heal("n1")                 // undo every fault on n1
//	err := bed.Do("n2", func() error { return agent.Start(ctx) }) // in-process, in n2
//
// Every name carries a per-run id ("hvnb" + pid + random), so parallel runs
// never collide; t.Cleanup kills the processes the bed started (by PID) and
// deletes its namespaces even when the test fails, and New first sweeps
// namespaces left by crashed runs of this package (prefix "hvnb", creating
// process gone). Inside every node and client namespace the interface is
// called eth0; the bridge is br0 in the switch namespace and each node's port
// there is "p-<node>".
package netns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/havenha/haven/internal/testenv"
)

// Prefix starts every namespace name this package creates; the stale sweep
// deletes only names that start with it.
const Prefix = "hvnb"

// Logical names of the two extra namespaces.
const (
	ClientName = "client"
	SwitchName = "switch"
	// Dev is the interface name inside every node and client namespace.
	Dev = "eth0"
	// Bridge is the bridge's name inside the switch namespace.
	Bridge = "br0"
)

// Options describe the bed to build.
type Options struct {
	// Nodes are the node namespaces' logical names (default n1, n2, n3);
	// at most 13 characters each (the switch port is "p-<name>").
	Nodes []string
	// Client adds a "client" namespace on the same bridge.
	Client bool
	// IPv6 also gives every namespace an address in Subnet6 (added nodad).
	IPv6 bool
	// Subnet4 is the private IPv4 subnet (default 10.77.0.0/24). Node i
	// (0-based) gets host .11+i, the client gets .100. It exists only
	// inside the bed's namespaces, so parallel beds may reuse it.
	Subnet4 string
	// Subnet6 is the IPv6 subnet (default fd77:77::/64), hosts as for Subnet4.
	Subnet6 string
	// Timeout bounds every command the bed runs (default 30s).
	Timeout time.Duration
}

// Bed is a running test bed. Its methods are safe for concurrent use.
type Bed struct {
	t       testing.TB
	id      string
	opts    Options
	nodes   []string
	ns      map[string]string // logical -> real namespace name
	addr4   map[string]netip.Prefix
	addr6   map[string]netip.Prefix
	timeout time.Duration

	mu      sync.Mutex
	procs   []*Proc
	handles map[string]*netlink.Handle // real namespace name -> handle
}

// New builds the bed described by o, or fails the test. It skips the test
// when not run as root or when ip(8) is missing.
func New(t testing.TB, o Options) *Bed {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the netns test bed needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.MissingPackage(t, "iproute2", "the netns test bed needs ip(8)")
	}
	if len(o.Nodes) == 0 {
		o.Nodes = []string{"n1", "n2", "n3"}
	}
	if o.Subnet4 == "" {
		o.Subnet4 = "10.77.0.0/24"
	}
	if o.Subnet6 == "" {
		o.Subnet6 = "fd77:77::/64"
	}
	b := &Bed{t: t, opts: o, ns: map[string]string{}, addr4: map[string]netip.Prefix{},
		addr6: map[string]netip.Prefix{}, timeout: o.Timeout}
	if b.timeout <= 0 {
		b.timeout = 30 * time.Second
	}
	s4, err := netip.ParsePrefix(o.Subnet4)
	if err != nil || !s4.Addr().Is4() || s4.Bits() > 24 {
		t.Fatalf("netns: Subnet4 %q: want an IPv4 prefix of /24 or shorter", o.Subnet4)
	}
	s6, err := netip.ParsePrefix(o.Subnet6)
	if err != nil || !s6.Addr().Is6() || s6.Bits() > 120 {
		t.Fatalf("netns: Subnet6 %q: want an IPv6 prefix of /120 or shorter", o.Subnet6)
	}
	seen := map[string]bool{ClientName: true, SwitchName: true}
	for _, n := range o.Nodes {
		if n == "" || len(n) > 13 || strings.ContainsAny(n, " /:\t") || seen[n] {
			t.Fatalf("netns: node name %q: want a unique name of 1-13 characters without spaces, '/' or ':' (not %q or %q)",
				n, ClientName, SwitchName)
		}
		seen[n] = true
	}
	b.nodes = append([]string(nil), o.Nodes...)

	sweepStale(t)
	b.id = fmt.Sprintf("%s%dx%04x", Prefix, os.Getpid(), rand.IntN(0x10000))
	t.Cleanup(b.teardown)

	b.ns[SwitchName] = b.id + "-sw"
	members := append([]string(nil), b.nodes...)
	if o.Client {
		members = append(members, ClientName)
	}
	for i, m := range members {
		b.ns[m] = b.id + "-" + m
		host := 11 + i
		if m == ClientName {
			host = 100
		}
		b.addr4[m] = netip.PrefixFrom(nthAddr(s4.Masked().Addr(), host), s4.Bits())
		b.addr6[m] = netip.PrefixFrom(nthAddr(s6.Masked().Addr(), host), s6.Bits())
	}

	// The switch: a bridge without STP or multicast snooping, IPv6 off so it
	// adds no noise of its own to captures.
	sw := b.ns[SwitchName]
	b.mustIP("netns", "add", sw)
	b.mustNS(SwitchName, "sh", "-c",
		"echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6")
	b.mustIP("-n", sw, "link", "set", "lo", "up")
	// A switch forwards frames; it does not run the host's firewall on
	// them. Where br_netfilter is loaded (Docker loads it), a new
	// namespace calls iptables for every bridged frame, which costs the
	// sending agent about a fifth of each datagram's delivery on this bed
	// (perf, docs/bench/idle.md). The bed's faults use nftables inside the
	// node namespaces, which this does not touch.
	b.mustNS(SwitchName, "sh", "-c",
		"for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e \"$f\" ] && echo 0 > \"$f\"; done; true")
	b.mustIP("-n", sw, "link", "add", Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")
	b.mustIP("-n", sw, "link", "set", Bridge, "up")
	for _, m := range members {
		ns := b.ns[m]
		b.mustIP("netns", "add", ns)
		b.mustIP("-n", ns, "link", "set", "lo", "up")
		// Created inside the member namespace, peer created straight in
		// the switch: nothing ever appears in the root namespace.
		b.mustIP("-n", ns, "link", "add", Dev, "type", "veth", "peer", "name", portName(m), "netns", sw)
		b.mustIP("-n", sw, "link", "set", portName(m), "master", Bridge, "up")
		b.mustIP("-n", ns, "addr", "add", b.addr4[m].String(), "dev", Dev)
		if o.IPv6 {
			b.mustIP("-n", ns, "addr", "add", b.addr6[m].String(), "dev", Dev, "nodad")
		}
		b.mustIP("-n", ns, "link", "set", Dev, "up")
	}
	if err := b.CheckNoDefaultRoute(); err != nil {
		t.Fatalf("netns: %v", err)
	}
	if o.IPv6 {
		if err := b.waitV6Ready(members); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	return b
}

// waitV6Ready waits until each member's IPv6 address is routed locally: the
// kernel completes even nodad addresses in a work item that may run late
// on a loaded host, and until then the address does not answer.
func (b *Bed) waitV6Ready(members []string) error {
	for _, m := range members {
		ns, ip := b.ns[m], b.addr6[m].Addr().String()
		err := Poll(10*time.Second, 5*time.Millisecond, func() error {
			out, err := b.ip("-n", ns, "-6", "route", "show", "table", "local", ip)
			if err != nil {
				return err
			}
			if !strings.Contains(out, "local "+ip) {
				return fmt.Errorf("%s: %s is not routed locally yet", m, ip)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func portName(node string) string { return "p-" + node }

// nthAddr returns base + n.
func nthAddr(base netip.Addr, n int) netip.Addr {
	a := base.AsSlice()
	carry := n
	for i := len(a) - 1; i >= 0 && carry > 0; i-- {
		v := int(a[i]) + carry
		a[i] = byte(v)
		carry = v >> 8
	}
	r, _ := netip.AddrFromSlice(a)
	return r
}

// ID is this run's unique id (the common prefix of its namespace names).
func (b *Bed) ID() string { return b.id }

// Nodes returns the node names in order.
func (b *Bed) Nodes() []string { return append([]string(nil), b.nodes...) }

// NS returns the real namespace name (as `ip netns` knows it) of a logical
// name: a node, "client" or "switch". A name that is already real passes
// through unchanged. It fails the test for an unknown name.
func (b *Bed) NS(name string) string {
	b.t.Helper()
	if real, ok := b.ns[name]; ok {
		return real
	}
	for _, real := range b.ns {
		if real == name {
			return real
		}
	}
	b.t.Fatalf("netns: unknown namespace %q (have nodes %v, %q, %q)", name, b.nodes, ClientName, SwitchName)
	return ""
}

// Addr4 is the bed's IPv4 address (with prefix) of a node or the client.
func (b *Bed) Addr4(name string) netip.Prefix { return b.addr4[name] }

// Addr6 is the bed's IPv6 address (with prefix) of a node or the client;
// it is configured only with Options.IPv6.
func (b *Bed) Addr6(name string) netip.Prefix { return b.addr6[name] }

// HostAddr4 returns host number n of Subnet4 (for VIPs: pick n outside
// 11..(11+len(nodes)) and 100).
func (b *Bed) HostAddr4(n int) netip.Prefix {
	p := netip.MustParsePrefix(b.opts.Subnet4)
	return netip.PrefixFrom(nthAddr(p.Masked().Addr(), n), p.Bits())
}

// HostAddr6 returns host number n of Subnet6.
func (b *Bed) HostAddr6(n int) netip.Prefix {
	p := netip.MustParsePrefix(b.opts.Subnet6)
	return netip.PrefixFrom(nthAddr(p.Masked().Addr(), n), p.Bits())
}

// ip runs ip(8) with a timeout.
func (b *Bed) ip(args ...string) (string, error) {
	return b.run("ip", args...)
}

func (b *Bed) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A background grandchild holding the output pipe (IPaddr2's send_arp)
	// delays Wait at most this long after the command itself exits.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
		}
		return out.String(), nil
	case <-time.After(b.timeout):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s %s: timed out after %v", name, strings.Join(args, " "), b.timeout)
	}
}

func (b *Bed) mustIP(args ...string) string {
	b.t.Helper()
	out, err := b.ip(args...)
	if err != nil {
		b.t.Fatalf("netns: %v", err)
	}
	return out
}

func (b *Bed) mustNS(name string, argv ...string) string {
	b.t.Helper()
	out, err := b.Exec(name, argv...)
	if err != nil {
		b.t.Fatalf("netns: %v", err)
	}
	return out
}

// CheckNoDefaultRoute returns an error when any namespace of the bed has a
// default route (IPv4 or IPv6): the bed must have no way out.
func (b *Bed) CheckNoDefaultRoute() error {
	for logical, real := range b.ns {
		for _, fam := range []string{"-4", "-6"} {
			out, err := b.ip("-n", real, fam, "route", "show", "default")
			if err != nil {
				return fmt.Errorf("routes of %s: %w", logical, err)
			}
			if s := strings.TrimSpace(out); s != "" {
				return fmt.Errorf("namespace %s (%s) has a default route: %s", logical, real, s)
			}
		}
	}
	return nil
}

// teardown kills the bed's processes and deletes its namespaces.
func (b *Bed) teardown() {
	b.mu.Lock()
	procs := append([]*Proc(nil), b.procs...)
	for _, h := range b.handles {
		h.Close()
	}
	b.handles = nil
	b.mu.Unlock()
	for _, p := range procs {
		p.Kill()
		p.waitBounded(5 * time.Second)
	}
	for _, real := range b.ns {
		if _, err := os.Stat("/run/netns/" + real); err != nil {
			continue
		}
		if _, err := b.ip("netns", "del", real); err != nil {
			b.t.Logf("netns: teardown: %v", err)
		}
	}
}

// sweepStale deletes namespaces named by this package for a process that no
// longer exists (a test binary that crashed or was killed before cleanup).
func sweepStale(t testing.TB) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := stalePID(e.Name())
		if !ok {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue // its creator still runs
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			t.Logf("netns: sweep %s: %v: %s", e.Name(), err, out)
		} else {
			t.Logf("netns: swept stale namespace %s", e.Name())
		}
	}
}

// stalePID parses "hvnb<pid>x<hex>-<name>".
func stalePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	digits, tail, ok := strings.Cut(rest, "x")
	if !ok || !strings.Contains(tail, "-") {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// Addrs returns every address (with prefix) on every interface of a
// namespace except loopback, as `ip -j addr` reports them.
func (b *Bed) Addrs(name string) ([]netip.Prefix, error) {
	ifs, err := b.ipAddrJSON(name)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, i := range ifs {
		if i.IfName == "lo" {
			continue
		}
		for _, a := range i.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			if err != nil {
				continue
			}
			out = append(out, netip.PrefixFrom(ip, a.PrefixLen))
		}
	}
	return out, nil
}

// AddrInfo is one address as `ip -j addr` shows it.
type AddrInfo struct {
	Family    string `json:"family"`
	Local     string `json:"local"`
	PrefixLen int    `json:"prefixlen"`
	Label     string `json:"label"`
	Secondary bool   `json:"secondary"`
	Tentative bool   `json:"tentative"`
	NoDAD     bool   `json:"nodad"`
	Dadfailed bool   `json:"dadfailed"`
}

// Iface is one interface as `ip -j addr` shows it.
type Iface struct {
	IfName    string     `json:"ifname"`
	Address   string     `json:"address"`
	OperState string     `json:"operstate"`
	Flags     []string   `json:"flags"`
	AddrInfo  []AddrInfo `json:"addr_info"`
}

// Ifaces returns the namespace's interfaces with their addresses.
func (b *Bed) Ifaces(name string) ([]Iface, error) { return b.ipAddrJSON(name) }

func (b *Bed) ipAddrJSON(name string) ([]Iface, error) {
	out, err := b.ip("-n", b.NS(name), "-j", "addr", "show")
	if err != nil {
		return nil, err
	}
	var ifs []Iface
	if err := json.Unmarshal([]byte(out), &ifs); err != nil {
		return nil, fmt.Errorf("ip -j addr in %s: %w", name, err)
	}
	return ifs, nil
}

// HasAddr reports whether ip is configured on any interface of a namespace.
func (b *Bed) HasAddr(name string, ip netip.Addr) (bool, error) {
	ps, err := b.Addrs(name)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.Addr() == ip {
			return true, nil
		}
	}
	return false, nil
}

// MAC returns the hardware address of eth0 in a node or the client.
func (b *Bed) MAC(name string) net.HardwareAddr {
	b.t.Helper()
	ifs, err := b.ipAddrJSON(name)
	if err != nil {
		b.t.Fatalf("netns: %v", err)
	}
	for _, i := range ifs {
		if i.IfName == Dev {
			mac, err := net.ParseMAC(i.Address)
			if err != nil {
				b.t.Fatalf("netns: MAC of %s: %v", name, err)
			}
			return mac
		}
	}
	b.t.Fatalf("netns: %s has no %s", name, Dev)
	return nil
}

// Neigh is one neighbour-table entry.
type Neigh struct {
	Dst    string   `json:"dst"`
	Dev    string   `json:"dev"`
	LLAddr string   `json:"lladdr"`
	State  []string `json:"state"`
}

// NeighMAC returns the link-layer address a namespace's neighbour table holds
// for ip (IPv4 ARP cache or IPv6 neighbour cache), or nil when there is no
// entry or it has no address (INCOMPLETE, FAILED).
func (b *Bed) NeighMAC(name string, ip netip.Addr) (net.HardwareAddr, error) {
	out, err := b.ip("-n", b.NS(name), "-j", "neigh", "show", "to", ip.String())
	if err != nil {
		return nil, err
	}
	var ns []Neigh
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		return nil, fmt.Errorf("ip -j neigh in %s: %w", name, err)
	}
	for _, n := range ns {
		if n.LLAddr == "" {
			continue
		}
		mac, err := net.ParseMAC(n.LLAddr)
		if err != nil {
			return nil, fmt.Errorf("neighbour %s in %s: %w", ip, name, err)
		}
		return mac, nil
	}
	return nil, nil
}

// Poll calls cond every interval until it returns nil or timeout passes; it
// returns nil or cond's last error. cond runs at least once.
func Poll(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}
