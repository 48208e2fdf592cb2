package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Skip and Fatalf record the message and end
// the calling goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()          {}
func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatalf(format string, a ...any) {
	r.fatal = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

// call runs f on a recorder in its own goroutine and waits for it.
func call(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestSkip_MarkedSoTheSummariserAcceptsIt(t *testing.T) {
	for _, why := range allowedWhys {
		r := call(t, func(tb testing.TB) { Skip(tb, why, "because %d", 42) })
		got, ok := Allowed(r.skipped)
		if !ok || got != why || !strings.HasSuffix(r.skipped, "because 42") {
			t.Errorf("Skip(%s) said %q; Allowed = %q, %v", why, r.skipped, got, ok)
		}
	}
	r := call(t, func(tb testing.TB) { Skip(tb, Why("root"), "needs root") })
	if r.fatal == "" || r.skipped != "" {
		t.Errorf("Skip with an unknown reason: skipped %q, fatal %q; want a failure", r.skipped, r.fatal)
	}
}

func TestAllowed_RejectsUnmarkedAndUnknown(t *testing.T) {
	for _, msg := range []string{"needs root", "allowed in CI (root): x", "allowed in CI (short) no colon", "CI must run this: x", ""} {
		if why, ok := Allowed(msg); ok {
			t.Errorf("Allowed(%q) = %q, true; want false", msg, why)
		}
	}
}

func TestMissing_SkipsOutsideCIAndFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "")
	r := call(t, func(tb testing.TB) { Missing(tb, "needs root (%s)", "mounts") })
	if !MustRun(r.skipped) || !strings.Contains(r.skipped, "needs root (mounts)") || r.fatal != "" {
		t.Errorf("without CI: skipped %q, fatal %q", r.skipped, r.fatal)
	}
	if _, ok := Allowed(r.skipped); ok {
		t.Errorf("Missing's skip %q counts as allowed in CI", r.skipped)
	}
	t.Setenv("CI", "true")
	r = call(t, func(tb testing.TB) { Missing(tb, "needs root") })
	if r.fatal == "" || r.skipped != "" || !strings.Contains(r.fatal, "needs root") {
		t.Errorf("CI=true: skipped %q, fatal %q; want a failure naming the need", r.skipped, r.fatal)
	}
}

func TestMissingPackage_SaysWhetherTheListHasIt(t *testing.T) {
	t.Setenv("CI", "")
	r := call(t, func(tb testing.TB) { MissingPackage(tb, "nftables", "nft is not installed") })
	if !strings.Contains(r.skipped, "Debian package nftables; `make test` as root installs it") {
		t.Errorf("listed package: %q", r.skipped)
	}
	r = call(t, func(tb testing.TB) { MissingPackage(tb, "haven-no-such-package", "x is not installed") })
	if !strings.Contains(r.skipped, ".ci/packages does not list it: add it there") {
		t.Errorf("unlisted package: %q", r.skipped)
	}
}

func TestReadPackages_Format(t *testing.T) {
	p := filepath.Join(t.TempDir(), "packages")
	os.WriteFile(p, []byte("# comment\nmake   # why\n\ndocker.io|docker-ce\n"), 0o644)
	got, err := ReadPackages(p)
	if err != nil || fmt.Sprint(got) != "[[make] [docker.io docker-ce]]" {
		t.Fatalf("ReadPackages = %v, %v", got, err)
	}
	for _, bad := range []string{"make git\n", "a||b\n"} {
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := ReadPackages(p); err == nil || !strings.Contains(err.Error(), "packages:1") {
			t.Errorf("ReadPackages(%q) error = %v; want one naming the line", bad, err)
		}
	}
}
