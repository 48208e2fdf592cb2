package main

// configapply.go: `haven config show | diff | apply`, the commands that read
// and change the committed configuration through an agent.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
	"github.com/havenha/haven/engine/config"
)

func init() {
	configCmd.Short = "Check, show, diff and apply the configuration file"

	// config show
	var showJSON bool
	show := &cobra.Command{
		Use:   "show [--json] [-c FILE --node NAME]",
		Short: "Print the committed configuration file",
		Long: "Print the configuration committed in the cluster's raft log, byte for byte as it was applied.\n" +
			"--json prints {version, yaml, time, by}.",
		Args: cobra.NoArgs,
	}
	showRF := addRemoteFlags(show)
	show.Flags().BoolVar(&showJSON, "json", false, "print the version and the file as JSON")
	show.RunE = func(c *cobra.Command, _ []string) error {
		cli, err := showRF.client()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context(), 10*time.Second)
		defer cancel()
		v, err := cli.Config(ctx)
		if err != nil {
			return err
		}
		if showJSON {
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		if v.Version == 0 {
			return errors.New("no configuration is committed yet; the first raft leader commits its file as version 1 once a majority of voters runs")
		}
		if v.Stale {
			fmt.Fprintf(c.ErrOrStderr(), "warning: no raft leader confirmed this copy (version %d) is current; it may lag\n", v.Version)
		}
		_, err = io.WriteString(c.OutOrStdout(), v.YAML)
		return err
	}
	configCmd.AddCommand(show)

	// config diff
	var diffJSON bool
	diff := &cobra.Command{
		Use:   "diff FILE [--json] [-c CLUSTERFILE --node NAME]",
		Short: "Show what applying FILE would change in the committed configuration",
		Long: "Compare FILE with the committed configuration: resources, groups, clones, constraints, nodes,\n" +
			"fencing devices and cluster settings added (+), removed (-) or changed (~), with each changed\n" +
			"field. The agent also checks FILE and reports what cannot change live. Nothing is committed.",
		Args: cobra.ExactArgs(1),
	}
	diffRF := addRemoteFlags(diff)
	diff.Flags().BoolVar(&diffJSON, "json", false, "print the agent's answer as JSON")
	diff.RunE = func(c *cobra.Command, args []string) error {
		res, err := sendConfig(c.Context(), diffRF, args[0], true, nil)
		if err != nil {
			return err
		}
		return printConfigResponse(c.OutOrStdout(), res, diffJSON)
	}
	configCmd.AddCommand(diff)

	// config apply
	var applyJSON, dryRun bool
	var base int64
	apply := &cobra.Command{
		Use:   "apply FILE [--dry-run] [--base N] [-c CLUSTERFILE --node NAME]",
		Short: "Commit FILE as the cluster's configuration if nobody changed it meanwhile",
		Long: "Show the diff of FILE against the committed configuration and commit it through the raft\n" +
			"leader, but only if the committed version is still the one FILE was compared with (read just\n" +
			"before, or --base N): of two concurrent applies one fails with a clear message and changes\n" +
			"nothing. Every agent then writes the committed file back to its own -c path. Changes that\n" +
			"cannot happen live (a node's addresses or ports, the cluster name, the key) are refused with\n" +
			"the steps to take instead. --dry-run checks and diffs only.",
		Args: cobra.ExactArgs(1),
	}
	applyRF := addRemoteFlags(apply)
	apply.Flags().BoolVar(&dryRun, "dry-run", false, "check and show the diff; commit nothing")
	apply.Flags().Int64Var(&base, "base", -1, "the committed version FILE was edited from (default: the current one)")
	apply.Flags().BoolVar(&applyJSON, "json", false, "print the agent's answer as JSON")
	apply.RunE = func(c *cobra.Command, args []string) error {
		var bp *uint64
		if base >= 0 {
			b := uint64(base)
			bp = &b
		}
		res, err := sendConfig(c.Context(), applyRF, args[0], dryRun, bp)
		if err != nil {
			return err
		}
		if err := printConfigResponse(c.OutOrStdout(), res, applyJSON); err != nil || applyJSON {
			return err
		}
		switch {
		case res.Applied:
			fmt.Fprintf(c.OutOrStdout(), "committed configuration version %d (was %d)\n", res.Version, res.BaseVersion)
		case res.DryRun:
			fmt.Fprintf(c.OutOrStdout(), "dry run: nothing committed (committed version is %d)\n", res.Version)
		default:
			fmt.Fprintf(c.OutOrStdout(), "nothing committed (committed version is %d)\n", res.Version)
		}
		return nil
	}
	configCmd.AddCommand(apply)
}

// sendConfig reads FILE, checks it locally (so a typo is reported with the
// file's own name and positions), reads the committed version unless base
// is given, and posts the request.
func sendConfig(parent context.Context, rf *remoteFlags, file string, dryRun bool, base *uint64) (api.ConfigResponse, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return api.ConfigResponse{}, fmt.Errorf("read %s: %w", file, err)
	}
	if _, err := config.Parse(file, data, config.Options{Types: resourceTypes}); err != nil {
		return api.ConfigResponse{}, fmt.Errorf("%s is not valid; nothing sent:\n%w", file, err)
	}
	cli, err := rf.client()
	if err != nil {
		return api.ConfigResponse{}, err
	}
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
	defer cancel()
	if base == nil {
		cur, err := cli.Config(ctx)
		if err != nil {
			return api.ConfigResponse{}, err
		}
		base = &cur.Version
	}
	res, err := cli.ApplyConfig(ctx, api.ConfigRequest{YAML: string(data), BaseVersion: base, DryRun: dryRun, By: whoAmI()})
	var ce *client.Error
	if errors.As(err, &ce) {
		return res, errors.New(ce.Message)
	}
	return res, err
}

func printConfigResponse(w io.Writer, res api.ConfigResponse, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprint(w, res.DiffText)
	fmt.Fprint(w, placementText(res.Placement))
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// whoAmI is recorded with a commit: user@host.
func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	h, _ := os.Hostname()
	h, _, _ = strings.Cut(h, ".")
	return name + "@" + h
}
