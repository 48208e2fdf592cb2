//go:build linux

// Package rawudp reads and writes a UDP socket with raw system calls. See
// Conn for why.
package rawudp

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn reads and writes a UDP socket with raw system calls
// (unix.RawSyscall6) on its non-blocking descriptor, waiting through Go's
// network poller only when the call would block.
//
// Why: a system call made the usual way (syscall.Syscall, through
// entersyscall) while the Go runtime's sysmon thread sleeps wakes that
// thread, and sysmon then polls every 20 µs through its next 50 rounds
// whenever the process is busy. The lease wire and gossip are an idle
// agent's most frequent system calls; read and written the usual way they
// double an idle agent's context switches and cost it 0.05–0.1 points of
// a core (docs/bench/idle.md). A non-blocking recvfrom or sendto returns
// at once, so nothing is lost by not telling the scheduler.
type Conn struct {
	rc syscall.RawConn
}

// New returns nil when c is not a socket this can drive (the caller
// then uses c's own methods).
func New(c net.PacketConn) *Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &Conn{rc: rc}
}

func (r *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	if len(b) == 0 {
		return 0, nil, errors.New("rawudp: empty buffer")
	}
	var (
		n    int
		from net.Addr
		serr error
	)
	err := r.rc.Read(func(fd uintptr) bool {
		var rsa unix.RawSockaddrAny
		var m uintptr
		var e syscall.Errno
		for {
			l := uint32(unsafe.Sizeof(rsa))
			m, _, e = unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
				0, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
			if e != unix.EINTR {
				break
			}
		}
		if e == unix.EAGAIN {
			return false // nothing queued: wait for the poller
		}
		if e != 0 {
			serr = e
			return true
		}
		n, from = int(m), sockaddrToUDP(&rsa)
		return true
	})
	if err != nil {
		return 0, nil, err
	}
	return n, from, serr
}

func (r *Conn) WriteTo(b []byte, to net.Addr) (int, error) {
	ua, ok := to.(*net.UDPAddr)
	if !ok {
		return 0, errors.New("rawudp: not a UDP address: " + to.String())
	}
	sa, sl, err := udpToSockaddr(ua)
	if err != nil {
		return 0, err
	}
	var (
		n    int
		serr error
	)
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	err = r.rc.Write(func(fd uintptr) bool {
		var m uintptr
		var e syscall.Errno
		for {
			m, _, e = unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(len(b)), 0, uintptr(sa), uintptr(sl))
			if e != unix.EINTR {
				break
			}
		}
		if e == unix.EAGAIN {
			return false
		}
		if e != 0 {
			serr = e
			return true
		}
		n = int(m)
		return true
	})
	if err != nil {
		return 0, err
	}
	return n, serr
}

func sockaddrToUDP(rsa *unix.RawSockaddrAny) net.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return &net.UDPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: int(p[0])<<8 | int(p[1])}
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		ua := &net.UDPAddr{IP: ip, Port: int(p[0])<<8 | int(p[1])}
		if a.Scope_id != 0 {
			if ifc, err := net.InterfaceByIndex(int(a.Scope_id)); err == nil {
				ua.Zone = ifc.Name
			}
		}
		return ua
	}
	return &net.UDPAddr{}
}

// udpToSockaddr returns a raw socket address for a (kept alive by the
// returned pointer) and its length.
func udpToSockaddr(a *net.UDPAddr) (unsafe.Pointer, uint32, error) {
	port := [2]byte{byte(a.Port >> 8), byte(a.Port)}
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &unix.RawSockaddrInet4{Family: unix.AF_INET}
		copy((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port[:])
		copy(sa.Addr[:], ip4)
		return unsafe.Pointer(sa), unix.SizeofSockaddrInet4, nil
	}
	if ip6 := a.IP.To16(); ip6 != nil {
		sa := &unix.RawSockaddrInet6{Family: unix.AF_INET6}
		copy((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port[:])
		copy(sa.Addr[:], ip6)
		if a.Zone != "" {
			ifc, err := net.InterfaceByName(a.Zone)
			if err != nil {
				return nil, 0, err
			}
			sa.Scope_id = uint32(ifc.Index)
		}
		return unsafe.Pointer(sa), unix.SizeofSockaddrInet6, nil
	}
	return nil, 0, errors.New("rawudp: not an IP address: " + a.String())
}
