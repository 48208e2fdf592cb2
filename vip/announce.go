package vip

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
)

// sender sends frame i of an announcement burst.
type sender interface {
	send(i int) error
	// round is how many frames make one full announcement (v4: a request
	// and a reply; v6: one advertisement).
	round() int
	close()
}

// announcer is a running burst and/or re-announcer.
type announcer struct {
	stopCh chan struct{}
	doneCh chan struct{}
}

// announce sends the first frame now and the rest in the background.
// Failures to announce are logged, not returned: the address is up and
// serves whoever resolves it; IPaddr2 behaves the same.
func (a *Agent) announce(link netlink.Link) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
	if a.p.ArpCount == 0 && a.p.Reannounce == 0 {
		return
	}
	s, err := newSender(link, a.p.IP)
	if err != nil {
		a.log.Error("cannot announce vip", "nic", link.Attrs().Name, "err", err)
		return
	}
	first := time.Now()
	if a.p.ArpCount > 0 {
		// Frame 0 goes out before Start returns (failover speed).
		if err := s.send(0); err != nil {
			a.log.Warn("announce vip", "nic", link.Attrs().Name, "frame", 0, "err", err)
		}
	}
	an := &announcer{stopCh: make(chan struct{}), doneCh: make(chan struct{})}
	a.ann = an
	go a.runBurst(an, s, link.Attrs().Name, first)
}

func (a *Agent) runBurst(an *announcer, s sender, nic string, first time.Time) {
	defer close(an.doneCh)
	defer s.close()
	warned := false
	failed := 0
	sendOne := func(i int) {
		err := s.send(i)
		if err != nil {
			failed++
		}
		if err != nil && !warned {
			warned = true // one warning per burst: the link is probably down
			a.log.Warn("announce vip", "nic", nic, "frame", i, "err", err)
		}
	}
	// Frames are scheduled from the first one's time, so a slow send does
	// not stretch the burst; after a stall (a loaded host) they resume at
	// least half an interval apart instead of all at once.
	last := first
	for i := 1; i < a.p.ArpCount; i++ {
		at := first.Add(time.Duration(i) * a.p.ArpInterval)
		if floor := last.Add(a.p.ArpInterval / 2); at.Before(floor) {
			at = floor
		}
		if !sleep(an.stopCh, time.Until(at)) {
			return
		}
		last = time.Now()
		sendOne(i)
	}
	if a.p.ArpCount > 0 {
		a.log.Debug("vip announced", "nic", nic, "frames", a.p.ArpCount, "failed", failed, "took", time.Since(first))
	}
	if a.p.Reannounce <= 0 {
		return
	}
	for {
		if !sleep(an.stopCh, a.p.Reannounce) {
			return
		}
		warned = false
		for i := range s.round() {
			if i > 0 && !sleep(an.stopCh, a.p.ArpInterval) {
				return
			}
			sendOne(i)
		}
	}
}

// sleep waits d or until stop is closed; it reports whether to go on.
func sleep(stop <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

// stopAnnouncing ends a running burst and waits for it.
func (a *Agent) stopAnnouncing() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
}

func (a *Agent) stopLocked() {
	if a.ann == nil {
		return
	}
	close(a.ann.stopCh)
	<-a.ann.doneCh
	a.ann = nil
}

// newSender opens the socket for the VIP's family on link, in the calling
// thread's network namespace.
func newSender(link netlink.Link, ip netip.Addr) (sender, error) {
	ifi, err := net.InterfaceByIndex(link.Attrs().Index)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", link.Attrs().Name, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface %s has no Ethernet address", ifi.Name)
	}
	if ip.Is4() {
		return newARPSender(ifi, ip)
	}
	return newNDPSender(ifi, ip)
}

// arpSender sends gratuitous ARP in IPaddr2's pattern: broadcast frames,
// sender = VIP with the NIC's MAC, alternating a request (who-has VIP tell
// VIP; target MAC zero, as RFC 5227 announcements) and a reply (VIP is-at
// MAC; target = sender, which Linux counts as gratuitous and applies even
// within its lock time).
type arpSender struct {
	c        *arp.Client
	req, rep *arp.Packet
}

func newARPSender(ifi *net.Interface, ip netip.Addr) (*arpSender, error) {
	// A send-only packet socket: a BPF program that accepts nothing keeps
	// the kernel from queueing every ARP frame of the LAN to us (arp.Dial
	// would). arp.New needs an IPv4 address on ifi: the VIP is one by now.
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("arp socket filter: %w", err)
	}
	pc, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), &packet.Config{Filter: drop})
	if err != nil {
		return nil, fmt.Errorf("arp socket on %s: %w", ifi.Name, err)
	}
	c, err := arp.New(ifi, pc)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("arp client on %s: %w", ifi.Name, err)
	}
	zero := make(net.HardwareAddr, 6)
	req, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, ip, zero, ip)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	rep, err := arp.NewPacket(arp.OperationReply, ifi.HardwareAddr, ip, ifi.HardwareAddr, ip)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return &arpSender{c: c, req: req, rep: rep}, nil
}

func (s *arpSender) send(i int) error {
	p := s.req
	if i%2 == 1 {
		p = s.rep
	}
	return s.c.WriteTo(p, ethernet.Broadcast)
}

func (s *arpSender) round() int { return 2 }
func (s *arpSender) close()     { _ = s.c.Close() }

// ndpSender sends unsolicited neighbour advertisements (RFC 4861 §7.2.6):
// from the VIP to all-nodes ff02::1, Override set, Solicited clear, with the
// target link-layer address option carrying the NIC's MAC.
type ndpSender struct {
	c  *ndp.Conn
	na *ndp.NeighborAdvertisement
}

var allNodes = netip.MustParseAddr("ff02::1")

func newNDPSender(ifi *net.Interface, ip netip.Addr) (*ndpSender, error) {
	// ndp addresses each packet to ff02::1 with the interface *name* as
	// zone, which Go resolves through a process-wide name->index cache that
	// it refreshes from whatever network namespace the resolving thread is
	// in. The burst runs on other threads than Start: in a process whose
	// threads are not all in one namespace (tests) the name could resolve
	// to another namespace's index. A numeric zone is taken as the index
	// itself, so the packets always leave through this interface.
	byIndex := *ifi
	byIndex.Name = strconv.Itoa(ifi.Index)
	c, _, err := ndp.Listen(&byIndex, ndp.Addr(ip.String()))
	if err != nil {
		return nil, fmt.Errorf("ndp socket on %s from %s: %w", ifi.Name, ip, err)
	}
	// Send only: block every incoming ICMPv6 type.
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := c.SetICMPFilter(&f); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("ndp socket filter: %w", err)
	}
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}},
	}
	return &ndpSender{c: c, na: na}, nil
}

func (s *ndpSender) send(int) error { return s.c.WriteTo(s.na, nil, allNodes) }
func (s *ndpSender) round() int     { return 1 }
func (s *ndpSender) close()         { _ = s.c.Close() }
