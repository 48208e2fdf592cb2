package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/havenha/haven/engine/model"
)

// Config configures a Client.
type Config struct {
	// Path and Args start the guard process (Args[0] is what ps shows):
	// usually "/proc/self/exe" (works even when the binary was replaced on
	// disk) and ["haven", "guard", "--node", NAME].
	Path string
	Args []string
	// Stderr is the guard's standard output and error: the agent's own
	// standard error, so the guard's lines land in the agent's log (an
	// *os.File, handed over as is: the guard writes to it after the agent
	// died, so no copying goroutine in the agent may sit in between).
	Stderr *os.File
	// Logger gets the client's lines; nil discards.
	Logger *slog.Logger
	// RestartDelay is the pause before restarting a guard that exited on
	// its own. Default 1s.
	RestartDelay time.Duration
	// ExitWait bounds how long Run waits for the guard to exit when its
	// context ends (the guard may be tearing down). Default 30s.
	ExitWait time.Duration
}

// Validate names every problem in c.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" || len(c.Args) == 0 {
		errs = append(errs, errors.New("guard: Path and Args are empty; expected the haven binary and its guard subcommand"))
	}
	if c.Stderr == nil {
		errs = append(errs, errors.New("guard: Stderr is nil; expected the agent's standard error (an *os.File)"))
	}
	if c.RestartDelay < 0 || c.ExitWait < 0 {
		errs = append(errs, errors.New("guard: RestartDelay and ExitWait must not be negative"))
	}
	return errors.Join(errs...)
}

// Client is the agent's side: it starts and supervises the guard process
// and implements model.Guard. Hold, Release, TeardownAll and Bye are safe
// for concurrent use and never block on the guard for long (one write to a
// pipe the guard keeps reading). Arm and Disarm never block at all: they
// record the newest state, which Run's writer sends.
type Client struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	held map[string]model.Teardown
	w    *os.File // the running guard's pipe; nil when none runs
	pid  int
	bye  bool // Bye was called: the guard exits and is not restarted
	// broken: a write failed; logged once until the guard is restarted.
	broken bool
	// pending: a TeardownAll asked while no guard ran (its reason), sent
	// to the next guard.
	pending string

	// sentDL and sentGrace: the watchdog state the running guard last got
	// (0: disarmed, as a fresh guard is).
	sentDL    int64
	sentGrace time.Duration

	// The watchdog's newest state, under its own lock (Arm is called
	// under the lease's lock, and never waits for mu, which a write to
	// the pipe may hold).
	armMu    sync.Mutex
	armDL    int64 // CLOCK_MONOTONIC ns; 0: disarmed
	armGrace time.Duration
	armKick  chan struct{} // capacity 1: wakes the writer

	ready     chan struct{}
	readyOnce sync.Once
}

var _ model.Guard = (*Client)(nil)

// New checks cfg and returns a client; no I/O.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RestartDelay == 0 {
		cfg.RestartDelay = time.Second
	}
	if cfg.ExitWait == 0 {
		cfg.ExitWait = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, log: log, held: map[string]model.Teardown{}, ready: make(chan struct{}), armKick: make(chan struct{}, 1)}, nil
}

// Ready is closed once the first guard process runs.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// PID is the running guard's process id, or 0.
func (c *Client) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid
}

// Held lists the keys held, sorted.
func (c *Client) Held() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return keys(c.held)
}

// Run starts the guard and keeps one running until ctx ends: a guard that
// exits on its own is logged and restarted with everything held and the
// current arm. It also runs the writer that sends Arm and Disarm. When ctx
// ends it closes the pipe: after Bye the guard has already gone quietly;
// without Bye the guard tears down whatever is still held (as after a
// crash) — the right end for an agent that stops after a failure without
// stopping its resources. It returns an error only when the first guard
// cannot be started.
func (c *Client) Run(ctx context.Context) error {
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go c.armWriter(wctx)
	first := true
	for {
		c.mu.Lock()
		bye := c.bye
		c.mu.Unlock()
		if bye {
			<-ctx.Done()
			return nil
		}
		cmd, w, err := c.start()
		if err != nil {
			if first {
				return err
			}
			c.log.Error("guard: cannot restart the guard; a crash of this agent would leave its resources running", "err", err)
			if !sleepCtx(ctx, c.cfg.RestartDelay) {
				return nil
			}
			continue
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		c.mu.Lock()
		c.w, c.pid, c.broken = w, cmd.Process.Pid, false
		for _, k := range keys(c.held) {
			t := c.held[k]
			c.writeLocked(Msg{Op: OpHold, Key: k, Kind: t.Kind, Args: t.Args})
		}
		if c.pending != "" {
			c.writeLocked(Msg{Op: OpTeardown, Reason: c.pending})
			c.held, c.pending = map[string]model.Teardown{}, ""
		}
		c.sentDL, c.sentGrace = 0, 0 // a new guard: it gets the current arm, if any
		c.sendArmLocked()
		n := len(c.held)
		c.mu.Unlock()
		if first {
			c.log.Info("guard running: if this agent dies, the guard tears down what its resources hold", "pid", cmd.Process.Pid)
		} else {
			c.log.Warn("guard restarted", "pid", cmd.Process.Pid, "held", n)
		}
		first = false
		c.readyOnce.Do(func() { close(c.ready) })

		select {
		case <-ctx.Done():
			c.mu.Lock()
			bye, held := c.bye, keys(c.held)
			c.closeLocked()
			c.mu.Unlock()
			if !bye && len(held) > 0 {
				c.log.Error("guard: the agent stops without an orderly stop of its resources; the guard tears down what is still held", "held", held)
			}
			select {
			case <-exited:
			case <-time.After(c.cfg.ExitWait):
				c.log.Warn("guard still running; leaving it to finish", "pid", cmd.Process.Pid)
			}
			return nil
		case err := <-exited:
			c.mu.Lock()
			bye := c.bye
			c.closeLocked()
			c.mu.Unlock()
			if bye {
				<-ctx.Done()
				return nil
			}
			c.log.Error("guard: the guard process exited on its own; restarting it", "err", err, "after", c.cfg.RestartDelay)
			if !sleepCtx(ctx, c.cfg.RestartDelay) {
				return nil
			}
		}
	}
}

// start starts one guard process with a fresh pipe on its standard input.
func (c *Client) start() (*exec.Cmd, *os.File, error) {
	r, w, err := os.Pipe() // both ends close-on-exec: no other child inherits w
	if err != nil {
		return nil, nil, fmt.Errorf("start guard: pipe: %w", err)
	}
	cmd := &exec.Cmd{Path: c.cfg.Path, Args: c.cfg.Args, Stdin: r, Stdout: c.cfg.Stderr, Stderr: c.cfg.Stderr}
	// Its own process group: a signal to the agent's group (a terminal's
	// ^C, a test killing the agent's group) does not reach it. No
	// Pdeathsig: it must outlive the agent to do its job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close() // the guard has its copy
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("start guard %s %v: %w", c.cfg.Path, c.cfg.Args[1:], err)
	}
	return cmd, w, nil
}

func (c *Client) closeLocked() {
	if c.w != nil {
		_ = c.w.Close()
	}
	c.w, c.pid = nil, 0
}

// writeLocked sends one message to the running guard, if any.
func (c *Client) writeLocked(m Msg) {
	if c.w == nil {
		return
	}
	b, err := json.Marshal(m)
	if err == nil {
		err = rawWrite(c.w, append(b, '\n'))
	}
	if err != nil && !c.broken {
		c.broken = true
		c.log.Error("guard: cannot reach the guard; a crash of this agent would leave its resources running until it is back", "op", m.Op, "key", m.Key, "err", err)
	}
}

// Hold records a teardown for key (model.Guard); holding the same
// teardown again sends nothing.
func (c *Client) Hold(key string, t model.Teardown) {
	if c == nil || key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.held[key]; ok && old.Kind == t.Kind && reflect.DeepEqual(old.Args, t.Args) {
		return
	}
	c.held[key] = t
	c.sendArmLocked() // the first hold: the guard gets the current deadline first
	c.writeLocked(Msg{Op: OpHold, Key: key, Kind: t.Kind, Args: t.Args})
}

// Release forgets key (model.Guard).
func (c *Client) Release(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[key]; !ok {
		return
	}
	delete(c.held, key)
	c.writeLocked(Msg{Op: OpRelease, Key: key})
	c.sendArmLocked() // the last release: the guard is disarmed
}

// TeardownAll asks the guard to tear down everything held now (the
// watchdog's part when a stop is overdue) and forgets it. It returns the
// keys it asked for.
func (c *Client) TeardownAll(reason string) []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := keys(c.held)
	if len(ks) == 0 {
		return nil
	}
	if c.w == nil {
		c.log.Error("guard: asked to tear down while no guard runs; the next guard will", "reason", reason, "held", ks)
		c.pending = reason
		return ks
	}
	c.writeLocked(Msg{Op: OpTeardown, Reason: reason})
	c.held = map[string]model.Teardown{}
	c.sendArmLocked() // holds nothing now: disarmed
	return ks
}

// Arm sets the guard's watchdog to this node's lease deadline: if
// deadline + grace passes (on the machine's monotonic clock) without a
// newer Arm, the guard tears down everything held, as TeardownAll would
// (the agent may be frozen and unable to stop its resources). A zero
// deadline disarms. It never blocks: only the newest state is kept, and
// Run's writer sends it (and hands it to a restarted guard).
func (c *Client) Arm(deadline time.Time, grace time.Duration) {
	if c == nil {
		return
	}
	if deadline.IsZero() {
		c.Disarm()
		return
	}
	// time.Time's monotonic reading is not exported: convert through the
	// distance from now, read right next to CLOCK_MONOTONIC.
	dl := MonotonicNow() + int64(time.Until(deadline))
	if dl <= 0 {
		dl = 1
	}
	c.setArm(dl, max(grace, 0))
}

// Disarm stops the guard's watchdog (a lapse of the lease does not stop
// the resources now: no_quorum_policy freeze or ignore, maintenance). It
// never blocks.
func (c *Client) Disarm() {
	if c == nil {
		return
	}
	c.setArm(0, 0)
}

// Armed returns the newest watchdog state: the deadline on CLOCK_MONOTONIC
// (ns; 0 when disarmed) and the grace.
func (c *Client) Armed() (deadline int64, grace time.Duration) {
	if c == nil {
		return 0, 0
	}
	c.armMu.Lock()
	defer c.armMu.Unlock()
	return c.armDL, c.armGrace
}

func (c *Client) setArm(dl int64, grace time.Duration) {
	c.armMu.Lock()
	c.armDL, c.armGrace = dl, grace
	c.armMu.Unlock()
	select {
	case c.armKick <- struct{}{}:
	default: // a wake-up is pending: the writer reads the newest state
	}
}

// armWriter sends the newest watchdog state to the guard each time it
// changes, until ctx ends.
func (c *Client) armWriter(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.armKick:
			c.mu.Lock()
			c.sendArmLocked()
			c.mu.Unlock()
		}
	}
}

// sendArmLocked sends the watchdog's state to the running guard unless it
// has it already (a fresh guard is disarmed: a disarm is not sent).
//
// While the agent holds nothing the guard is kept disarmed instead: its
// watchdog would have nothing to tear down, and an idle node's lease is
// extended every lease/8, each extension a write to the pipe and a wake-up
// of both processes (about a tenth of a percent of a core each on lan). A
// Hold sends the current deadline before the teardown it records.
func (c *Client) sendArmLocked() {
	if c.w == nil || c.bye {
		return
	}
	c.armMu.Lock()
	dl, grace := c.armDL, c.armGrace
	c.armMu.Unlock()
	idle := dl != 0 && len(c.held) == 0
	if idle {
		dl, grace = 0, 0
	}
	if dl == c.sentDL && grace == c.sentGrace {
		return
	}
	switch {
	case dl != 0:
		c.writeLocked(Msg{Op: OpArm, Deadline: dl, Grace: int64(grace)})
	case idle:
		c.writeLocked(Msg{Op: OpDisarm, Reason: ReasonIdle})
	default:
		c.writeLocked(Msg{Op: OpDisarm})
	}
	c.sentDL, c.sentGrace = dl, grace
}

// Bye tells the guard the agent stops in order (its resources were
// stopped): the guard exits without tearing anything down and is not
// restarted. What is still held stays as it is.
func (c *Client) Bye() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bye {
		return
	}
	c.bye = true
	c.writeLocked(Msg{Op: OpBye})
	c.closeLocked()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
