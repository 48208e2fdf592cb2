package agentkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BootID identifies the current boot (so a pid file or a started flag from
// before a reboot is never mistaken for live state).
//
// Read once: it cannot change while this process runs, and exec's monitor
// asked for it every second (five system calls each time).
var BootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// RunOutput runs cmd, which must not have Stdout/Stderr set, with its
// output in a temporary file rather than a pipe: daemons that a script
// starts often keep the inherited descriptors open, and waiting on a pipe
// would then hang until they exit. The process runs in its own process group,
// which is killed when ctx ends. It returns the exit code (-1 when it did not
// exit normally), the combined output (at most maxOut bytes, the tail) and an
// error when it could not run or ctx ended.
func RunOutput(ctx context.Context, cmd *exec.Cmd, maxOut int) (int, string, error) {
	f, err := os.CreateTemp("", "haven-agent-out-*")
	if err != nil {
		return -1, "", fmt.Errorf("create output file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return -1, "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		werr = <-done // SIGKILL cannot be ignored: Wait returns promptly
	}
	out := tailFile(f, maxOut)
	if ctx.Err() != nil {
		return -1, out, fmt.Errorf("%w (killed process group %d)", ctx.Err(), cmd.Process.Pid)
	}
	if werr != nil {
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			return ee.ExitCode(), out, nil
		}
		return -1, out, werr
	}
	return 0, out, nil
}

// tailFile returns up to max bytes from the end of f, trimmed.
func tailFile(f *os.File, max int) string {
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - int64(max)
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf[:n]))
}

// TailPath returns up to max bytes from the end of the file at path,
// trimmed ("" when it cannot be read).
func TailPath(path string, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return tailFile(f, max)
}

// SleepCtx waits d or until ctx ends; it reports whether ctx is still live.
func SleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ChildEnviron is haven's environment for the programs agents run, without
// the variables systemd hands to haven itself (a child that saw
// NOTIFY_SOCKET or LISTEN_FDS could report readiness or take sockets in
// haven's name).
func ChildEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "JOURNAL_STREAM":
			continue
		}
		out = append(out, kv)
	}
	return out
}
