package rawudp

import "net"

// PacketIO is the part of a net.PacketConn that reads and writes.
type PacketIO interface {
	ReadFrom(b []byte) (int, net.Addr, error)
	WriteTo(b []byte, to net.Addr) (int, error)
}

// Wrap returns a raw Conn over c when it can drive c, else c itself.
func Wrap(c net.PacketConn) PacketIO {
	if r := New(c); r != nil {
		return r
	}
	return c
}
