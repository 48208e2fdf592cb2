package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/model"
)

func init() {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "witness -c FILE [--node NAME]",
		Short: "Run the witness: a voter with no resources (like corosync-qnetd)",
		Long: "Run the witness entry of the file (a node with role: witness) on a third machine or container:\n" +
			"it gossips and votes in membership and raft and stores the replicated log, but runs no\n" +
			"resources. With it, a two-node cluster keeps a raft majority when either data node fails.\n" +
			"Without --node it runs the file's only witness. The same flags, API and shutdown as\n" +
			"'haven agent'; a node that is not a witness is refused.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			oneProc()
			o.witness = true
			return runAgent(ctx, o, os.Stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.configPath, "config", "c", "/etc/haven/haven.yaml", "configuration file")
	fl.StringVar(&o.node, "node", "", "the witness's name in the configuration (default: the file's only witness)")
	fl.StringVar(&o.dataDir, "data-dir", "", "data directory (default: cluster.data_dir/NODE, /var/lib/haven/NODE)")
	fl.StringVar(&o.socket, "socket", "", "unix socket of the local API (default $HAVEN_SOCKET, /run/haven/NODE.sock)")
	fl.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&o.logFormat, "log-format", "text", "text or json")
	addCommand(cmd)
}

// chooseWitness finds the witness to run: --node (which must be a witness),
// else the file's only witness.
func chooseWitness(cl *model.Cluster, name, path string) (*model.Node, error) {
	var witnesses []string
	for _, n := range cl.Nodes {
		if n.IsWitness() {
			witnesses = append(witnesses, n.Name)
		}
	}
	if name == "" {
		switch len(witnesses) {
		case 0:
			return nil, fmt.Errorf("%s has no witness node; expected a node with role: witness (or run 'haven agent' for a member)", path)
		case 1:
			name = witnesses[0]
		default:
			return nil, fmt.Errorf("%s has several witnesses (%s); expected --node NAME", path, strings.Join(witnesses, ", "))
		}
	}
	n, err := chooseNode(cl, name)
	if err != nil {
		return nil, err
	}
	if !n.IsWitness() {
		hint := "add role: witness to its entry, or run 'haven agent' for a member"
		if len(witnesses) > 0 {
			hint = "expected one of " + strings.Join(witnesses, ", ") + "; run 'haven agent' for a member"
		}
		return nil, fmt.Errorf("node %s is not a witness in %s; %s", n.Name, path, hint)
	}
	return n, nil
}
