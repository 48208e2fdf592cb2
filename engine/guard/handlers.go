package guard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Teardown kinds implemented here (vip's is vip.TeardownKind).
const (
	// KindKillGroup: SIGKILL a process group. Args: pgid, and start_time
	// (the group leader's /proc/PID/stat field 22) so a reused pid is
	// never taken for the leader.
	KindKillGroup = "kill-group"
	// KindUnmount: unmount a directory, lazily (MNT_DETACH) when busy.
	// Args: directory.
	KindUnmount = "unmount"
)

// KillGroupTeardown builds a kill-group teardown for the group led by pid,
// started at startTime (0 when unknown).
func KillGroupTeardown(pgid int, startTime uint64) (kind string, args map[string]string) {
	return KindKillGroup, map[string]string{"pgid": strconv.Itoa(pgid), "start_time": strconv.FormatUint(startTime, 10)}
}

// KillGroup SIGKILLs the process group args["pgid"] and waits (within ctx)
// until none of its processes is left. The group is skipped when its
// leader's pid now belongs to another process (the start time differs):
// the kernel does not reuse a pid while a group of that id has members, so
// a reused leader pid means the group is already empty.
func KillGroup(ctx context.Context, args map[string]string) error {
	pgid, err := strconv.Atoi(args["pgid"])
	if err != nil || pgid <= 1 {
		return fmt.Errorf("kill-group: pgid %q: expected a process group id above 1", args["pgid"])
	}
	if want, _ := strconv.ParseUint(args["start_time"], 10, 64); want != 0 {
		if got, ok := startTime(pgid); ok && got != want {
			return nil // the leader's pid was reused: the old group is empty
		}
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	// SIGKILL is delivered at once, but a process in uninterruptible
	// sleep (D state) dies only when it wakes; wait so the caller knows.
	for {
		// Signal 0 to the group: ESRCH once no member is left (zombies
		// count as members until reaped, and their parent reaps them).
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) || onlyZombies(pgid) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process group %d still has live processes after SIGKILL: %w", pgid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startTime is /proc/PID/stat's field 22 (start time in clock ticks).
func startTime(pid int) (uint64, bool) {
	f, ok := statFields(pid)
	if !ok || len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// statFields returns /proc/PID/stat's fields after the command (field 3 on).
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return nil, false
	}
	return strings.Fields(s[i+2:]), true
}

// onlyZombies reports whether every process of group pgid is a zombie (a
// scan of /proc; false when a live member is found).
func onlyZombies(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := statFields(pid)
		if !ok || len(f) < 3 || f[2] != want {
			continue
		}
		if f[0] != "Z" && f[0] != "X" {
			return false
		}
	}
	return true
}

// Unmount unmounts args["directory"]; when the filesystem is busy it
// detaches it lazily (umount -l): the mount point is gone at once and the
// filesystem is released when its last user closes it (process groups are
// killed before mounts, so usually none is left). Not mounted is success.
func Unmount(ctx context.Context, args map[string]string) error {
	dir := args["directory"]
	if dir == "" || !strings.HasPrefix(dir, "/") || dir == "/" {
		return fmt.Errorf("unmount: directory %q: expected an absolute mount point other than /", dir)
	}
	for try := 0; try < 100; try++ {
		err := unix.Unmount(dir, 0)
		switch {
		case err == nil:
			continue // stacked mounts: unmount until none is left
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not a mount point (any more)
		case errors.Is(err, unix.EBUSY) && try >= 3:
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s lazily: %w", dir, err)
			}
			continue
		case errors.Is(err, unix.EBUSY):
			// Processes just killed may still be closing their files.
		default:
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("unmount %s: %w", dir, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("unmount %s: still mounted after 100 tries", dir)
}
