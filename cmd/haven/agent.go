package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func init() {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent -c FILE --node NAME",
		Short: "Run this node's cluster agent (membership, quorum, raft log, API)",
		Long: "Run the node agent: join the cluster over gossip encrypted with the cluster key, keep the\n" +
			"quorum view, replicate the cluster state in the raft log (data directory cluster.data_dir/NODE;\n" +
			"a fresh cluster bootstraps itself from the node list and its first leader commits this file as\n" +
			"configuration version 1), write each committed configuration back to the -c file, and serve\n" +
			"the API on a unix socket (local CLI) and on the node's api_port (remote CLI with the cluster\n" +
			"key). SIGTERM or SIGINT hands raft leadership over, then leaves the cluster gracefully: peers\n" +
			"report the node as left, not dead. Logs are structured (slog) on standard error. A witness\n" +
			"entry (role: witness) is run with 'haven witness'.\n\n" +
			"The agent starts a companion process, 'haven guard' (its own process group, the agent's\n" +
			"namespaces, the agent's standard error). If the agent dies without an orderly stop (SIGKILL,\n" +
			"a crash, the OOM killer), the guard kills the resources' process groups, deletes their\n" +
			"addresses and unmounts their filesystems, then exits; on a graceful stop it exits quietly.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			oneProc()
			return runAgent(ctx, o, os.Stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.configPath, "config", "c", "/etc/haven/haven.yaml", "configuration file")
	fl.StringVar(&o.node, "node", "", "this node's name in the configuration (default: the host name)")
	fl.StringVar(&o.dataDir, "data-dir", "", "data directory (default: cluster.data_dir/NODE, /var/lib/haven/NODE)")
	fl.StringVar(&o.socket, "socket", "", "unix socket of the local API (default $HAVEN_SOCKET, /run/haven/NODE.sock)")
	fl.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fl.BoolVar(&o.guard, "guard", true, "run the guard: if this agent dies, a companion process (haven guard) kills its resources' processes, deletes their addresses and unmounts their filesystems")
	addCommand(cmd)
}
