package membership

import (
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/havenha/haven/internal/rawudp"
)

// boundTransport is memberlist's transport for one link: memberlist's
// NetTransport rewritten with two differences.
//   - Outgoing TCP connections are bound to the link's own address. Without
//     it the kernel picks the source address, so on loopback every stream
//     appears to come from 127.0.0.1 and on a multi-homed host a link's
//     traffic could leave by another link's address; peers' refusal logs
//     would then name the wrong address.
//   - UDP packets are read and written with raw system calls
//     (internal/rawudp): a read made the usual way wakes the Go runtime's
//     sysmon thread, which then polls every 20 µs for a while, on every
//     gossip packet of every idle agent.
type boundTransport struct {
	local    net.IP
	port     int
	tcp      *net.TCPListener
	udp      *net.UDPConn
	io       rawudp.PacketIO // udp, read and written with raw system calls
	logger   *log.Logger
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	wg       sync.WaitGroup
	shutdown atomic.Bool
}

// udpPacketBufSize and udpRecvBufSize are NetTransport's.
const (
	udpPacketBufSize = 65536
	udpRecvBufSize   = 2 * 1024 * 1024
)

func newBoundTransport(addr string, port int, c *memberlist.Config) (*boundTransport, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, fmt.Errorf("link address %q is not an IP address", addr)
	}
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, fmt.Errorf("failed to start TCP listener on %q port %d: %v", addr, port, err)
	}
	if port == 0 {
		port = tcp.Addr().(*net.TCPAddr).Port
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("failed to start UDP listener on %q port %d: %v", addr, port, err)
	}
	for size := udpRecvBufSize; size > 0; size /= 2 {
		if udp.SetReadBuffer(size) == nil {
			break
		}
	}
	t := &boundTransport{local: ip, port: port, tcp: tcp, udp: udp, io: rawudp.Wrap(udp), logger: c.Logger,
		packetCh: make(chan *memberlist.Packet), streamCh: make(chan net.Conn)}
	if t.logger == nil {
		t.logger = log.New(log.Writer(), "", log.LstdFlags)
	}
	t.wg.Add(2)
	go t.tcpListen()
	go t.udpListen()
	return t, nil
}

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *boundTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		return t.local, t.port, nil
	}
	a := net.ParseIP(ip)
	if a == nil {
		return nil, 0, fmt.Errorf("failed to parse advertise address %q", ip)
	}
	if a4 := a.To4(); a4 != nil {
		a = a4
	}
	return a, port, nil
}

// WriteTo implements memberlist.Transport.
func (t *boundTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.io.WriteTo(b, ua)
	return time.Now(), err
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *boundTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh implements memberlist.Transport.
func (t *boundTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh implements memberlist.Transport.
func (t *boundTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout implements memberlist.Transport with the local address bound.
func (t *boundTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: t.local}}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *boundTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// Shutdown implements memberlist.Transport.
func (t *boundTransport) Shutdown() error {
	t.shutdown.Store(true)
	_ = t.tcp.Close()
	_ = t.udp.Close()
	t.wg.Wait()
	return nil
}

func (t *boundTransport) tcpListen() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		conn, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.shutdown.Load() {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.logger.Printf("[ERR] memberlist: Error accepting TCP connection: %v", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		t.streamCh <- conn
	}
}

func (t *boundTransport) udpListen() {
	defer t.wg.Done()
	// One receive buffer, and each packet copied out at its size: memberlist
	// keeps the packet, and NetTransport's fresh 64 KiB buffer per packet
	// (for packets of about a hundred bytes) was most of an idle agent's
	// allocation, hence of its garbage collections (docs/bench/idle.md).
	buf := make([]byte, udpPacketBufSize)
	for {
		n, addr, err := t.io.ReadFrom(buf)
		ts := time.Now()
		if err != nil {
			if t.shutdown.Load() {
				return
			}
			t.logger.Printf("[ERR] memberlist: Error reading UDP packet: %v", err)
			continue
		}
		if n < 1 {
			t.logger.Printf("[ERR] memberlist: UDP packet too short (%d bytes) %s", n, memberlist.LogAddress(addr))
			continue
		}
		t.packetCh <- &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: addr, Timestamp: ts}
	}
}

var _ memberlist.NodeAwareTransport = (*boundTransport)(nil)
