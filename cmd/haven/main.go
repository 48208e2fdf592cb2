// Command haven is the one binary of a haven cluster: the node agent, the
// witness, the operator CLI, the simulator and the demo.
//
// main stays thin: each subcommand lives in its own file and registers itself
// with addCommand from an init function; run.go reads the files of `haven
// agent` and `haven witness` and hands them to package node, which builds
// and runs the components.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

var rootCmd = &cobra.Command{
	Use:   "haven",
	Short: "haven: failover clusters from one binary and one file",
	Long: "haven runs failover clusters in place of Corosync + Pacemaker + pcs: gossip membership with\n" +
		"weighted quorum, a Raft log for configuration and state, a Pacemaker-compatible scheduler, and\n" +
		"resource agents for virtual IPs, systemd units, processes, filesystems, ping, alerts and OCF\n" +
		"scripts, driven by one configuration file.\n\n" +
		"Not built yet: fencing devices (so stonith: true) and the iSCSI target (type: iscsi-target).\n" +
		"'haven config validate' and 'haven agent' refuse a file that needs them, saying why.",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// addCommand registers a subcommand under the root (called from init functions).
func addCommand(c *cobra.Command) { rootCmd.AddCommand(c) }

// exitError carries an exit code other than 1 and a message already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	rootCmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nrun '%s --help' for usage", err, c.CommandPath())
	})
	if err := rootCmd.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "haven:", err)
		os.Exit(1)
	}
}
