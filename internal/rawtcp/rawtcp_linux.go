//go:build linux

// Package rawtcp reads and writes a TCP connection with raw system calls,
// waiting through Go's poller only when a call would block. The reason is
// internal/rawudp's: a system call made the usual way wakes the runtime's
// sysmon thread, which then polls every 20 µs while the process works.
// raft's TLS connections carry an idle follower's only other system calls
// (the leader's replication backstop once a second and the answers); made
// the usual way they add two thirds to an idle member's context switches
// and 0.05 points of a core to its CPU (docs/bench/idle.md).
package rawtcp

import (
	"io"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Wrap returns c with Read and Write made of raw system calls when c is a
// *net.TCPConn, else c itself. Deadlines, Close and the addresses are c's.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &conn{TCPConn: tc, rc: rc}
}

type conn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var (
		n    int
		serr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			m, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case 0:
				n = int(m)
				if n == 0 {
					serr = io.EOF
				}
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait for the poller (or the read deadline)
			default:
				serr = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: e}
				return true
			}
		}
	})
	if err != nil {
		return n, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, serr
}

func (c *conn) Write(b []byte) (int, error) {
	var (
		n    int
		serr error
	)
	if len(b) == 0 {
		return 0, nil
	}
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(m)
			case unix.EINTR:
			case unix.EAGAIN:
				return false // the socket buffer is full: wait until writable
			default:
				serr = &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: e}
				return true
			}
		}
		return true
	})
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, serr
}
