package rawudp

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/havenha/haven/internal/testenv"
)

// Datagrams go both ways over IPv4 and IPv6 loopback with the sender's
// address reported; a read waits for a datagram through the poller and
// returns net.ErrClosed when the socket is closed meanwhile.
func TestConn_RoundTripWaitAndClose(t *testing.T) {
	for _, network := range []string{"127.0.0.1:0", "[::1]:0"} {
		a, err := net.ListenPacket("udp", network)
		if err != nil {
			testenv.Skip(t, testenv.Machine, "no UDP on loopback %s: %v", network, err)
		}
		b, err := net.ListenPacket("udp", network)
		if err != nil {
			t.Fatal(err)
		}
		ra, rb := New(a), New(b)
		if ra == nil || rb == nil {
			t.Fatal("New returned nil for a UDP socket")
		}
		got := make(chan []byte, 1)
		from := make(chan net.Addr, 1)
		go func() {
			buf := make([]byte, 100)
			n, f, err := rb.ReadFrom(buf) // waits: nothing is queued yet
			if err != nil {
				t.Errorf("read: %v", err)
			}
			got <- buf[:n]
			from <- f
		}()
		time.Sleep(20 * time.Millisecond) // let the reader reach the poller (the test passes either way)
		if n, err := ra.WriteTo([]byte("renewal"), b.LocalAddr()); err != nil || n != 7 {
			t.Fatalf("%s: write %d %v", network, n, err)
		}
		select {
		case p := <-got:
			if !bytes.Equal(p, []byte("renewal")) {
				t.Errorf("%s: read %q", network, p)
			}
			if f := <-from; f.String() != a.LocalAddr().String() {
				t.Errorf("%s: from %s; want %s", network, f, a.LocalAddr())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no datagram", network)
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := rb.ReadFrom(make([]byte, 10))
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		_ = b.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s: read after close: %v; want net.ErrClosed", network, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: read not ended by close", network)
		}
		if _, err := ra.WriteTo([]byte("x"), &net.TCPAddr{}); err == nil {
			t.Errorf("%s: write to a TCP address accepted", network)
		}
		_ = a.Close()
	}
}

// Wrap drives a UDP socket raw and leaves any other PacketConn as it is.
func TestWrap_RawOnlyForSockets(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := Wrap(c).(*Conn); !ok {
		t.Errorf("Wrap(UDP socket) = %T; want *Conn", Wrap(c))
	}
	plain := struct{ net.PacketConn }{c} // hides SyscallConn
	if got := Wrap(plain); got != PacketIO(plain) {
		t.Errorf("Wrap(a PacketConn without SyscallConn) = %T; want it unchanged", got)
	}
}
