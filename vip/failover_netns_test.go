package vip_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"golang.org/x/net/ipv6"

	"github.com/havenha/haven/test/netns"
	"github.com/havenha/haven/vip"
)

// announcements returns the captured frames that announce ip (gratuitous
// ARP with sender ip, or neighbour advertisements for target ip).
func announcements(c *netns.Capture, ip netip.Addr) []netns.Frame {
	var out []netns.Frame
	for _, f := range c.Frames() {
		if ip.Is4() {
			if p, err := netns.ParseARP(f.Data); err == nil && p.SenderIP == ip {
				out = append(out, f)
			}
		} else if na, err := netns.ParseNA(f.Data); err == nil && na.Msg.TargetAddress == ip {
			out = append(out, f)
		}
	}
	return out
}

// waitAnnouncements waits until n announcements of ip were captured, then
// a further quiet period to catch extra ones, and returns them all.
func waitAnnouncements(t *testing.T, c *netns.Capture, ip netip.Addr, n int, within, quiet time.Duration) []netns.Frame {
	t.Helper()
	if err := netns.Poll(within, 10*time.Millisecond, func() error {
		if got := len(announcements(c, ip)); got < n {
			return fmt.Errorf("%d of %d announcements of %s captured", got, n, ip)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(quiet) // bounded: extra frames would arrive within it
	return announcements(c, ip)
}

// checkARPBurst checks IPaddr2's pattern: broadcast, sender = vip with mac,
// request and reply alternating (request first).
func checkARPBurst(t *testing.T, fs []netns.Frame, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	for i, f := range fs {
		p, _ := netns.ParseARP(f.Data)
		wantOp := arp.OperationRequest
		if i%2 == 1 {
			wantOp = arp.OperationReply
		}
		dst := net.HardwareAddr(f.Data[0:6])
		if p.Operation != wantOp || !bytes.Equal(p.SenderHardwareAddr, mac) || p.SenderIP != ip || p.TargetIP != ip ||
			dst.String() != "ff:ff:ff:ff:ff:ff" || !bytes.Equal(f.Data[6:12], mac) {
			t.Errorf("frame %d: %v sender %v/%v target %v/%v eth dst %v; want %v from %v/%v to broadcast",
				i, p.Operation, p.SenderIP, p.SenderHardwareAddr, p.TargetIP, p.TargetHardwareAddr, dst, wantOp, ip, mac)
		}
	}
}

// checkSpacing checks the median gap between frames. Single gaps are only
// logged: receive times are taken in user space, and on a loaded host the
// capture goroutine can be late by hundreds of milliseconds (then two frames
// seem to arrive together).
func checkSpacing(t *testing.T, fs []netns.Frame, interval time.Duration) {
	t.Helper()
	if len(fs) < 2 {
		return
	}
	var gaps []time.Duration
	for i := 1; i < len(fs); i++ {
		gap := fs[i].Time.Sub(fs[i-1].Time)
		gaps = append(gaps, gap)
		if gap < interval/2 || gap > interval*3 {
			t.Logf("gap before frame %d is %v (interval %v)", i, gap, interval)
		}
	}
	if m := median(gaps); m < interval*3/4 || m > interval*3/2 {
		t.Errorf("median gap between frames is %v, want about %v (gaps %v)", m, interval, gaps)
	}
}

func checkNABurst(t *testing.T, fs []netns.Frame, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	for i, f := range fs {
		na, _ := netns.ParseNA(f.Data)
		if !na.Msg.Override || na.Msg.Solicited || na.Msg.Router || na.Dst != netip.MustParseAddr("ff02::1") ||
			na.Src != ip || !bytes.Equal(na.TargetLL, mac) || !bytes.Equal(na.SrcMAC, mac) {
			t.Errorf("NA %d: %+v src %v dst %v tll %v srcmac %v; want override, from %v, to ff02::1, tll %v",
				i, *na.Msg, na.Src, na.Dst, na.TargetLL, na.SrcMAC, ip, mac)
		}
	}
}

func neighIs(bed *netns.Bed, ip netip.Addr, mac net.HardwareAddr) error {
	got, err := bed.NeighMAC(netns.ClientName, ip)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, mac) {
		return fmt.Errorf("client's neighbour entry for %s is %v, want %v", ip, got, mac)
	}
	return nil
}

func holders(t *testing.T, bed *netns.Bed, ip netip.Addr) []string {
	t.Helper()
	var hs []string
	for _, n := range bed.Nodes() {
		if ok, err := bed.HasAddr(n, ip); err != nil {
			t.Fatal(err)
		} else if ok {
			hs = append(hs, n)
		}
	}
	return hs
}

// failover moves the VIP from n1 to n2 and checks the client follows.
func failover(t *testing.T, v6 bool) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1", "n2"}, Client: true, IPv6: v6})
	v := bed.HostAddr4(60)
	keep := netns.IsARP
	if v6 {
		v = bed.HostAddr6(0x60)
		keep = netns.IsNA
	}
	params := map[string]any{"ip": v.String(), "nic": "eth0"}
	a1 := newAgent(t, bed, "n1", params)
	a2 := newAgent(t, bed, "n2", params)
	mac1, mac2 := bed.MAC("n1"), bed.MAC("n2")

	start(t, bed, "n1", a1)
	// The client talks to the VIP, so it has a neighbour entry for n1.
	if err := netns.Poll(5*time.Second, 50*time.Millisecond, func() error {
		_, err := bed.Exec(netns.ClientName, "ping", "-c1", "-W1", v.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := neighIs(bed, v.Addr(), mac1); err != nil {
		t.Fatal(err)
	}

	capt := bed.Capture(netns.ClientName, netns.Dev, keep)
	stop(t, bed, "n1", a1)
	t0 := time.Now()
	start(t, bed, "n2", a2)
	startDone := time.Since(t0)
	if hs := holders(t, bed, v.Addr()); len(hs) != 1 || hs[0] != "n2" {
		t.Fatalf("vip holders after failover: %v, want [n2]", hs)
	}
	if err := netns.Poll(2*time.Second, 5*time.Millisecond, func() error { return neighIs(bed, v.Addr(), mac2) }); err != nil {
		t.Fatal(err)
	}
	updated := time.Since(t0)
	fs := waitAnnouncements(t, capt, v.Addr(), vip.DefaultArpCount, 3*time.Second, 300*time.Millisecond)
	if len(fs) != vip.DefaultArpCount {
		t.Fatalf("captured %d announcements, want %d", len(fs), vip.DefaultArpCount)
	}
	if v6 {
		checkNABurst(t, fs, v.Addr(), mac2)
		checkSpacing(t, fs, vip.DefaultArpInterval)
	} else {
		checkARPBurst(t, fs, v.Addr(), mac2)
		checkSpacing(t, fs, vip.DefaultArpInterval)
	}
	t.Logf("failover %s: Start returned after %v, first frame at the client after %v, neighbour entry updated within %v, burst %d frames over %v",
		v.Addr(), startDone, fs[0].Time.Sub(t0), updated, len(fs), fs[len(fs)-1].Time.Sub(fs[0].Time))
	// And the client reaches the VIP on n2.
	if _, err := bed.Exec(netns.ClientName, "ping", "-c1", "-W1", v.Addr().String()); err != nil {
		t.Fatalf("client -> vip after failover: %v", err)
	}
	if err := neighIs(bed, v.Addr(), mac2); err != nil {
		t.Fatal(err)
	}
}

func TestVIP_FailoverUpdatesClientNeighbour_IPv4(t *testing.T) { failover(t, false) }
func TestVIP_FailoverUpdatesClientNeighbour_IPv6(t *testing.T) { failover(t, true) }

func TestVIP_StopEndsBurst(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			bed := netns.New(t, netns.Options{Nodes: []string{"n1"}, Client: true, IPv6: v6})
			v, keep := bed.HostAddr4(61), netns.IsARP
			if v6 {
				v, keep = bed.HostAddr6(0x61), netns.IsNA
			}
			capt := bed.Capture(netns.ClientName, netns.Dev, keep)
			a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0", "arp_count": 100, "arp_interval": "20ms"})
			start(t, bed, "n1", a)
			if err := netns.Poll(3*time.Second, 5*time.Millisecond, func() error {
				if n := len(announcements(capt, v.Addr())); n < 3 {
					return fmt.Errorf("%d frames", n)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			stop(t, bed, "n1", a)
			time.Sleep(50 * time.Millisecond) // frames already sent land
			n := len(announcements(capt, v.Addr()))
			time.Sleep(300 * time.Millisecond) // 15 intervals
			if m := len(announcements(capt, v.Addr())); m != n || n >= 100 {
				t.Fatalf("after Stop: %d frames, then %d; want the burst cut short and no more frames", n, m)
			}
		})
	}
}

func TestVIP_Reannounce(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}, Client: true})
	v := bed.HostAddr4(62)
	capt := bed.Capture(netns.ClientName, netns.Dev, netns.IsARP)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0", "arp_count": 2, "arp_interval": 10, "reannounce": "200ms"})
	start(t, bed, "n1", a)
	// 2 frames of the burst, then 2 per round every 200 ms.
	fs := waitAnnouncements(t, capt, v.Addr(), 8, 3*time.Second, 0)
	checkARPBurst(t, fs[:2], v.Addr(), bed.MAC("n1"))
	checkARPBurst(t, fs[2:4], v.Addr(), bed.MAC("n1")) // a round: request, reply
	if gap := fs[2].Time.Sub(fs[1].Time); gap < 150*time.Millisecond || gap > 1500*time.Millisecond {
		t.Errorf("first re-announcement %v after the burst, want about 200ms", gap)
	}
	stop(t, bed, "n1", a)
	time.Sleep(50 * time.Millisecond)
	n := len(announcements(capt, v.Addr()))
	time.Sleep(450 * time.Millisecond) // two periods
	if m := len(announcements(capt, v.Addr())); m != n {
		t.Fatalf("re-announcements went on after Stop: %d -> %d", n, m)
	}
}

// TestVIP_FailoverWithoutAnnouncementLeavesClientStale is the control: with
// arp_count 0 the client keeps n1's MAC, so the frames are what moved it.
func TestVIP_FailoverWithoutAnnouncementLeavesClientStale(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1", "n2"}, Client: true})
	v := bed.HostAddr4(63)
	params := map[string]any{"ip": v.String(), "nic": "eth0", "arp_count": 0}
	a1, a2 := newAgent(t, bed, "n1", params), newAgent(t, bed, "n2", params)
	start(t, bed, "n1", a1)
	if _, err := bed.Exec(netns.ClientName, "ping", "-c1", "-W1", v.Addr().String()); err != nil {
		t.Fatal(err)
	}
	stop(t, bed, "n1", a1)
	start(t, bed, "n2", a2)
	time.Sleep(500 * time.Millisecond) // bounded: the entry must not move
	if err := neighIs(bed, v.Addr(), bed.MAC("n1")); err != nil {
		t.Fatalf("without announcements: %v", err)
	}
}

// TestVIP_IPv6BurstSurvivesZoneCacheRefresh: Go resolves IPv6 zone names
// through a process-wide cache refreshed from the resolving thread's
// namespace. A refresh from the test's own namespace in the middle of a
// burst must not send the remaining advertisements to another interface
// index (it did, with EINVAL, before the NDP sender used a numeric zone).
func TestVIP_IPv6BurstSurvivesZoneCacheRefresh(t *testing.T) {
	bed := netns.New(t, netns.Options{Nodes: []string{"n1"}, Client: true, IPv6: true})
	v := bed.HostAddr6(0x65)
	capt := bed.Capture(netns.ClientName, netns.Dev, netns.IsNA)
	a := newAgent(t, bed, "n1", map[string]any{"ip": v.String(), "nic": "eth0", "arp_count": 10, "arp_interval": "30ms"})
	// The switch namespace gets an "eth0" whose index differs from n1's.
	bed.MustExec(netns.SwitchName, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "hvnbpeer")
	start(t, bed, "n1", a)
	// Writing to an unknown zone with x/net (which ndp uses, and which has
	// its own zone cache) forces a refresh of that cache from the switch
	// namespace, where IPv6 is off: the send fails locally, no traffic.
	err := bed.Do(netns.SwitchName, func() error {
		c, err := net.ListenPacket("udp6", "[::]:0")
		if err != nil {
			return err
		}
		defer c.Close()
		_, _ = ipv6.NewPacketConn(c).WriteTo([]byte("x"), nil, &net.UDPAddr{IP: net.IPv6loopback, Port: 9, Zone: "hvnbnozone"})
		return nil
	})
	if err != nil {
		t.Logf("could not force the zone cache refresh: %v", err)
	}
	fs := waitAnnouncements(t, capt, v.Addr(), 10, 3*time.Second, 100*time.Millisecond)
	if len(fs) != 10 {
		t.Fatalf("captured %d advertisements, want 10", len(fs))
	}
	checkNABurst(t, fs, v.Addr(), bed.MAC("n1"))
}
