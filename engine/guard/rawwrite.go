package guard

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWrite writes b to the pipe f with raw write(2) calls, waiting through
// Go's poller only when the pipe is full, as f.Write does. f.Write goes
// through entersyscall, which wakes the Go runtime's sleeping sysmon thread
// and sets it polling every 20 µs for its next 50 rounds. An agent that
// holds resources writes here about once a lease round (each deadline it
// forwards); through f.Write that doubles the VIP holder's context
// switches and costs it 0.1 point of a core (docs/bench/idle.md).
func rawWrite(f *os.File, b []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case 0:
				b = b[n:]
			case unix.EINTR:
			case unix.EAGAIN:
				return false // the pipe is full: wait for the poller
			default:
				werr = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.Errno(e)}
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
