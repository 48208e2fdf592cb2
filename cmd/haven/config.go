package main

import (
	"errors"
	"fmt"
	"github.com/havenha/haven/consensus"
	"strings"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/quorum"
)

// resourceTypes finds resource type validators for `config validate`. It is
// nil until the agent registry is wired in (cmd/haven sets it from an init
// function); with nil, only type names are checked.
var resourceTypes model.TypeLookup

// configCmd is the parent of the `haven config` subcommands; other files add
// show, diff and apply to it with configCmd.AddCommand from their init.
var configCmd = &cobra.Command{
	Use:   "config",
	Short: "Check and inspect the configuration file",
	Args:  cobra.NoArgs,
	RunE: func(c *cobra.Command, _ []string) error {
		return c.Help()
	},
}

func init() {
	configCmd.AddCommand(&cobra.Command{
		Use:   "validate FILE...",
		Short: "Check configuration files without a cluster",
		Long: "Check each configuration file strictly: YAML syntax, unknown keys, types, references,\n" +
			"cycles, quorum settings and resource parameters, and that this binary can carry out all it\n" +
			"asks for: a resource type, fencing device or setting that it cannot run is an error (the\n" +
			"iSCSI target and fencing devices are not built yet, so stonith: true is refused). Prints one\n" +
			"summary line per valid file; otherwise every problem as FILE:LINE:COL: what is wrong; what is\n" +
			"expected, and exits 1. 'haven agent' refuses the same files at start.",
		Args: cobra.MinimumNArgs(1),
		RunE: runConfigValidate,
	})
	configCmd.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the configuration file (for editors)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := config.Schema()
			if err != nil {
				return fmt.Errorf("render schema: %w", err)
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), string(b))
			return err
		},
	})
	addCommand(configCmd)
}

func runConfigValidate(c *cobra.Command, files []string) error {
	failed := false
	for _, f := range files {
		cl, err := config.Load(f, configOptions())
		if err != nil {
			failed = true
			var errs config.Errors
			if errors.As(err, &errs) {
				fmt.Fprintln(c.ErrOrStderr(), errs.Error())
			} else {
				fmt.Fprintf(c.ErrOrStderr(), "haven: %v\n", err)
			}
			continue
		}
		// The raft voter set is a property of the whole file (weighted votes,
		// two_node, witnesses): check it offline too, as the agent would at start.
		if _, err := consensus.CheckChange(nil, cl, nil); err != nil {
			failed = true
			fmt.Fprintf(c.ErrOrStderr(), "%s:%d:%d: %v\n", f, cl.Cluster.Line, cl.Cluster.Col, err)
			continue
		}
		fmt.Fprintln(c.OutOrStdout(), summary(f, cl))
	}
	if failed {
		return exitError{code: 1}
	}
	return nil
}

// summary is the one line `config validate` prints for a valid file.
func summary(file string, c *model.Cluster) string {
	// The running cluster with every node up, as votequorum counts it:
	// "expected" is the highest expected votes, which the sum can raise.
	q := quorum.Offline(c, func(string) bool { return true })
	parts := []string{
		fmt.Sprintf("cluster %s", c.Cluster.Name),
		fmt.Sprintf("%s (%d votes, expected %d, quorum %d)", plural(len(c.Nodes), "node"), q.TotalVotes, q.HighestExpected, q.Quorum),
		plural(len(c.Resources), "resource"),
	}
	if len(c.Groups) > 0 {
		parts = append(parts, plural(len(c.Groups), "group"))
	}
	if len(c.Clones) > 0 {
		parts = append(parts, plural(len(c.Clones), "clone"))
	}
	if len(c.Fencing) > 0 {
		parts = append(parts, plural(len(c.Fencing), "fencing device"))
	}
	parts = append(parts, plural(len(c.Constraints), "constraint"))
	return fmt.Sprintf("%s: ok — %s", file, strings.Join(parts, ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
