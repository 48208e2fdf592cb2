// Package testenv is the one way haven's tests skip. A skip is either
// allowed in CI (the test is left out by -short, is a helper process, is a
// tool run by hand, or needs something of the machine that no package
// provides) or it is a skip CI must never see: the test needs root, a Debian
// package from .ci/packages, docker or ../shared, all of which CI provides.
// The second kind skips with its reason on a developer's machine and fails
// the test under CI=true, so a missing install step cannot hide an untested
// path. internal/testsum, which `make test` runs, lists every skip with its
// reason and, under CI=true, fails on any skip without the allowed mark (a
// bare t.Skip included).
package testenv

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Why names a reason CI accepts for a skip.
type Why string

const (
	// Short: a slow test, left out because -short asked for it.
	Short Why = "short"
	// Helper: not a test but a child-process entry point that another test
	// runs with an environment variable set.
	Helper Why = "helper"
	// OptIn: a tool run by hand (it rewrites testdata) when its variable is set.
	OptIn Why = "opt-in"
	// Machine: the kernel or host lacks what no package provides (IPv6
	// loopback, a free loop device), or has what the test needs absent
	// (systemd running as PID 1).
	Machine Why = "machine"
	// Chance: the state the test checks did not come about in this run.
	Chance Why = "chance"
)

var allowedWhys = []Why{Short, Helper, OptIn, Machine, Chance}

// allowedMark starts every skip message that CI accepts; the summariser
// looks for it (Allowed). A skip without it fails under CI=true.
const allowedMark = "allowed in CI ("

// mustRunMark starts the message of a skip CI would have prevented.
const mustRunMark = "CI must run this: "

// CI reports whether the tests run in CI (CI=true, as .ci/run and most CI
// services set it): root, every package of .ci/packages, docker and
// ../shared are there, so a test that misses one of them fails.
func CI() bool {
	ok, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ok
}

// Skip skips t for a reason CI accepts.
func Skip(t testing.TB, why Why, format string, args ...any) {
	t.Helper()
	if !known(why) {
		t.Fatalf("testenv.Skip: %q is not a reason CI accepts (one of %v); for something CI provides use testenv.Missing", why, allowedWhys)
	}
	t.Skip(allowedMark + string(why) + "): " + fmt.Sprintf(format, args...))
}

// SkipShort skips t under -short, saying why the test is slow.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		Skip(t, Short, "%s", why)
	}
}

// Missing is for a test that needs something CI provides (root, docker's
// systemd, ../shared beside the checkout, the go tool) and did not find it:
// it skips with the reason, or fails the test under CI=true.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("CI=true, and %s: CI provides this (root, .ci/packages, docker, ../shared), so the test must run, not skip", msg)
	}
	t.Skip(mustRunMark + msg)
}

// MissingPackage is Missing for a command or file that the Debian package
// pkg installs; pkg must be listed in .ci/packages, which `make test` run as
// root installs.
func MissingPackage(t testing.TB, pkg, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + " (Debian package " + pkg
	if listed, err := Listed(pkg); err == nil && !listed {
		msg += "; .ci/packages does not list it: add it there"
	} else {
		msg += "; `make test` as root installs it from .ci/packages"
	}
	Missing(t, "%s)", msg)
}

// Allowed reports whether a skip message carries the mark of a reason CI
// accepts, and which.
func Allowed(msg string) (Why, bool) {
	rest, ok := strings.CutPrefix(msg, allowedMark)
	if !ok {
		return "", false
	}
	why, _, ok := strings.Cut(rest, "): ")
	if !ok || !known(Why(why)) {
		return "", false
	}
	return Why(why), true
}

// MustRun reports whether a skip message is Missing's: the test needs
// something CI provides.
func MustRun(msg string) bool { return strings.HasPrefix(msg, mustRunMark) }

func known(why Why) bool {
	for _, w := range allowedWhys {
		if w == why {
			return true
		}
	}
	return false
}

// Listed reports whether .ci/packages names pkg (alone or as an
// alternative). It finds the list from the working directory upwards, as a
// test runs in its package's folder.
func Listed(pkg string) (bool, error) {
	path, err := packagesFile()
	if err != nil {
		return false, err
	}
	pkgs, err := ReadPackages(path)
	if err != nil {
		return false, err
	}
	for _, alts := range pkgs {
		for _, p := range alts {
			if p == pkg {
				return true, nil
			}
		}
	}
	return false, nil
}

// ReadPackages reads a package list in .ci/packages's format: one entry a
// line, "#" to the end of a line is a comment, and "a|b" means that either
// package will do (the first is the one installed).
func ReadPackages(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 1 {
			return nil, fmt.Errorf("%s:%d: %q: one entry a line (a package, or alternatives joined by |)", path, n, strings.TrimSpace(line))
		}
		alts := strings.Split(fields[0], "|")
		for _, a := range alts {
			if a == "" {
				return nil, fmt.Errorf("%s:%d: %q: an empty alternative", path, n, fields[0])
			}
		}
		out = append(out, alts)
	}
	return out, sc.Err()
}

// packagesFile finds .ci/packages in the module root above the working
// directory.
func packagesFile() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".ci", "packages"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
