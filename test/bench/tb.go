package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// tb lets test/netns and test/harness, which take a testing.TB, run in a
// program: Fatal and Skip abort the trial (a panic that the trial
// recovers), Cleanup runs at the end of the trial, last in first out.
// Methods not defined here are left to the nil embedded interface and
// panic like Fatal (the trial fails with the panic).
type tb struct {
	testing.TB
	name    string
	verbose bool

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
}

// abort is what Fatal and Skip panic with.
type abort struct{ msg string }

func newTB(name string, verbose bool) *tb { return &tb{name: name, verbose: verbose} }

func (t *tb) Helper()      {}
func (t *tb) Name() string { return t.name }

func (t *tb) Logf(format string, args ...any) {
	if t.verbose {
		fmt.Fprintf(os.Stderr, "  [%s] %s\n", t.name, fmt.Sprintf(format, args...))
	}
}
func (t *tb) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }

func (t *tb) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	fmt.Fprintf(os.Stderr, "  [%s] error: %s\n", t.name, fmt.Sprintf(format, args...))
}
func (t *tb) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *tb) Fail() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
}
func (t *tb) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}
func (t *tb) FailNow() { t.Fail(); panic(abort{"FailNow"}) }
func (t *tb) Fatalf(format string, args ...any) {
	t.Fail()
	panic(abort{fmt.Sprintf(format, args...)})
}
func (t *tb) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *tb) Skip(args ...any) {
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	panic(abort{"skipped: " + fmt.Sprint(args...)})
}
func (t *tb) Skipf(format string, args ...any) { t.Skip(fmt.Sprintf(format, args...)) }
func (t *tb) SkipNow()                         { t.Skip("SkipNow") }
func (t *tb) Skipped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skipped
}

func (t *tb) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

// TempDir returns a fresh directory removed at cleanup.
func (t *tb) TempDir() string {
	d, err := os.MkdirTemp("", "haven-bench-")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// runCleanups runs the cleanups, last registered first; a panicking
// cleanup is reported and the others still run.
func (t *tb) runCleanups() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Fprintf(os.Stderr, "  [%s] cleanup: %v\n", t.name, r)
				}
			}()
			f()
		}()
	}
}
