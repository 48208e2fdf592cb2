package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
)

// ExecType is the `exec` resource type: a supervised long-running process.
type ExecType struct{}

// execParams are exec's params.
type execParams struct {
	Command      []string       `json:"command"`
	Env          map[string]any `json:"env,omitempty"`
	Dir          string         `json:"dir,omitempty"`
	User         string         `json:"user,omitempty"`
	Log          string         `json:"log,omitempty"`
	StopSignal   string         `json:"stop_signal,omitempty"`
	StopTimeout  model.Duration `json:"stop_timeout,omitempty"`
	StartupGrace model.Duration `json:"startup_grace,omitempty"`
	Check        *execCheck     `json:"check,omitempty"`
}

// execCheck is the optional health check: exactly one of Command, TCP, HTTP.
type execCheck struct {
	Command []string       `json:"command,omitempty"`
	TCP     string         `json:"tcp,omitempty"`
	HTTP    string         `json:"http,omitempty"`
	Timeout model.Duration `json:"timeout,omitempty"`
}

const (
	defaultStopTimeout  = 10 * time.Second
	defaultStartupGrace = time.Second
	defaultCheckTimeout = 5 * time.Second
	pidFileName         = "exec.pid"
)

// Defaults returns exec's operation defaults.
func (ExecType) Defaults() model.OpDefaults { return agentkit.DefaultOps }

// Validate checks exec's params.
func (ExecType) Validate(params map[string]any) []model.ParamProblem {
	_, ps := decodeExec(params)
	return ps
}

func decodeExec(params map[string]any) (execParams, []model.ParamProblem) {
	var p execParams
	if ps := agentkit.DecodeProblems(params, &p); ps != nil {
		return p, ps
	}
	var ps []model.ParamProblem
	add := func(k, f string, a ...any) { ps = append(ps, model.ParamProblem{Key: k, Msg: fmt.Sprintf(f, a...)}) }
	if len(p.Command) == 0 || p.Command[0] == "" {
		add("command", "required: the program and its arguments as a list, e.g. [/usr/sbin/nginx, -g, 'daemon off;']")
	}
	for _, k := range sortedKeys(p.Env) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			add("env", "variable name %q is not valid; expected a name without '='", k)
		}
		if _, err := scalarText(p.Env[k]); err != nil {
			add("env", "%s: %v", k, err)
		}
	}
	if p.Dir != "" && !filepath.IsAbs(p.Dir) {
		add("dir", "%q is relative; expected an absolute path", p.Dir)
	}
	if p.Log != "" && !filepath.IsAbs(p.Log) {
		add("log", "%q is relative; expected an absolute path", p.Log)
	}
	if p.StopSignal != "" {
		if _, err := signalByName(p.StopSignal); err != nil {
			add("stop_signal", "%v", err)
		}
	}
	if c := p.Check; c != nil {
		n := 0
		if len(c.Command) > 0 {
			n++
			if c.Command[0] == "" {
				add("check", "command: expected a program and its arguments")
			}
		}
		if c.TCP != "" {
			n++
			if _, port, err := net.SplitHostPort(c.TCP); err != nil || port == "" {
				add("check", "tcp %q: expected host:port", c.TCP)
			}
		}
		if c.HTTP != "" {
			n++
			u, err := url.Parse(c.HTTP)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("check", "http %q: expected an http:// or https:// URL", c.HTTP)
			}
		}
		if n != 1 {
			add("check", "expected exactly one of command, tcp or http (found %d)", n)
		}
	}
	return p, ps
}

// New builds an exec agent (no I/O).
func (ExecType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	p, ps := decodeExec(res.Params)
	if err := agentkit.ProblemsErr("exec", ps); err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.ID, err)
	}
	if env.DataDir == "" {
		return nil, fmt.Errorf("resource %s: exec needs a data directory for its pid file: %w", res.ID, ErrNotConfigured)
	}
	sig := syscall.SIGTERM
	if p.StopSignal != "" {
		sig, _ = signalByName(p.StopSignal)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &execAgent{res: res, env: env, p: p, sig: sig, log: log.With("resource", res.ID, "agent", "exec")}, nil
}

// execAgent supervises one process (and its process group).
type execAgent struct {
	res model.Resource
	env model.AgentEnv
	p   execParams
	sig syscall.Signal
	log *slog.Logger

	mu    sync.Mutex
	child *execChild // the process this instance started, if any
}

// execChild is a process started by this agent instance; a goroutine reaps it.
type execChild struct {
	pid  int
	done chan struct{}
	err  error // Wait's result, set before done is closed
}

func (c *execChild) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// pidRecord is the pid file: enough to find the process again after haven
// restarts without mistaking a reused pid for it.
type pidRecord struct {
	PID       int       `json:"pid"`
	StartTime uint64    `json:"start_time"` // /proc/PID/stat field 22
	BootID    string    `json:"boot_id"`
	Command   []string  `json:"command"`
	Started   time.Time `json:"started"`
}

func (a *execAgent) pidPath() string { return filepath.Join(a.env.DataDir, pidFileName) }

func (a *execAgent) logPath() string {
	if a.p.Log != "" {
		return a.p.Log
	}
	return filepath.Join(a.env.DataDir, a.res.ID+".log")
}

func (a *execAgent) readPid() (*pidRecord, error) {
	b, err := os.ReadFile(a.pidPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pid file: %w", err)
	}
	var r pidRecord
	if err := json.Unmarshal(b, &r); err != nil || r.PID <= 1 {
		// A torn or foreign file: treat as no record, but say so.
		a.log.Warn("ignoring unreadable pid file", "path", a.pidPath(), "err", err)
		return nil, nil
	}
	if r.BootID != "" && r.BootID != agentkit.BootID() {
		// Written before a reboot: nothing of it runs. Like state in /run,
		// it is forgotten (stopped, not failed).
		a.log.Info("forgetting pid file from an earlier boot", "pid", r.PID)
		_ = os.Remove(a.pidPath())
		return nil, nil
	}
	return &r, nil
}

func (a *execAgent) writePid(r pidRecord) error {
	b, _ := json.Marshal(r)
	tmp := a.pidPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, a.pidPath()); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// liveness says whether the recorded process still runs, and if not, why.
// reused is true when the pid now belongs to another process.
func (a *execAgent) liveness(r *pidRecord) (alive, reused bool, why string) {
	if r.BootID != "" && r.BootID != agentkit.BootID() {
		return false, false, "was started before this machine rebooted"
	}
	c := a.child
	if c != nil && c.pid != r.PID {
		c = nil
	}
	if c != nil && c.exited() {
		return false, false, exitText(c.err)
	}
	// exitStatus waits briefly for our reaper to learn how our child ended.
	exitStatus := func(fallback string) string {
		if c == nil {
			return fallback
		}
		select {
		case <-c.done:
			return exitText(c.err)
		case <-time.After(200 * time.Millisecond):
			return fallback
		}
	}
	st, err := readProcStat(r.PID)
	if err != nil {
		return false, false, exitStatus("is gone")
	}
	if st.StartTime != r.StartTime {
		return false, true, "is gone (its pid now belongs to another process)"
	}
	if st.State == 'Z' || st.State == 'X' {
		return false, false, exitStatus("exited")
	}
	return true, false, ""
}

func exitText(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return "exited with status " + strconv.Itoa(ee.ExitCode())
	}
	return err.Error()
}

// Start starts the process unless it already runs, then waits until it is
// healthy: its check passes, or without a check it stays up for
// startup_grace. A failed start leaves a live process for Stop to clean up
// (the controller stops a resource whose start failed, as Pacemaker does).
func (a *execAgent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.readPid()
	if err != nil {
		return err
	}
	if r != nil {
		alive, reused, why := a.liveness(r)
		if alive {
			a.log.Debug("already running", "pid", r.PID)
			a.hold(r)
			return a.waitHealthy(ctx, r)
		}
		a.log.Info("previous process is not running; starting anew", "pid", r.PID, "reason", why)
		if err := a.terminate(ctx, r, alive, reused); err != nil {
			return err
		}
		_ = os.Remove(a.pidPath())
		a.release()
	}
	r, err = a.spawn()
	if err != nil {
		return err
	}
	return a.waitHealthy(ctx, r)
}

// environ is haven's environment plus HAVEN_RESOURCE and HAVEN_NODE plus the
// resource's env (which wins).
func (a *execAgent) environ(u *user.User) []string {
	env := agentkit.ChildEnviron()
	env = append(env, "HAVEN_RESOURCE="+a.res.ID, "HAVEN_NODE="+a.env.Node)
	if u != nil {
		env = append(env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	for _, k := range sortedKeys(a.p.Env) {
		v, _ := scalarText(a.p.Env[k])
		env = append(env, k+"="+v)
	}
	return env // later entries win in os/exec's dedupe
}

func (a *execAgent) credential() (*syscall.Credential, *user.User, error) {
	if a.p.User == "" {
		return nil, nil, nil
	}
	u, err := user.Lookup(a.p.User)
	if err != nil {
		if u2, err2 := user.LookupId(a.p.User); err2 == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("user %q: %v: %w", a.p.User, err, ErrNotInstalled)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, u, nil
}

func (a *execAgent) spawn() (*pidRecord, error) {
	cred, u, err := a.credential()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(a.env.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	lp := a.logPath()
	if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	lf, err := os.OpenFile(lp, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	defer lf.Close() // the child has its own descriptor
	fmt.Fprintf(lf, "=== haven: starting %s at %s: %q\n", a.res.ID, time.Now().Format(time.RFC3339), a.p.Command)
	cmd := exec.Command(a.p.Command[0], a.p.Command[1:]...)
	cmd.Dir = a.p.Dir
	cmd.Env = a.environ(u)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group, so Stop reaches every process it forks. No
	// Pdeathsig (it would follow the forking thread, not the agent): a
	// graceful stop of haven stops the resource first, and a crashed
	// agent's guard kills the group (env.Guard, held below). Without a
	// guard the process outlives its agent and a restarted agent finds it
	// again by its pid file.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("start %q: %v: %w", a.p.Command[0], err, ErrNotInstalled)
		}
		return nil, fmt.Errorf("start %q: %w", a.p.Command[0], err)
	}
	c := &execChild{pid: cmd.Process.Pid, done: make(chan struct{})}
	rec := pidRecord{PID: c.pid, BootID: agentkit.BootID(), Command: a.p.Command, Started: time.Now().UTC()}
	if st, err := readProcStat(c.pid); err == nil {
		rec.StartTime = st.StartTime
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	a.child = c
	if err := a.writePid(rec); err != nil {
		// Without a record the process could not be found again: undo.
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		<-c.done
		return nil, err
	}
	a.hold(&rec)
	a.log.Info("started", "pid", c.pid, "log", lp)
	return &rec, nil
}

// waitHealthy waits until pid passes the check (or, without one, has stayed
// up for startup_grace), until it dies, or until ctx ends.
func (a *execAgent) waitHealthy(ctx context.Context, r *pidRecord) error {
	pid := r.PID
	dead := func() (bool, string) {
		alive, _, why := a.liveness(r)
		return !alive, why
	}
	fail := func(why string) error {
		msg := fmt.Sprintf("process %d %s during start", pid, why)
		if t := agentkit.TailPath(a.logPath(), 400); t != "" {
			msg += "; log " + a.logPath() + " ends with: " + t
		}
		return errors.New(msg)
	}
	if a.p.Check == nil {
		grace := a.p.StartupGrace.D()
		if grace == 0 {
			grace = defaultStartupGrace
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl)/2 < grace {
			grace = time.Until(dl) / 2
		}
		end := time.Now().Add(grace)
		for time.Now().Before(end) {
			if d, why := dead(); d {
				return fail(why)
			}
			if !agentkit.SleepCtx(ctx, min(50*time.Millisecond, time.Until(end))) {
				break
			}
		}
		if d, why := dead(); d {
			return fail(why)
		}
		return nil
	}
	var last error
	backoff := 50 * time.Millisecond
	for {
		if d, why := dead(); d {
			return fail(why)
		}
		if last = a.check(ctx); last == nil {
			a.log.Debug("check passed", "pid", pid)
			return nil
		}
		if !agentkit.SleepCtx(ctx, backoff) {
			return fmt.Errorf("process %d runs but its check did not pass within the start timeout: %v", pid, last)
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// Monitor reports stopped when no process was started (or it was stopped),
// failed when the recorded process died or its check fails, else running.
func (a *execAgent) Monitor(ctx context.Context) (model.Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.readPid()
	if err != nil {
		return model.StatusStopped, err
	}
	if r == nil {
		return model.StatusStopped, nil
	}
	alive, _, why := a.liveness(r)
	if !alive {
		msg := fmt.Sprintf("process %d %s while it should run", r.PID, why)
		if t := agentkit.TailPath(a.logPath(), 300); t != "" {
			msg += "; log ends with: " + t
		}
		return model.StatusFailed, errors.New(msg)
	}
	a.hold(r) // a process found again after a restart of haven
	if err := a.check(ctx); err != nil {
		return model.StatusFailed, fmt.Errorf("process %d runs but its check fails: %w", r.PID, err)
	}
	return model.StatusRunning, nil
}

// Stop sends stop_signal to the process group, waits up to stop_timeout
// (never past the operation's deadline, keeping time for SIGKILL), then
// kills the group, and removes the pid file. Stopping a stopped resource
// succeeds.
func (a *execAgent) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.readPid()
	if err != nil {
		return err
	}
	if r == nil {
		a.release()
		return nil
	}
	alive, reused, _ := a.liveness(r)
	if err := a.terminate(ctx, r, alive, reused); err != nil {
		return err
	}
	if err := os.Remove(a.pidPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove pid file: %w", err)
	}
	a.release()
	a.log.Info("stopped", "pid", r.PID)
	return nil
}

// guardKey names this instance's hold in the guard (its data directory is
// unique on the node).
func (a *execAgent) guardKey() string { return "exec " + a.env.DataDir }

// hold asks the guard, if any, to kill the process group if haven dies.
func (a *execAgent) hold(r *pidRecord) {
	if a.env.Guard == nil {
		return
	}
	kind, args := guard.KillGroupTeardown(r.PID, r.StartTime)
	a.env.Guard.Hold(a.guardKey(), model.Teardown{Kind: kind, Args: args})
}

// release tells the guard the process group is gone.
func (a *execAgent) release() {
	if a.env.Guard != nil {
		a.env.Guard.Release(a.guardKey())
	}
}

// terminate ends the recorded process group. A group whose leader died is
// still signalled (forked children may linger) unless the leader's pid was
// reused, in which case the group id may now name someone else's group.
func (a *execAgent) terminate(ctx context.Context, r *pidRecord, alive, reused bool) error {
	pgid := r.PID
	if r.BootID != "" && r.BootID != agentkit.BootID() {
		return nil
	}
	if !alive && reused {
		return nil
	}
	if !alive && len(groupMembers(pgid)) == 0 {
		return nil
	}
	a.log.Info("stopping", "pgid", pgid, "signal", a.sig.String())
	_ = syscall.Kill(-pgid, a.sig)
	grace := a.p.StopTimeout.D()
	if grace == 0 {
		grace = defaultStopTimeout
	}
	killAt := time.Now().Add(grace)
	if dl, ok := ctx.Deadline(); ok {
		margin := min(2*time.Second, time.Until(dl)/4)
		if dl.Add(-margin).Before(killAt) {
			killAt = dl.Add(-margin)
		}
	}
	gone := func() bool {
		if c := a.child; c != nil && c.pid == r.PID && !c.exited() {
			return false
		}
		return len(groupMembers(pgid)) == 0
	}
	killed := false
	// Most services exit within milliseconds of the signal: look again
	// soon, then back off to 25 ms (a planned move waits for this stop).
	pause := time.Millisecond
	for {
		if gone() {
			return nil
		}
		if !killed && !time.Now().Before(killAt) {
			a.log.Warn("still running after stop signal; sending SIGKILL", "pgid", pgid, "members", groupMembers(pgid))
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed = true
		}
		if !agentkit.SleepCtx(ctx, pause) {
			return fmt.Errorf("process group %d still has processes %v when the stop timeout ended: %w", pgid, groupMembers(pgid), ctx.Err())
		}
		pause = min(2*pause, 25*time.Millisecond)
	}
}

// groupMembers lists the live (non-zombie) processes of process group pgid.
func groupMembers(pgid int) []int {
	if pgid <= 1 {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.PGID != pgid || st.State == 'Z' || st.State == 'X' {
			continue
		}
		out = append(out, pid)
	}
	return out
}
