package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/internal/testenv"
)

func fsRes(params map[string]any) model.Resource {
	return model.Resource{ID: "fs1", Type: "filesystem", Params: params}
}

// unmountAll is a test cleanup: unmount whatever is still on dir.
func unmountAll(t *testing.T, dir string) {
	t.Cleanup(func() {
		for i := 0; i < 10; i++ {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				return
			}
		}
	})
}

func mountedOn(t *testing.T, dir string) *mountEntry {
	t.Helper()
	ms, err := readMounts()
	if err != nil {
		t.Fatal(err)
	}
	var found *mountEntry
	for i := range ms {
		if ms[i].Point == dir {
			found = &ms[i]
		}
	}
	return found
}

func TestFilesystem_Tmpfs(t *testing.T) {
	agenttest.NeedRoot(t)
	dir := filepath.Join(t.TempDir(), "mnt", "data")
	unmountAll(t, dir)
	a := agenttest.MustNew(t, FilesystemType{}, fsRes(map[string]any{
		"device": "tmpfs", "directory": dir, "fstype": "tmpfs", "options": "size=4m,mode=0755", "check_level": 20,
	}), agenttest.Env(t))
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if e := mountedOn(t, dir); e == nil || e.FSType != "tmpfs" {
		t.Fatalf("after start: %+v mounted on %s", e, dir)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if e := mountedOn(t, dir); e != nil {
		t.Fatalf("after stop: %+v still mounted", e)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestFilesystem_SomethingElseMountedThere(t *testing.T) {
	agenttest.NeedRoot(t)
	dir := t.TempDir()
	unmountAll(t, dir)
	if err := unix.Mount("othertmp", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	a := agenttest.MustNew(t, FilesystemType{}, fsRes(map[string]any{"device": "tmpfs", "directory": dir, "fstype": "tmpfs"}), agenttest.Env(t))
	err := a.Start(agenttest.OpCtx(t, 10*time.Second))
	if err == nil || !strings.Contains(err.Error(), "othertmp") {
		t.Fatalf("Start = %v, want an error naming what is mounted there (othertmp)", err)
	}
	if err := agenttest.WantStatus(t, a, model.StatusFailed); err == nil || !strings.Contains(err.Error(), "othertmp") {
		t.Fatalf("monitor reason %v", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("Stop = %v, want success without touching the other mount", err)
	}
	if e := mountedOn(t, dir); e == nil || e.Source != "othertmp" {
		t.Fatal("Stop unmounted a filesystem that is not the resource's")
	}
}

// loopImage makes an ext4 image of 32 MiB and attaches it to a loop device.
func loopImage(t *testing.T) (img, dev string) { return loopImageOf(t, "ext4") }

// loopImageOf makes a sparse image with filesystem fstype (ext4 or xfs) and
// attaches it to a loop device.
func loopImageOf(t *testing.T, fstype string) (img, dev string) {
	img, dev, _ = labelledLoopImage(t, fstype)
	return img, dev
}

// labelledLoopImage is loopImageOf that also returns the filesystem's
// label, unique to the test.
func labelledLoopImage(t *testing.T, fstype string) (img, dev, label string) {
	t.Helper()
	agenttest.NeedRoot(t)
	b := make([]byte, 4)
	rand.Read(b)
	label = "hv" + hex.EncodeToString(b)
	mkfs := map[string][]string{"ext4": {"mkfs.ext4", "-q", "-F", "-L", label}, "xfs": {"mkfs.xfs", "-q", "-f", "-L", label}}[fstype]
	for _, tool := range []string{mkfs[0], "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.MissingPackage(t, map[string]string{"mkfs.ext4": "e2fsprogs", "mkfs.xfs": "xfsprogs", "losetup": "util-linux"}[tool], "%s is not installed", tool)
		}
	}
	img = filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	size := int64(32 << 20)
	if fstype == "xfs" {
		size = 320 << 20 // mkfs.xfs refuses less than 300 MB (sparse: no disk used)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs[0], append(mkfs[1:], img)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", mkfs[0], err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		testenv.Skip(t, testenv.Machine, "no loop device available: losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return img, dev, label
}

func TestFilesystem_Ext4OnLoopDevice(t *testing.T) {
	_, dev := loopImage(t)
	dir := filepath.Join(t.TempDir(), "datab")
	unmountAll(t, dir)
	res := fsRes(map[string]any{"device": dev, "directory": dir, "fstype": "ext4", "options": "noatime", "check_level": 20})
	a := agenttest.MustNew(t, FilesystemType{}, res, agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := os.WriteFile(filepath.Join(dir, "kept"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatalf("second start: %v", err)
	}

	// A process working inside the mount keeps it busy; force_unmount
	// (the default) ends it.
	busy := exec.Command("sleep", "1000")
	busy.Dir = dir
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- busy.Wait() }()
	t.Cleanup(func() { busy.Process.Kill() })
	if err := a.Stop(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Fatalf("busy process ended with %v, want SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("busy process still runs after Stop")
	}
	agenttest.WantStatus(t, a, model.StatusStopped)

	// Data survives a remount.
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "kept")); err != nil || string(b) != "data" {
		t.Fatalf("after remount: %q, %v", b, err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestFilesystem_BusyWithoutForceFailsNamingIt(t *testing.T) {
	_, dev := loopImage(t)
	dir := t.TempDir()
	unmountAll(t, dir)
	a := agenttest.MustNew(t, FilesystemType{}, fsRes(map[string]any{"device": dev, "directory": dir, "force_unmount": false}), agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	busy := exec.Command("sleep", "1000")
	busy.Dir = dir
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	err := a.Stop(agenttest.OpCtx(t, time.Second))
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("Stop = %v, want a busy error", err)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	busy.Process.Kill()
	busy.Wait()
	if err := a.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestFilesystem_ImageFileThroughLoop(t *testing.T) {
	img, dev := loopImage(t)
	dir := t.TempDir()
	unmountAll(t, dir)
	// The image file itself: mount attaches a loop device; the agent finds
	// it again through the loop device's backing file.
	exec.Command("losetup", "-d", dev).Run()
	a := agenttest.MustNew(t, FilesystemType{}, fsRes(map[string]any{"device": img, "directory": dir, "fstype": "ext4", "options": "loop"}), agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	e := mountedOn(t, dir)
	if e == nil || !strings.HasPrefix(e.Source, "/dev/loop") {
		t.Fatalf("mounted %+v", e)
	}
	t.Cleanup(func() { exec.Command("losetup", "-d", e.Source).Run() })
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatalf("second start (must recognise the loop mount): %v", err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
}

func TestFilesystem_Validate(t *testing.T) {
	for _, c := range []struct {
		params  map[string]any
		wantKey string
	}{
		{map[string]any{"device": "/dev/sdb1", "directory": "/datab", "fstype": "xfs", "options": "noatime"}, ""},
		{map[string]any{"directory": "/datab"}, "device"},
		{map[string]any{"device": "/dev/sdb1", "directory": "datab"}, "directory"},
		{map[string]any{"device": "/dev/sdb1", "directory": "/"}, "directory"},
		{map[string]any{"device": "/dev/sdb1", "directory": "/d", "check_level": 5}, "check_level"},
		{map[string]any{"device": "/dev/sdb1", "directory": "/d", "fstype": "ext4,xfs"}, "fstype"},
		{map[string]any{"device": "/dev/sdb1", "directory": "/d", "force_unmount": "yes"}, "force_unmount"},
	} {
		ps := FilesystemType{}.Validate(c.params)
		if c.wantKey == "" && len(ps) > 0 || c.wantKey != "" && (len(ps) == 0 || ps[0].Key != c.wantKey) {
			t.Errorf("%v: problems %v, want key %q", c.params, ps, c.wantKey)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/mnt/with\040space\134x`); got != `/mnt/with space\x` {
		t.Fatalf("got %q", got)
	}
}

func TestFilesystem_XfsByLabel(t *testing.T) {
	_, _, label := labelledLoopImage(t, "xfs")
	dir := t.TempDir()
	unmountAll(t, dir)
	// LABEL= is found through udev's links or, without udev, blkid.
	a := agenttest.MustNew(t, FilesystemType{}, fsRes(map[string]any{"device": "LABEL=" + label, "directory": dir, "fstype": "xfs", "check_level": 20}), agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if e := mountedOn(t, dir); e == nil || e.FSType != "xfs" {
		t.Fatalf("mounted %+v", e)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatalf("second start (must recognise LABEL=%s as the mounted device): %v", label, err)
	}
	if err := a.Stop(agenttest.OpCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusStopped)
}
