package main

// resource_role.go: `haven resource enable|disable|restart|where`
// (pcs resource enable|disable|restart, crm_resource --locate).

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api"
)

const agentHelp = "The agent asked is the local one (unix socket; --node NAME: /run/haven/NAME.sock), or with\n" +
	"-c FILE the node --node (or --agent) NAME over TCP, else the first node of the file that answers."

func init() {
	for _, role := range []string{"Started", "Stopped"} {
		name, short := "enable", "Let a resource run again: undo disable (pcs resource enable)"
		if role == "Stopped" {
			name, short = "disable", "Stop a resource everywhere and keep it stopped: target role Stopped (pcs resource disable)"
		}
		cmd := &cobra.Command{
			Use:   name + " RESOURCE [--node NAME] [-c FILE]",
			Short: short,
			Long: short + ".\ndisable sets the runtime target role Stopped; enable removes it, so the file's meta target_role\n" +
				"applies again, or sets Started where the file (or a disabled group or clone above it) would keep\n" +
				"it stopped. A group's or clone's role applies to its members.\n" + agentHelp,
			Args: resourceArgs(1),
		}
		af := addAdminFlags(cmd)
		af.addAgentNode(cmd)
		cmd.RunE = func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
			defer cancel()
			cli, err := af.reachNode(ctx)
			if err != nil {
				return err
			}
			resp, err := cli.SetTargetRole(ctx, api.TargetRoleRequest{Resource: args[0], Role: role, By: whoAmI()})
			if err != nil {
				return err
			}
			if af.asJSON {
				return printJSON(c, resp)
			}
			w := c.OutOrStdout()
			if resp.Index == 0 {
				fmt.Fprintf(w, "%s is already %sd; nothing changed\n", resp.Resource, name)
				return nil
			}
			if resp.Role == "" {
				fmt.Fprintf(w, "%s: enabled: its runtime target role is removed, the configuration's applies (committed at index %d)\n", resp.Resource, resp.Index)
			} else {
				fmt.Fprintf(w, "%s: target role %s (committed at index %d)\n", resp.Resource, resp.Role, resp.Index)
			}
			fmt.Fprint(w, placementText(resp.Placement))
			return nil
		}
		resourceCmd.AddCommand(cmd)
	}

	restart := &cobra.Command{
		Use:   "restart RESOURCE [--timeout DUR] [--node NAME] [-c FILE]",
		Short: "Stop a resource and start it again (pcs resource restart, crm_resource --restart)",
		Long: "Set RESOURCE's target role to Stopped, wait until no node reports it active, then set the\n" +
			"role back to what it was and wait until it runs again. If it does not stop within --timeout\n" +
			"(or the command is interrupted), the role is restored and the command fails saying where it\n" +
			"still runs. Stickiness keeps it where it ran unless something else changed meanwhile.\n" + agentHelp,
		Args: resourceArgs(1),
	}
	var timeout time.Duration
	restart.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the stop, then for the start")
	af := addAdminFlags(restart)
	af.addAgentNode(restart)
	restart.RunE = func(c *cobra.Command, args []string) error {
		if timeout <= 0 {
			return fmt.Errorf("--timeout %s is not positive; expected a duration like 2m", timeout)
		}
		ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cli, err := af.reachNode(rctx)
		cancel()
		if err != nil {
			return err
		}
		res, err := cli.Restart(ctx, args[0], whoAmI()+" (restart)", timeout, c.ErrOrStderr())
		if err != nil {
			return err
		}
		if af.asJSON {
			return printJSON(c, res)
		}
		fmt.Fprintf(c.OutOrStdout(), "Restarted %s: stopped on %s, running on %s\n", res.Resource, strings.Join(res.StoppedOn, ", "), strings.Join(res.RunningOn, ", "))
		return nil
	}
	resourceCmd.AddCommand(restart)

	where := &cobra.Command{
		Use:   "where RESOURCE [--node NAME] [-c FILE]",
		Short: "Show where a resource runs (crm_resource --locate)",
		Long: "Print the nodes where RESOURCE (a primitive, group or clone) runs, its members' nodes, its\n" +
			"runtime target role and its move/ban preferences. The answer is the asked agent's local view.\n" + agentHelp,
		Args: resourceArgs(1),
	}
	waf := addAdminFlags(where)
	waf.addAgentNode(where)
	where.RunE = func(c *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
		defer cancel()
		cli, err := waf.reachNode(ctx)
		if err != nil {
			return err
		}
		v, err := cli.Where(ctx, args[0])
		if err != nil {
			return err
		}
		if waf.asJSON {
			return printJSON(c, v)
		}
		printWhere(c.OutOrStdout(), v)
		return nil
	}
	resourceCmd.AddCommand(where)
}

// printWhere prints crm_resource --locate's line, then the details.
func printWhere(w io.Writer, v api.WhereView) {
	if len(v.Nodes) == 0 {
		fmt.Fprintf(w, "resource %s is NOT running\n", v.Resource)
	} else {
		fmt.Fprintf(w, "resource %s is running on: %s\n", v.Resource, strings.Join(v.Nodes, " "))
	}
	if v.Kind != "primitive" || len(v.Primitives) != 1 || v.Primitives[0].ID != v.Resource {
		for _, p := range v.Primitives {
			on := "stopped"
			if len(p.Started) > 0 {
				on = strings.Join(p.Started, " ")
			}
			fmt.Fprintf(w, "  %s: %s\n", p.ID, on)
		}
	}
	if v.TargetRole != "" {
		fmt.Fprintf(w, "  target role: %s (haven resource %s)\n", v.TargetRole, map[string]string{"Started": "enable", "Stopped": "disable"}[v.TargetRole])
	}
	for _, p := range v.Preferences {
		fmt.Fprintf(w, "  %s\n", preferenceText(p))
	}
}
