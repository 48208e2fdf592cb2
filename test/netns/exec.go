package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Command returns an exec.Cmd that runs argv inside a namespace by way of
// `ip netns exec` (which execs argv, so the process keeps ip's PID). ctx may
// be nil.
func (b *Bed) Command(ctx context.Context, name string, argv ...string) *exec.Cmd {
	b.t.Helper()
	args := append([]string{"netns", "exec", b.NS(name)}, argv...)
	return exec.CommandContext(ctx, "ip", args...)
}

// Exec runs argv inside a namespace and returns its combined output; it is
// killed after the bed's timeout.
func (b *Bed) Exec(name string, argv ...string) (string, error) {
	b.t.Helper()
	return b.ip(append([]string{"netns", "exec", b.NS(name)}, argv...)...)
}

// MustExec is Exec that fails the test on error.
func (b *Bed) MustExec(name string, argv ...string) string {
	b.t.Helper()
	out, err := b.Exec(name, argv...)
	if err != nil {
		b.t.Fatalf("netns: %v", err)
	}
	return out
}

// Proc is a background process the bed started inside a namespace. The bed
// kills it (by PID) at cleanup if it still runs.
type Proc struct {
	NS   string // logical namespace name
	Argv []string
	Cmd  *exec.Cmd

	out  *syncBuffer
	done chan struct{}
	err  error // valid after done is closed
}

// Start runs argv in the background inside a namespace, in its own process
// group, collecting its combined output.
func (b *Bed) Start(name string, argv ...string) *Proc {
	b.t.Helper()
	return b.StartEnv(name, nil, argv...)
}

// StartEnv is Start with extra environment variables ("KEY=value") on top of
// the test process's own.
func (b *Bed) StartEnv(name string, env []string, argv ...string) *Proc {
	b.t.Helper()
	cmd := b.Command(context.Background(), name, argv...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group (signals reach its children and nothing else);
	// SIGKILL if the test process dies without cleanup, so a crashed run
	// leaves no agents behind. (Pdeathsig follows the forking OS thread;
	// Go keeps its threads alive unless a goroutine exits while locked.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("netns: start %v in %s: %v", argv, name, err)
	}
	p := &Proc{NS: name, Argv: argv, Cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	b.mu.Lock()
	b.procs = append(b.procs, p)
	b.mu.Unlock()
	return p
}

// PID is the process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Output returns what the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits at most timeout for the process to end and returns its exit
// error, or an error when it still runs.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("process %d %v still running after %v", p.PID(), p.Argv, timeout)
	}
}

func (p *Proc) waitBounded(d time.Duration) { _ = p.Wait(d) }

func (p *Proc) signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("process %d %v has exited", p.PID(), p.Argv)
	}
	// The process leads its own group (Setpgid), so this reaches its
	// children too, and nothing else.
	if err := syscall.Kill(-p.PID(), sig); err != nil {
		return fmt.Errorf("signal %v to process group %d: %w", sig, p.PID(), err)
	}
	return nil
}

// Kill sends SIGKILL (a crash). Killing an ended process is a no-op.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = p.signal(syscall.SIGKILL)
	}
}

// Term sends SIGTERM (a clean shutdown request).
func (p *Proc) Term() error { return p.signal(syscall.SIGTERM) }

// Stop sends SIGSTOP (the process freezes: a hung node).
func (p *Proc) Stop() error { return p.signal(syscall.SIGSTOP) }

// Cont sends SIGCONT (the frozen process resumes).
func (p *Proc) Cont() error { return p.signal(syscall.SIGCONT) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
