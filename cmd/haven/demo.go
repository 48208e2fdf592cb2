package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/demo"
	"github.com/havenha/haven/examples"
)

func init() {
	var planOnly bool
	cmd := &cobra.Command{
		Use:   "demo [--plan-only]",
		Short: "Run a three-node cluster on loopback from the built-in example and watch it fail over",
		Long: `demo takes the built-in example (examples/local3.yaml: three nodes on 127.0.0.1-3, a web
group of two exec resources preferring n1, and a clone on every node), validates it and shows the
scheduler's plan. Then it starts the three nodes as real 'haven agent' processes, waits until the
web group runs, crashes the node running it (SIGKILL of its agent and of the processes it ran, as
if the machine lost power) and shows the group starting on another node, with the time it took.
Everything it started is stopped at the end; nothing needs root.

--plan-only stops after the plan (no processes are started).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if planOnly {
				return runDemoPlan(c.OutOrStdout())
			}
			return runDemoLive(c.Context(), c.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&planOnly, "plan-only", false, "only validate the example and print the scheduler's plan")
	addCommand(cmd)
}

// writeDemoFiles copies the embedded example into dir and returns the config path.
func writeDemoFiles(dir string) (string, error) {
	for _, name := range []string{"local3.yaml", "demo.key"} {
		b, err := examples.Local3.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("read embedded %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
	}
	return filepath.Join(dir, "local3.yaml"), nil
}

// runDemoPlan validates the example and prints the scheduler's plan: the
// placement with every node up, then the transition when n1 is lost.
func runDemoPlan(out io.Writer) error {
	dir, err := os.MkdirTemp("", "haven-demo-")
	if err != nil {
		return fmt.Errorf("make a temporary folder for the demo: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg, err := writeDemoFiles(dir)
	if err != nil {
		return err
	}
	return demoPlan(out, cfg)
}

func demoPlan(out io.Writer, cfg string) error {
	if err := runConfigValidate(rootCmd, []string{cfg}); err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(out, "\n=== 1. All three nodes up: where everything runs ===\n\n")
	if err := runSimulate(out, simulateFlags{configFile: cfg}, now); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n=== 2. n1 is lost (haven simulate --down n1) ===\n\n")
	if err := runSimulate(out, simulateFlags{configFile: cfg, down: []string{"n1"}}, now); err != nil {
		return err
	}
	return nil
}

// runDemoLive runs the plan, then the same failover with real agents.
func runDemoLive(ctx context.Context, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dir, err := os.MkdirTemp("", "haven-demo-")
	if err != nil {
		return fmt.Errorf("make a temporary folder for the demo: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg, err := writeDemoFiles(dir)
	if err != nil {
		return err
	}
	if err := demoPlan(out, cfg); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the haven binary to start the agents: %w", err)
	}
	if err := demo.Live(ctx, out, self, cfg, dir); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nDone. Try: haven simulate -c examples/local3.yaml --down n2 --scores\n")
	return nil
}
