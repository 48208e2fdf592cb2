package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/havenha/haven/examples"
	"github.com/spf13/cobra"
)

func init() {
	addCommand(&cobra.Command{
		Use:   "demo",
		Short: "Run haven on the built-in three-node loopback example",
		Long: `demo takes the built-in example (examples/local3.yaml: three nodes on 127.0.0.1-3, a
web group of two exec resources preferring n1, and a clone on every node), validates it, and
shows what the scheduler does with it: the placement with every node up, then the transition
when n1 is lost.

Today demo stops there: it does not yet start the three agents and let you watch a live
failover; that comes with the resource reconciler.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runDemo(c.OutOrStdout()) },
	})
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

func runDemo(out io.Writer) error {
	dir, err := os.MkdirTemp("", "haven-demo-")
	if err != nil {
		return fmt.Errorf("make a temporary folder for the demo: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg, err := writeDemoFiles(dir)
	if err != nil {
		return err
	}
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
	fmt.Fprintf(out, "\nTry it yourself: haven simulate -c FILE --down NODE --scores (FILE: examples/local3.yaml)\n")
	return nil
}
