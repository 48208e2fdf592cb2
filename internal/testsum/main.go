// Command testsum runs `go test -json` and summarises it the way a CI log
// should read: the full output of every failed test, build failure and
// crashed test binary; one line per package that passed; then every skipped
// test with its reason, and a count. `make test` runs it:
//
//	testsum go test -json -count=1 ./...
//
// It exits non-zero when a test, a build or a test binary failed, when go
// test exited non-zero, and, under CI=true, when a test skipped without the
// mark of a reason CI accepts (internal/testenv): CI provides root, the
// packages of .ci/packages, docker and ../shared, so a test that needs them
// must run there. With no command it reads the JSON from its standard input
// (`go test -json ./... | testsum`); go test's exit status is then unknown to
// it, so the failures it sees decide.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/havenha/haven/internal/testenv"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, testenv.CI()))
}

// run summarises the command's output (or in when there is no command) on
// out and returns the exit status.
func run(args []string, in io.Reader, out io.Writer, ci bool) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(out, "usage: testsum [go test -json ARGS...]   (no command: read go test -json output on stdin)")
		return 2
	}
	s := newSummary(out, ci)
	start := time.Now()
	if len(args) == 0 {
		if err := s.read(in); err != nil {
			fmt.Fprintf(out, "testsum: reading standard input: %v\n", err)
			return 1
		}
		return s.finish(nil, time.Since(start))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = in
	cmd.Stderr = os.Stderr // go's own messages (downloads, pattern errors) as they come
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(out, "testsum: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(out, "testsum: %v\n", err)
		return 1
	}
	// Ctrl-C reaches go test as well (same process group): keep reading
	// until it stops, then summarise what ran. A TERM sent to testsum alone
	// is passed on.
	sigCh := make(chan os.Signal, 1)
	signal.Notify(sigCh, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range sigCh {
			if sig == syscall.SIGTERM {
				_ = cmd.Process.Signal(sig)
			}
		}
	}()
	readErr := s.read(stdout)
	waitErr := cmd.Wait()
	signal.Stop(sigCh)
	close(sigCh)
	if readErr != nil && waitErr == nil {
		waitErr = fmt.Errorf("reading its output: %w", readErr)
	}
	return s.finish(exitError(waitErr), time.Since(start))
}

// exitError turns Wait's error into a message, or nil for status 0.
func exitError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("go test exited with %v", ee.ProcessState)
	}
	return err
}
