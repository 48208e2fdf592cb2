//go:build !linux

// Package rawudp reads and writes a UDP socket with raw system calls (Linux
// only: elsewhere New returns nil and callers use the socket's methods).
package rawudp

import "net"

// Conn is Linux only (rawudp_linux.go); elsewhere the socket's own
// methods are used.
type Conn struct{}

func New(net.PacketConn) *Conn { return nil }

func (*Conn) ReadFrom([]byte) (int, net.Addr, error) { panic("Conn: not on this system") }

func (*Conn) WriteTo([]byte, net.Addr) (int, error) { panic("Conn: not on this system") }
