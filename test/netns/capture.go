package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
)

// Frame is one captured Ethernet frame with its user-space receive time.
type Frame struct {
	Time time.Time
	Data []byte
}

// Capture records frames arriving on an interface of a namespace (a raw
// packet socket opened inside it; no tcpdump needed).
type Capture struct {
	conn *packet.Conn
	keep func([]byte) bool

	mu     sync.Mutex
	frames []Frame
	done   chan struct{}
}

const ethPAll = 0x0003

// Capture starts recording frames that arrive at (or leave) dev in a
// namespace and for which keep returns true (nil keeps all). It is closed at
// cleanup; call Close earlier to stop.
func (b *Bed) Capture(name, dev string, keep func(frame []byte) bool) *Capture {
	b.t.Helper()
	c := &Capture{keep: keep, done: make(chan struct{})}
	b.MustDo(name, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return fmt.Errorf("capture in %s: %w", name, err)
		}
		c.conn, err = packet.Listen(ifi, packet.Raw, ethPAll, nil)
		if err != nil {
			return fmt.Errorf("capture in %s on %s: %w", name, dev, err)
		}
		return nil
	})
	go c.loop()
	b.t.Cleanup(c.Close)
	return c
}

func (c *Capture) loop() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			return // closed
		}
		if c.keep != nil && !c.keep(buf[:n]) {
			continue
		}
		c.mu.Lock()
		c.frames = append(c.frames, Frame{Time: now, Data: append([]byte(nil), buf[:n]...)})
		c.mu.Unlock()
	}
}

// Frames returns a copy of the frames recorded so far.
func (c *Capture) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// Reset forgets the frames recorded so far.
func (c *Capture) Reset() {
	c.mu.Lock()
	c.frames = nil
	c.mu.Unlock()
}

// Close stops recording; safe to call twice.
func (c *Capture) Close() {
	_ = c.conn.Close()
	<-c.done
}

// EtherType returns a frame's ethertype (0 when too short).
func EtherType(frame []byte) uint16 {
	if len(frame) < 14 {
		return 0
	}
	return binary.BigEndian.Uint16(frame[12:14])
}

// IsARP keeps ARP frames.
func IsARP(frame []byte) bool { return EtherType(frame) == 0x0806 }

// ParseARP decodes an ARP frame.
func ParseARP(frame []byte) (*arp.Packet, error) {
	if !IsARP(frame) {
		return nil, errors.New("not an ARP frame")
	}
	p := new(arp.Packet)
	if err := p.UnmarshalBinary(frame[14:]); err != nil {
		return nil, err
	}
	return p, nil
}

// NA is a decoded neighbour advertisement with its IPv6 addresses.
type NA struct {
	Src, Dst netip.Addr
	SrcMAC   net.HardwareAddr // Ethernet source
	Msg      *ndp.NeighborAdvertisement
	// TargetLL is the target link-layer address option (nil if absent).
	TargetLL net.HardwareAddr
}

// IsNA keeps IPv6 neighbour advertisements (no extension headers).
func IsNA(frame []byte) bool {
	return EtherType(frame) == 0x86dd && len(frame) >= 14+40+1 && frame[14+6] == 58 && frame[14+40] == 136
}

// ParseNA decodes a neighbour advertisement frame.
func ParseNA(frame []byte) (*NA, error) {
	if !IsNA(frame) {
		return nil, errors.New("not a neighbour advertisement")
	}
	ip := frame[14:]
	src, _ := netip.AddrFromSlice(ip[8:24])
	dst, _ := netip.AddrFromSlice(ip[24:40])
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if 40+plen > len(ip) {
		return nil, errors.New("truncated IPv6 packet")
	}
	m, err := ndp.ParseMessage(ip[40 : 40+plen])
	if err != nil {
		return nil, err
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok {
		return nil, errors.New("not a neighbour advertisement")
	}
	out := &NA{Src: src, Dst: dst, SrcMAC: net.HardwareAddr(frame[6:12]), Msg: na}
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
			out.TargetLL = lla.Addr
		}
	}
	return out, nil
}
