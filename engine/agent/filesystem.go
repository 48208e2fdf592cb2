package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
)

// FilesystemType is the `filesystem` resource type: mount a device on a
// directory (Pacemaker's ocf:heartbeat:Filesystem, for local filesystems).
type FilesystemType struct{}

type fsParams struct {
	Device       string `json:"device"`
	Directory    string `json:"directory"`
	FSType       string `json:"fstype,omitempty"`
	Options      string `json:"options,omitempty"`
	ForceUnmount *bool  `json:"force_unmount,omitempty"`
	LazyUnmount  bool   `json:"lazy_unmount,omitempty"`
	CheckLevel   int    `json:"check_level,omitempty"`
}

// Defaults returns filesystem's operation defaults (Filesystem's 60s for
// start and stop: fsck and busy unmounts take time).
func (FilesystemType) Defaults() model.OpDefaults {
	d := agentkit.DefaultOps
	d.StartTimeout = model.Duration(60 * time.Second)
	d.StopTimeout = model.Duration(60 * time.Second)
	return d
}

// Validate checks filesystem's params.
func (FilesystemType) Validate(params map[string]any) []model.ParamProblem {
	_, ps := decodeFS(params)
	return ps
}

func decodeFS(params map[string]any) (fsParams, []model.ParamProblem) {
	var p fsParams
	if ps := agentkit.DecodeProblems(params, &p); ps != nil {
		return p, ps
	}
	var ps []model.ParamProblem
	if strings.TrimSpace(p.Device) == "" {
		ps = append(ps, model.ParamProblem{Key: "device", Msg: "required: a block device, an image file, LABEL=…/UUID=…, host:/export or a pseudo source such as tmpfs"})
	}
	if p.Directory == "" || !filepath.IsAbs(p.Directory) || filepath.Clean(p.Directory) == "/" {
		ps = append(ps, model.ParamProblem{Key: "directory", Msg: fmt.Sprintf("%q: expected an absolute mount point other than /", p.Directory)})
	}
	if strings.ContainsAny(p.FSType, " ,\t") {
		ps = append(ps, model.ParamProblem{Key: "fstype", Msg: fmt.Sprintf("%q: expected one filesystem type such as ext4, xfs, tmpfs or nfs", p.FSType)})
	}
	switch p.CheckLevel {
	case 0, 10, 20:
	default:
		ps = append(ps, model.ParamProblem{Key: "check_level", Msg: fmt.Sprintf("%d: expected 0 (mount table), 10 (read the directory) or 20 (write and read a file)", p.CheckLevel)})
	}
	return p, ps
}

// New builds a filesystem agent (no I/O).
func (FilesystemType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	p, ps := decodeFS(res.Params)
	if err := agentkit.ProblemsErr("filesystem", ps); err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.ID, err)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p.Directory = filepath.Clean(p.Directory)
	return &fsAgent{p: p, node: env.Node, guard: env.Guard, log: log.With("resource", res.ID, "agent", "filesystem")}, nil
}

type fsAgent struct {
	p     fsParams
	node  string
	guard model.Guard // may be nil
	log   *slog.Logger
}

// hold asks the guard, if any, to unmount the directory if haven dies;
// release forgets it after a stop.
func (a *fsAgent) hold() {
	if a.guard != nil {
		a.guard.Hold("filesystem "+a.p.Directory, model.Teardown{Kind: guard.KindUnmount, Args: map[string]string{"directory": a.mountPoint()}})
	}
}

func (a *fsAgent) release() {
	if a.guard != nil {
		a.guard.Release("filesystem " + a.p.Directory)
	}
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Major, Minor uint32
	Point        string
	FSType       string
	Source       string
}

// readMounts parses /proc/self/mountinfo.
func readMounts() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+3 {
			continue
		}
		var e mountEntry
		if maj, min, ok := strings.Cut(f[2], ":"); ok {
			a, _ := strconv.ParseUint(maj, 10, 32)
			b, _ := strconv.ParseUint(min, 10, 32)
			e.Major, e.Minor = uint32(a), uint32(b)
		}
		e.Point = unescapeMount(f[4])
		e.FSType = f[sep+1]
		e.Source = unescapeMount(f[sep+2])
		out = append(out, e)
	}
	return out, nil
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space…).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountPoint is the directory with the symlinks of its parent resolved (the
// kernel records resolved paths). The directory itself is not stat'ed: if a
// dead NFS server is mounted there, that would hang.
func (a *fsAgent) mountPoint() string {
	parent, base := filepath.Split(a.p.Directory)
	if r, err := filepath.EvalSymlinks(parent); err == nil {
		return filepath.Join(r, base)
	}
	return a.p.Directory
}

// top returns the visible (last) mount on the directory, if any.
func (a *fsAgent) top() (*mountEntry, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	dir := a.mountPoint()
	var found *mountEntry
	for i := range ms {
		if ms[i].Point == dir {
			found = &ms[i]
		}
	}
	return found, nil
}

// matches reports whether mount e is of this resource's device.
func (a *fsAgent) matches(e *mountEntry) bool {
	dev := resolveTag(a.p.Device)
	if strings.HasPrefix(dev, "/") {
		path := dev
		if r, err := filepath.EvalSymlinks(dev); err == nil {
			path = r
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFBLK:
				if unix.Major(st.Rdev) == e.Major && unix.Minor(st.Rdev) == e.Minor {
					return true
				}
				// btrfs and some others report an anonymous device number:
				// compare the source path too.
				src := e.Source
				if r, err := filepath.EvalSymlinks(src); err == nil {
					src = r
				}
				return src == path
			case unix.S_IFREG:
				// An image file mounted through a loop device.
				if loop, ok := strings.CutPrefix(e.Source, "/dev/"); ok && strings.HasPrefix(loop, "loop") {
					b, err := os.ReadFile("/sys/block/" + loop + "/loop/backing_file")
					return err == nil && strings.TrimSpace(string(b)) == path
				}
				return e.Source == path
			}
		}
		return e.Source == path || e.Source == dev
	}
	return e.Source == dev
}

// resolveTag turns LABEL=, UUID=, PARTUUID= and PARTLABEL= into a device
// path: through udev's /dev/disk/by-* links, else (containers have no udev)
// by asking blkid. Anything else, or a tag nobody has, is returned as is.
func resolveTag(dev string) string {
	for _, tag := range []string{"LABEL", "UUID", "PARTUUID", "PARTLABEL"} {
		v, ok := strings.CutPrefix(dev, tag+"=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"`)
		link := "/dev/disk/by-" + strings.ToLower(tag) + "/" + v
		if _, err := os.Stat(link); err == nil {
			return link
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cmd := exec.Command("blkid", "-o", "device", "-t", tag+"="+v)
		cmd.Env = append(agentkit.ChildEnviron(), "LC_ALL=C")
		if code, out, err := agentkit.RunOutput(ctx, cmd, 4096); err == nil && code == 0 {
			if lines := strings.Fields(out); len(lines) == 1 {
				return lines[0]
			}
		}
		return dev
	}
	return dev
}

func (a *fsAgent) describe(e *mountEntry) string {
	return fmt.Sprintf("%s (%s, device %d:%d)", e.Source, e.FSType, e.Major, e.Minor)
}

// Start mounts the device unless it already is mounted there. Something
// else mounted on the directory is an error naming it.
func (a *fsAgent) Start(ctx context.Context) error {
	e, err := a.top()
	if err != nil {
		return err
	}
	if e != nil {
		if !a.matches(e) {
			return fmt.Errorf("%s already has %s mounted; expected %s: unmount it first", a.p.Directory, a.describe(e), a.p.Device)
		}
		if a.p.FSType != "" && e.FSType != a.p.FSType {
			return fmt.Errorf("%s has %s mounted as %s; expected fstype %s", a.p.Directory, a.p.Device, e.FSType, a.p.FSType)
		}
		a.hold()
		return nil
	}
	if err := os.MkdirAll(a.p.Directory, 0o755); err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	argv := []string{"mount"}
	if a.p.FSType != "" {
		argv = append(argv, "-t", a.p.FSType)
	}
	if a.p.Options != "" {
		argv = append(argv, "-o", a.p.Options)
	}
	argv = append(argv, a.p.Device, a.p.Directory)
	if err := a.runTool(ctx, argv); err != nil {
		return err
	}
	e, err = a.top()
	if err != nil {
		return err
	}
	a.hold() // mounted, whatever the check below finds: Stop releases it
	if e == nil || !a.matches(e) {
		return fmt.Errorf("mount %s on %s reported success but the mount table does not show it", a.p.Device, a.p.Directory)
	}
	a.log.Info("mounted", "device", a.p.Device, "directory", a.p.Directory, "fstype", e.FSType)
	return nil
}

func (a *fsAgent) runTool(ctx context.Context, argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%s: %v (install util-linux): %w", argv[0], err, ErrNotInstalled)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Env = append(agentkit.ChildEnviron(), "LC_ALL=C")
	code, out, err := agentkit.RunOutput(ctx, cmd, 1000)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if code != 0 {
		return fmt.Errorf("%s: exit status %d: %s", strings.Join(argv, " "), code, out)
	}
	return nil
}

// Stop unmounts the device from the directory (every stacked mount of it).
// When busy and force_unmount is on (the default, like Filesystem's), the
// processes using the filesystem get SIGTERM, then from the third try
// SIGKILL. With lazy_unmount a last try detaches it lazily (umount -l)
// before the stop timeout ends. Not mounted is success.
func (a *fsAgent) Stop(ctx context.Context) error {
	force := a.p.ForceUnmount == nil || *a.p.ForceUnmount
	var last error
	for try := 0; ; try++ {
		e, err := a.top()
		if err != nil {
			return err
		}
		if e == nil {
			a.release()
			return nil
		}
		if !a.matches(e) {
			// Only ours is unmounted; is ours hidden underneath?
			if a.mountedBelow() {
				return fmt.Errorf("%s is mounted on %s underneath %s; unmount that first", a.p.Device, a.p.Directory, a.describe(e))
			}
			a.release()
			return nil
		}
		err = unix.Unmount(a.mountPoint(), 0)
		if err == nil {
			a.log.Info("unmounted", "directory", a.p.Directory)
			continue
		}
		last = fmt.Errorf("unmount %s: %w", a.p.Directory, err)
		if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOENT) {
			continue // raced with another unmount; look again
		}
		if force && errors.Is(err, syscall.EBUSY) {
			sig := syscall.SIGTERM
			if try >= 2 {
				sig = syscall.SIGKILL
			}
			users := mountUsers(e.Major, e.Minor)
			a.log.Warn("filesystem busy; signalling its users", "directory", a.p.Directory, "signal", sig.String(), "pids", users)
			for _, pid := range users {
				_ = syscall.Kill(pid, sig)
			}
		}
		wait := 200 * time.Millisecond
		if dl, ok := ctx.Deadline(); ok && a.p.LazyUnmount && time.Until(dl) < 2*wait {
			if lerr := unix.Unmount(a.mountPoint(), unix.MNT_DETACH); lerr == nil {
				a.log.Warn("lazily unmounted (the filesystem stays busy until its users close it)", "directory", a.p.Directory)
				continue
			}
		}
		if !agentkit.SleepCtx(ctx, wait) {
			return fmt.Errorf("%w; the stop timeout ended: %w", last, ctx.Err())
		}
	}
}

func (a *fsAgent) mountedBelow() bool {
	ms, err := readMounts()
	if err != nil {
		return false
	}
	dir := a.mountPoint()
	for i := range ms {
		if ms[i].Point == dir && a.matches(&ms[i]) {
			return true
		}
	}
	return false
}

// mountUsers lists processes (other than this one) with a cwd, root,
// executable, open file or mapping on device major:minor (fuser -m).
func mountUsers(major, minor uint32) []int {
	dev := unix.Mkdev(major, minor)
	self := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if procUsesDev(pid, dev, major, minor) {
			out = append(out, pid)
		}
	}
	return out
}

func procUsesDev(pid int, dev uint64, major, minor uint32) bool {
	base := "/proc/" + strconv.Itoa(pid)
	on := func(path string) bool {
		var st unix.Stat_t
		return unix.Stat(path, &st) == nil && st.Dev == dev
	}
	for _, p := range []string{"cwd", "root", "exe"} {
		if on(base + "/" + p) {
			return true
		}
	}
	if fds, err := os.ReadDir(base + "/fd"); err == nil {
		for _, fd := range fds {
			if on(base + "/fd/" + fd.Name()) {
				return true
			}
		}
	}
	if b, err := os.ReadFile(base + "/maps"); err == nil {
		want := fmt.Sprintf("%02x:%02x", major, minor)
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 5 && f[3] == want && f[4] != "0" {
				return true
			}
		}
	}
	return false
}

// Monitor: the device mounted on the directory is running (after a read or
// write probe at check_level 10 or 20); nothing mounted there is stopped;
// something else mounted there is failed.
func (a *fsAgent) Monitor(ctx context.Context) (model.Status, error) {
	e, err := a.top()
	if err != nil {
		return model.StatusStopped, err
	}
	if e == nil {
		if a.mountedBelow() {
			return model.StatusFailed, fmt.Errorf("%s is mounted on %s but hidden by another mount", a.p.Device, a.p.Directory)
		}
		return model.StatusStopped, nil
	}
	if !a.matches(e) {
		return model.StatusFailed, fmt.Errorf("%s has %s mounted; expected %s", a.p.Directory, a.describe(e), a.p.Device)
	}
	a.hold() // a mount found again after a restart of haven
	if a.p.CheckLevel >= 10 {
		if err := a.probe(ctx); err != nil {
			return model.StatusFailed, err
		}
	}
	return model.StatusRunning, nil
}

// probe reads (and at level 20 writes) the filesystem in a goroutine so a
// hung filesystem (dead NFS server) cannot hang the monitor: on timeout the
// goroutine is abandoned, which is the best a process can do.
func (a *fsAgent) probe(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		if _, err := os.ReadDir(a.p.Directory); err != nil {
			done <- fmt.Errorf("read %s: %w", a.p.Directory, err)
			return
		}
		if a.p.CheckLevel < 20 {
			done <- nil
			return
		}
		name := filepath.Join(a.p.Directory, ".haven-check-"+a.node)
		want := []byte(time.Now().UTC().Format(time.RFC3339Nano))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err == nil {
			_, err = f.Write(want)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			var got []byte
			got, err = os.ReadFile(name)
			if err == nil && string(got) != string(want) {
				err = fmt.Errorf("read back %q, wrote %q", got, want)
			}
		}
		if rerr := os.Remove(name); err == nil && rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
		if err != nil {
			err = fmt.Errorf("write probe %s: %w", name, err)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("probe of %s did not finish before the monitor timeout: %w", a.p.Directory, ctx.Err())
	}
}
