package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"

	"github.com/havenha/haven/internal/testenv"
)

// ourNamespaces lists the namespaces whose names start with id.
func ourNamespaces(t *testing.T, id string) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), id) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestBed_CreateAndTeardownLeavesNothing(t *testing.T) {
	var id string
	var nsNames []string
	rootV6 := "0"
	if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6"); err == nil {
		rootV6 = strings.TrimSpace(string(b))
	}
	t.Run("bed", func(t *testing.T) {
		bed := New(t, Options{Nodes: []string{"a", "b"}, Client: true, IPv6: true})
		id = bed.ID()
		nsNames = ourNamespaces(t, id)
		if len(nsNames) != 4 { // a, b, client, switch
			t.Fatalf("namespaces of this run: %v, want 4", nsNames)
		}
		if err := bed.CheckNoDefaultRoute(); err != nil {
			t.Fatal(err)
		}
		if out := bed.MustExec(SwitchName, "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"); strings.TrimSpace(out) != "1" {
			t.Fatalf("switch namespace disable_ipv6 = %q, want 1", out)
		}
		if root, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6"); err == nil && strings.TrimSpace(string(root)) != rootV6 {
			t.Fatalf("the root namespace's disable_ipv6 changed to %q", root)
		}
		// The bed's address exists only inside its namespace.
		out, err := bed.run("ip", "-o", "addr", "show")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, bed.Addr4("a").Addr().String()+"/") {
			t.Fatalf("root namespace shows the bed's address: %s", out)
		}
	})
	if id == "" {
		testenv.Missing(t, "the bed was not built (see the bed subtest)")
	}
	if left := ourNamespaces(t, id); len(left) != 0 {
		t.Fatalf("after teardown these namespaces remain: %v", left)
	}
	out, _ := (&Bed{timeout: 10 * time.Second}).run("ip", "netns", "list")
	for _, n := range nsNames {
		if strings.Contains(out, n) {
			t.Fatalf("ip netns list still shows %s:\n%s", n, out)
		}
	}
}

func TestBed_StalePIDParse(t *testing.T) {
	for name, want := range map[string]int{
		"hvnb123x0a0b-n1": 123, "hvnb9x1-client": 9, "hvnbx1-n1": 0, "other-n1": 0, "hvnb12x": 0,
	} {
		got, ok := stalePID(name)
		if (want != 0) != ok || got != want {
			t.Errorf("stalePID(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

func TestBed_SweepsStaleNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root")
	}
	// A name for a process that cannot exist (pid above pid_max).
	stale := fmt.Sprintf("%s%dx%04x-n1", Prefix, 1<<30, os.Getpid()&0xffff)
	b := &Bed{t: t, timeout: 10 * time.Second}
	if _, err := b.ip("netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = b.ip("netns", "del", stale) })
	sweepStale(t)
	if _, err := os.Stat("/run/netns/" + stale); err == nil {
		t.Fatalf("stale namespace %s survived the sweep", stale)
	}
}

// ping succeeds when one of a few pings (bounded, 3 s at most) is answered:
// a loaded host may lose the race of a first ping with neighbour resolution.
func ping(bed *Bed, from, to string) error {
	return Poll(3*time.Second, 10*time.Millisecond, func() error {
		_, err := bed.Exec(from, "ping", "-c", "1", "-W", "1", to)
		return err
	})
}

// pingFails checks that a ping gets no answer (a short one, bounded).
func pingFails(bed *Bed, from, to string) error {
	if _, err := bed.Exec(from, "ping", "-c", "1", "-W", "1", to); err == nil {
		return fmt.Errorf("ping %s -> %s answered during the fault", from, to)
	}
	return nil
}

func TestBed_Connectivity(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1", "n2"}, Client: true, IPv6: true})
	for _, n := range []string{"n1", "n2"} {
		if err := ping(bed, ClientName, bed.Addr4(n).Addr().String()); err != nil {
			t.Fatalf("client -> %s v4: %v", n, err)
		}
		if err := ping(bed, ClientName, bed.Addr6(n).Addr().String()); err != nil {
			t.Fatalf("client -> %s v6: %v", n, err)
		}
	}
	if err := ping(bed, "n1", bed.Addr4("n2").Addr().String()); err != nil {
		t.Fatalf("n1 -> n2: %v", err)
	}
	mac, err := bed.NeighMAC(ClientName, bed.Addr4("n1").Addr())
	if err != nil || mac.String() != bed.MAC("n1").String() {
		t.Fatalf("client's neighbour entry for n1 = %v (%v), want %v", mac, err, bed.MAC("n1"))
	}
	// Nothing leaves the bed: an outside address is unreachable.
	if out, err := bed.Exec("n1", "ip", "route", "get", "192.0.2.1"); err == nil {
		t.Fatalf("n1 has a route to 192.0.2.1: %s", out)
	}
}

// faultCase applies a fault to n1 and says whether client->n1 must fail both
// ways (ping needs both directions) and how to undo it.
func TestBed_FaultsCutAndHealRestores(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1", "n2"}, Client: true})
	n1 := bed.Addr4("n1").Addr().String()
	n2 := bed.Addr4("n2").Addr().String()
	cases := []struct {
		name  string
		fault func() error
		heal  func() error
	}{
		{"cut-in", func() error { return bed.Cut("n1", In) }, func() error { return bed.Heal("n1") }},
		{"cut-out", func() error { return bed.Cut("n1", Out) }, func() error { return bed.Heal("n1") }},
		{"cut-both", func() error { return bed.Cut("n1", Both) }, func() error { return bed.Heal("n1") }},
		{"link-down", func() error { return bed.LinkDown("n1") }, func() error { return bed.LinkUp("n1") }},
		{"port-down", func() error { return bed.PortDown("n1") }, func() error { return bed.PortUp("n1") }},
		{"silent-partition", func() error { return bed.SilentPartition("n1") }, func() error { return bed.Heal("n1") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := ping(bed, ClientName, n1); err != nil {
				t.Fatalf("before: %v", err)
			}
			if err := c.fault(); err != nil {
				t.Fatal(err)
			}
			if err := pingFails(bed, ClientName, n1); err != nil {
				t.Error(err)
			}
			if err := pingFails(bed, "n1", n2); err != nil {
				t.Error(err)
			}
			// n2 is unaffected.
			if err := ping(bed, ClientName, n2); err != nil {
				t.Errorf("client -> n2 during the fault on n1: %v", err)
			}
			if err := c.heal(); err != nil {
				t.Fatal(err)
			}
			if err := Poll(5*time.Second, 50*time.Millisecond, func() error { return ping(bed, ClientName, n1) }); err != nil {
				t.Fatalf("after heal: %v", err)
			}
		})
	}
	// Carrier stays up in a silent partition (the node cannot tell).
	if err := bed.SilentPartition("n1"); err != nil {
		t.Fatal(err)
	}
	ifs, err := bed.Ifaces("n1")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.IfName == Dev && i.OperState != "UP" {
			t.Errorf("n1 %s operstate %s during silent partition, want UP", Dev, i.OperState)
		}
	}
	if err := bed.Heal("n1"); err != nil {
		t.Fatal(err)
	}
}

func TestBed_ProcessFaults(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1"}})
	// A process that prints a line every 20 ms: SIGSTOP freezes the output.
	p := bed.Start("n1", "sh", "-c", "while true; do echo x; sleep 0.02; done")
	lines := func() int { return strings.Count(p.Output(), "x") }
	if err := Poll(5*time.Second, 20*time.Millisecond, func() error {
		if lines() < 3 {
			return fmt.Errorf("only %d lines", lines())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// Once stopped, the output stops growing: wait (bounded) for a 200 ms
	// quiet spell, then check it stays quiet for 15 more print periods.
	var frozen int
	if err := Poll(5*time.Second, 200*time.Millisecond, func() error {
		before := lines()
		time.Sleep(200 * time.Millisecond)
		if frozen = lines(); frozen != before {
			return fmt.Errorf("output still growing")
		}
		return nil
	}); err != nil {
		t.Fatalf("after SIGSTOP: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := lines(); got != frozen {
		t.Fatalf("stopped process wrote %d more lines", got-frozen)
	}
	if err := p.Cont(); err != nil {
		t.Fatal(err)
	}
	if err := Poll(5*time.Second, 20*time.Millisecond, func() error {
		if lines() <= frozen {
			return fmt.Errorf("no output after SIGCONT")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if err := p.Wait(5 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("after Kill: %v, want a killed process", err)
	}
	// The process ran inside n1's namespace.
	q := bed.Start("n1", "ip", "-o", "addr", "show", "dev", Dev)
	if err := q.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(q.Output(), bed.Addr4("n1").Addr().String()) {
		t.Fatalf("process output %q lacks n1's address", q.Output())
	}
}

func TestBed_DoRunsInNamespace(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1"}})
	err := bed.Do("n1", func() error {
		out, err := os.ReadFile("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), Dev+":") {
			return fmt.Errorf("thread's /proc/net/dev has no %s:\n%s", Dev, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bed.Do("n1", func() error { return fmt.Errorf("boom") }); err == nil || err.Error() != "boom" {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
}

func TestBed_DialListenHandle(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1"}, Client: true})
	addr := net.JoinHostPort(bed.Addr4("n1").Addr().String(), "8080")
	l, err := bed.Listen("n1", "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("hello"))
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := bed.Dial(ctx, ClientName, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	h, err := bed.Handle("n1")
	if err != nil {
		t.Fatal(err)
	}
	as, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range as {
		if a.IP.String() == bed.Addr4("n1").Addr().String() {
			found = true
		}
	}
	if !found {
		t.Fatalf("handle in n1 lists %v, not n1's address", as)
	}
}

// TestBed_CutDropsRawFrames: Cut also drops frames from packet sockets
// (gratuitous ARP from a cut node must not reach anyone).
func TestBed_CutDropsRawFrames(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1"}, Client: true})
	const etherType = 0x88b5 // IEEE local experimental
	capt := bed.Capture(ClientName, Dev, func(f []byte) bool { return EtherType(f) == etherType })
	var conn *packet.Conn
	var src net.HardwareAddr
	bed.MustDo("n1", func() error {
		ifi, err := net.InterfaceByName(Dev)
		if err != nil {
			return err
		}
		src = ifi.HardwareAddr
		conn, err = packet.Listen(ifi, packet.Raw, etherType, nil)
		return err
	})
	defer conn.Close()
	send := func(tag byte) error {
		frame := make([]byte, 60)
		copy(frame[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(frame[6:12], src)
		frame[12], frame[13], frame[14] = etherType>>8, etherType&0xff, tag
		_, err := conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
		return err
	}
	seen := func(tag byte) bool {
		for _, f := range capt.Frames() {
			if f.Data[14] == tag {
				return true
			}
		}
		return false
	}
	if err := send(1); err != nil {
		t.Fatal(err)
	}
	if err := Poll(2*time.Second, 5*time.Millisecond, func() error {
		if !seen(1) {
			return fmt.Errorf("raw frame not seen by the client")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := bed.Cut("n1", Out); err != nil {
		t.Fatal(err)
	}
	// The egress drop is reported to the sender as ENOBUFS.
	if err := send(2); err != nil {
		t.Logf("send during the cut: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // bounded: the frame must not arrive
	if seen(2) {
		t.Fatal("a raw frame from a node cut outbound reached the client")
	}
	if err := bed.Heal("n1"); err != nil {
		t.Fatal(err)
	}
	if err := send(3); err != nil {
		t.Fatal(err)
	}
	if err := Poll(2*time.Second, 5*time.Millisecond, func() error {
		if !seen(3) {
			return fmt.Errorf("raw frame not seen after heal")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestBed_WatchHolders(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1", "n2"}})
	v := bed.HostAddr4(77)
	w := bed.WatchHolders(v.Addr(), time.Millisecond)
	waitHolders := func(want ...string) {
		t.Helper()
		if err := Poll(5*time.Second, time.Millisecond, func() error {
			cs := w.Changes()
			if len(cs) == 0 || strings.Join(cs[len(cs)-1].Holders, ",") != strings.Join(want, ",") {
				return fmt.Errorf("holder changes %v, want last %v", cs, want)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitHolders()
	bed.MustExec("n1", "ip", "addr", "add", v.String(), "dev", Dev)
	waitHolders("n1")
	bed.MustExec("n1", "ip", "addr", "del", v.String(), "dev", Dev)
	bed.MustExec("n2", "ip", "addr", "add", v.String(), "dev", Dev)
	waitHolders("n2")
	if vs := w.Violations(); len(vs) != 0 {
		t.Fatalf("a clean hand-over was reported as two owners: %v", vs)
	}
	bed.MustExec("n1", "ip", "addr", "add", v.String(), "dev", Dev) // split brain
	waitHolders("n1", "n2")
	w.Stop()
	if vs := w.Violations(); len(vs) == 0 || strings.Join(vs[0].Holders, ",") != "n1,n2" {
		t.Fatalf("violations %v, want n1,n2", vs)
	}
	if err := w.Err(); err != nil || w.Samples() < 10 {
		t.Fatalf("samples %d, err %v", w.Samples(), err)
	}
	hs, err := bed.Holders(v.Addr())
	if err != nil || strings.Join(hs, ",") != "n1,n2" {
		t.Fatalf("Holders = %v, %v", hs, err)
	}
}

func TestBed_ProbeTCP(t *testing.T) {
	bed := New(t, Options{Nodes: []string{"n1", "n2"}, Client: true})
	v := bed.HostAddr4(88)
	// Each node serves its name on the VIP's port (in-process servers).
	for _, n := range []string{"n1", "n2"} {
		l, err := bed.Listen(n, "tcp", ":7070")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(n))
				c.Close()
			}
		}()
	}
	readAll := func(c net.Conn) (string, error) {
		b, err := io.ReadAll(c)
		return string(b), err
	}
	bed.MustExec("n1", "ip", "addr", "add", v.String(), "dev", Dev)
	p := bed.ProbeTCP(ClientName, netip.AddrPortFrom(v.Addr(), 7070), ProbeOptions{Interval: 5 * time.Millisecond, Timeout: 500 * time.Millisecond, Exchange: readAll})
	if err := Poll(5*time.Second, 10*time.Millisecond, func() error {
		if _, ok := p.FirstSuccessAfter(time.Time{}, func(r string) bool { return r == "n1" }); !ok {
			return fmt.Errorf("no answer from n1 yet (%d attempts)", len(p.Results()))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Move the address by hand and make the client forget n1's MAC (the
	// vip agent's announcements do that in vip's own tests).
	fault := time.Now()
	bed.MustExec("n1", "ip", "addr", "del", v.String(), "dev", Dev)
	bed.MustExec("n2", "ip", "addr", "add", v.String(), "dev", Dev)
	bed.MustExec(ClientName, "ip", "neigh", "flush", "dev", Dev)
	if err := Poll(10*time.Second, 10*time.Millisecond, func() error {
		if _, ok := p.FirstSuccessAfter(fault, func(r string) bool { return r == "n2" }); !ok {
			return fmt.Errorf("no answer from n2 yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	r, _ := p.FirstSuccessAfter(fault, func(r string) bool { return r == "n2" })
	t.Logf("first connection served by n2 ended %v after the move (%d attempts)", r.End.Sub(fault), len(p.Results()))
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
}

const crashEnv = "HAVEN_NETNS_CRASH_HELPER"

// TestHelperCrash is not a test: TestBed_CrashedRunLeavesNothing runs the
// test binary with this test selected. It builds a bed, starts a process in
// it, writes the process's PID and the bed's id, and exits without cleanup.
func TestHelperCrash(t *testing.T) {
	out := os.Getenv(crashEnv)
	if out == "" {
		testenv.Skip(t, testenv.Helper, "helper for TestBed_CrashedRunLeavesNothing")
	}
	bed := New(t, Options{Nodes: []string{"n1"}})
	p := bed.Start("n1", "sleep", "300")
	if err := os.WriteFile(out, []byte(fmt.Sprintf("%d %s", p.PID(), bed.ID())), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Exit(3) // a crash: no t.Cleanup runs
}

func TestBed_CrashedRunLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root")
	}
	out := t.TempDir() + "/crash"
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+out)
	if b, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("helper exited cleanly:\n%s", b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	var id string
	if _, err := fmt.Sscanf(string(b), "%d %s", &pid, &id); err != nil {
		t.Fatal(err)
	}
	// The child's process died with it (Pdeathsig)...
	if err := Poll(5*time.Second, 10*time.Millisecond, func() error {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			return fmt.Errorf("process %d started by the crashed run still exists", pid)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// ...and its namespaces are swept by the next bed.
	if left := ourNamespaces(t, id); len(left) == 0 {
		// Another bed (a parallel test binary) swept them first: the
		// sweep works, but this run cannot show it.
		t.Logf("the crashed run's namespaces were already swept by a concurrent bed")
	}
	New(t, Options{Nodes: []string{"x"}})
	if left := ourNamespaces(t, id); len(left) != 0 {
		t.Fatalf("namespaces of the crashed run survive the sweep: %v", left)
	}
}
