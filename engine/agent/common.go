package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/havenha/haven/engine/model"
)

// Sentinel errors that callers act on (wrapped; test with errors.Is).
var (
	// ErrNotInstalled: what the resource needs is missing on this node (a
	// script, a binary, a unit). Pacemaker's OCF_ERR_INSTALLED: a hard error
	// for this node.
	ErrNotInstalled = errors.New("not installed on this node")
	// ErrNotConfigured: the resource's configuration is wrong everywhere.
	// Pacemaker's OCF_ERR_CONFIGURED: a fatal error.
	ErrNotConfigured = errors.New("not configured correctly")
)

// Default operation timings shared by most agents (Pacemaker's default
// operation timeout is 20s).
var defaultOps = model.OpDefaults{
	MonitorInterval: model.Duration(10 * time.Second),
	MonitorTimeout:  model.Duration(20 * time.Second),
	StartTimeout:    model.Duration(20 * time.Second),
	StopTimeout:     model.Duration(20 * time.Second),
}

// decodeProblems decodes params into out and returns the decode error as a
// ParamProblem list (nil when it decoded).
func decodeProblems(params map[string]any, out any) []model.ParamProblem {
	if err := model.DecodeParams(params, out); err != nil {
		return []model.ParamProblem{{Key: problemKey(err.Error()), Msg: err.Error()}}
	}
	return nil
}

// problemKey extracts the key name from encoding/json's messages such as
// `params: unknown field "foo"` or `cannot unmarshal ... into Go struct
// field x.command of type ...`.
func problemKey(msg string) string {
	if i := strings.Index(msg, `unknown field "`); i >= 0 {
		rest := msg[i+len(`unknown field "`):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return rest[:j]
		}
	}
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			rest = rest[:j]
		}
		if k := strings.IndexByte(rest, '.'); k >= 0 {
			rest = rest[k+1:]
		}
		return rest
	}
	return ""
}

// problemsErr joins problems into one error (nil when there are none).
func problemsErr(kind string, ps []model.ParamProblem) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, 0, len(ps))
	for _, p := range ps {
		if p.Key != "" {
			errs = append(errs, fmt.Errorf("%s param %q: %s", kind, p.Key, p.Msg))
		} else {
			errs = append(errs, fmt.Errorf("%s params: %s", kind, p.Msg))
		}
	}
	return fmt.Errorf("%w: %w", ErrNotConfigured, errors.Join(errs...))
}

// procStat is what /proc/PID/stat tells about a process.
type procStat struct {
	State     byte   // R, S, D, Z, ...
	PGID      int    // process group
	StartTime uint64 // clock ticks after boot
}

// readProcStat parses /proc/PID/stat. The command name may hold spaces and
// parentheses, so parsing starts after the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); starttime is field 22 -> f[19]; pgrp is field 5 -> f[2].
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields, expected at least 22", pid, len(f)+2)
	}
	pgid, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: pgrp %q: %w", pid, f[2], err)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: starttime %q: %w", pid, f[19], err)
	}
	return procStat{State: f[0][0], PGID: pgid, StartTime: st}, nil
}

// bootID identifies the current boot (so a pid file from before a reboot is
// never mistaken for a live process).
//
// Read once: it cannot change while this process runs, and exec's monitor
// asked for it every second (five system calls each time).
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// runOutput runs cmd, which must not have Stdout/Stderr set, with its
// output in a temporary file rather than a pipe: daemons that a script
// starts often keep the inherited descriptors open, and waiting on a pipe
// would then hang until they exit. The process runs in its own process group,
// which is killed when ctx ends. It returns the exit code (-1 when it did not
// exit normally), the combined output (at most maxOut bytes, the tail) and an
// error when it could not run or ctx ended.
func runOutput(ctx context.Context, cmd *exec.Cmd, maxOut int) (int, string, error) {
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

// tailPath is tailFile for a path ("" when it cannot be read).
func tailPath(path string, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return tailFile(f, max)
}

// sleepCtx waits d or until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// signalByName maps TERM, SIGTERM, 15 … to a signal.
func signalByName(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "SIG")
	if v, err := strconv.Atoi(n); err == nil && v > 0 && v < 65 {
		return syscall.Signal(v), nil
	}
	switch n {
	case "TERM":
		return syscall.SIGTERM, nil
	case "INT":
		return syscall.SIGINT, nil
	case "HUP":
		return syscall.SIGHUP, nil
	case "QUIT":
		return syscall.SIGQUIT, nil
	case "KILL":
		return syscall.SIGKILL, nil
	case "USR1":
		return syscall.SIGUSR1, nil
	case "USR2":
		return syscall.SIGUSR2, nil
	case "WINCH":
		return syscall.SIGWINCH, nil
	}
	return 0, fmt.Errorf("unknown signal %q; expected a name such as TERM, INT, HUP, QUIT, USR1, USR2, KILL or a number", name)
}

// childEnviron is haven's environment for the programs agents run, without
// the variables systemd hands to haven itself (a child that saw
// NOTIFY_SOCKET or LISTEN_FDS could report readiness or take sockets in
// haven's name).
func childEnviron() []string {
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
