package main

// guard.go is the node's software watchdog (engine/guard): `haven agent`
// starts `haven guard` (hidden) from its own binary, with a pipe on its
// standard input; if the agent dies without an orderly stop, the guard
// kills the resources' process groups, deletes their addresses and
// unmounts their filesystems. The teardown kinds are registered here, the
// one place that may join engine/guard (system calls only) and vip
// (netlink).

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/vip"
	"github.com/spf13/cobra"
)

func init() {
	var node, level, format string
	cmd := &cobra.Command{
		Use:    "guard",
		Hidden: true,
		Short:  "The agent's software watchdog (started by 'haven agent'; not run by hand)",
		Long: "Started by 'haven agent' with a pipe on standard input. Reads the resources the agent holds\n" +
			"(JSON lines: hold, release, teardown, arm, disarm, bye). If the pipe ends without 'bye' (the agent\n" +
			"died), it kills the held process groups, deletes the held addresses and unmounts the held\n" +
			"filesystems, then exits. If the agent's lease deadline (each 'arm') passes without a newer one\n" +
			"(the agent is frozen), it does the same at once (a WATCHDOG: line) and goes on. It ignores SIGINT,\n" +
			"SIGTERM and SIGHUP: it ends with its agent.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			oneProc()
			return runGuard(os.Stdin, os.Stderr, node, level, format)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&node, "node", "", "the agent's node name (for the log)")
	fl.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&format, "log-format", "text", "text or json")
	addCommand(cmd)
}

// guardKinds are the teardowns the guard knows, in the order it runs them:
// processes first (they use the addresses and the mounts), then addresses
// (clients stop reaching this node), then mounts.
func guardKinds() []guard.Kind {
	return []guard.Kind{
		{Name: guard.KindKillGroup, Do: guard.KillGroup},
		{Name: vip.TeardownKind, Do: vip.Teardown},
		{Name: guard.KindUnmount, Do: guard.Unmount},
	}
}

// runGuard is `haven guard`: serve the protocol until bye or end of file.
func runGuard(in io.Reader, stderr io.Writer, node, level, format string) error {
	// A terminal's ^C, systemd's SIGTERM to the whole unit and a hang-up
	// are the agent's to handle: the guard ends when the agent's pipe
	// does. SIGPIPE: writing the log to a closed pipe must not kill it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	// It holds a few entries and sleeps on a pipe: keep the heap small.
	debug.SetGCPercent(20)
	logger, err := newLogger(stderr, level, format)
	if err != nil {
		return err
	}
	logger = logger.With("agent", node, "component", "guard", "guard_pid", os.Getpid())
	logger.Debug("guard started")
	out := guard.Serve(in, guardKinds(), logger)
	if len(out.Failed) > 0 {
		logger.Error("guard exits; some teardowns failed", "torn_down", out.TornDown, "failed", out.Failed)
		return exitError{code: 1}
	}
	if !out.Bye {
		logger.Warn("guard exits after tearing down the dead agent's resources", "torn_down", out.TornDown)
	}
	return nil
}

// newGuard builds the agent's guard client: this binary (by /proc/self/exe,
// which still works when the file was replaced by an upgrade) running
// `haven guard`, logging to the agent's standard error.
func newGuard(nodeName, logLevel, logFormat string, stderr io.Writer, logger *slog.Logger) (*guard.Client, error) {
	f, ok := stderr.(*os.File)
	if !ok {
		return nil, fmt.Errorf("guard: the agent's standard error is not a file; run with --guard=false")
	}
	name := "haven"
	if len(os.Args) > 0 && os.Args[0] != "" {
		name = filepath.Base(os.Args[0])
	}
	return guard.New(guard.Config{
		Path:   "/proc/self/exe",
		Args:   []string{name, "guard", "--node", nodeName, "--log-level", logLevel, "--log-format", logFormat},
		Stderr: f, Logger: logger,
	})
}
