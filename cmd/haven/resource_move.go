package main

// resource_move.go: `haven resource move|ban|clear`, crm_resource
// --move/--ban/--clear (pcs resource move|ban|clear). The agent checks the
// request and says what the cluster will do (engine/admin); this
// file parses the arguments and prints the answer.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api"
)

const reachHelp = "The agent reached is the local one (unix socket), or with -c FILE the node --agent NAME, else\n" +
	"NODE's when given, else the first node of the file that answers."

func init() {
	for _, kind := range []string{"move", "ban"} {
		var lifetime, nodeFlag string
		var force bool
		cmd := &cobra.Command{Args: resourceArgs(2)}
		switch kind {
		case "move":
			cmd.Use = "move RESOURCE [NODE] [--lifetime DUR] [--force] [-c FILE [--agent NAME]]"
			cmd.Short = "Move a resource to NODE, or away from where it runs (crm_resource --move, pcs resource move)"
			cmd.Long = "With NODE, prefer NODE for RESOURCE with INFINITY (any ban of RESOURCE on NODE is cleared first):\n" +
				"it moves there, and returns there whenever NODE can run it. Without NODE, ban RESOURCE from the\n" +
				"node it runs on now, so it moves elsewhere. The preference stays until 'haven resource clear\n" +
				"RESOURCE' (or until --lifetime passes). A move to a node where RESOURCE cannot run (a witness,\n" +
				"an offline or standby node, a -INFINITY location) is refused with the reason; --force commits it\n" +
				"anyway (not to a witness). Clones are not moved: ban them from a node instead.\n" + reachHelp
		case "ban":
			cmd.Use = "ban RESOURCE [NODE] [--lifetime DUR] [-c FILE [--agent NAME]]"
			cmd.Short = "Keep a resource off NODE, default the node it runs on (crm_resource --ban, pcs resource ban)"
			cmd.Long = "Add a -INFINITY preference for RESOURCE on NODE (default: the node it runs on now): it stops\n" +
				"there and never runs there, even when NODE is the last node able to run it, until 'haven\n" +
				"resource clear RESOURCE [NODE]' (or until --lifetime passes).\n" + reachHelp
		}
		fl := cmd.Flags()
		fl.StringVar(&lifetime, "lifetime", "", "the preference expires after DUR (30m, 2h, 1h30m, or ISO 8601 PT30M, P1D); default: until cleared")
		fl.StringVar(&nodeFlag, "node", "", "NODE as a flag (crm_resource --node)")
		if kind == "move" {
			fl.BoolVar(&force, "force", false, "commit the move even where the scheduler says it cannot run now")
		}
		af := addAdminFlags(cmd)
		cmd.RunE = func(c *cobra.Command, args []string) error {
			node, err := nodeArg(args, nodeFlag)
			if err != nil {
				return err
			}
			if lifetime != "" {
				if _, err := api.ParseLifetime(lifetime); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
			defer cancel()
			cli, err := af.reach(ctx, node)
			if err != nil {
				return err
			}
			req := api.MoveRequest{Resource: args[0], Node: node, Lifetime: lifetime, Force: force, By: whoAmI()}
			do := cli.Move
			if kind == "ban" {
				do = cli.Ban
			}
			resp, err := do(ctx, req)
			if err != nil {
				return err
			}
			if af.asJSON {
				return printJSON(c, resp)
			}
			printMove(c.OutOrStdout(), resp, kind, lifetime)
			return nil
		}
		resourceCmd.AddCommand(cmd)
	}

	var nodeFlag string
	clear := &cobra.Command{
		Use:   "clear RESOURCE [NODE] [-c FILE [--agent NAME]]",
		Short: "Remove the move and ban preferences of a resource (crm_resource --clear, pcs resource clear)",
		Long: "Remove what 'haven resource move' and 'ban' added for RESOURCE (only those naming NODE when\n" +
			"given). The resource may then stay where it runs or go back, as stickiness and the\n" +
			"configuration's constraints decide.\n" + reachHelp,
		Args: resourceArgs(2),
	}
	clear.Flags().StringVar(&nodeFlag, "node", "", "NODE as a flag (crm_resource --node)")
	af := addAdminFlags(clear)
	clear.RunE = func(c *cobra.Command, args []string) error {
		node, err := nodeArg(args, nodeFlag)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
		defer cancel()
		cli, err := af.reach(ctx, node)
		if err != nil {
			return err
		}
		resp, err := cli.Clear(ctx, api.ClearRequest{Resource: args[0], Node: node, By: whoAmI()})
		if err != nil {
			return err
		}
		if af.asJSON {
			return printJSON(c, resp)
		}
		w := c.OutOrStdout()
		on := ""
		if node != "" {
			on = " on " + node
		}
		if len(resp.Cleared) == 0 {
			fmt.Fprintf(w, "%s has no move or ban preference%s; nothing changed\n", resp.Resource, on)
			return nil
		}
		fmt.Fprintf(w, "Cleared %s of %s (committed at index %d)\n", plural(len(resp.Cleared), "preference"), resp.Resource, resp.Index)
		for _, p := range resp.Cleared {
			fmt.Fprintf(w, "  %s\n", preferenceText(p))
		}
		fmt.Fprint(w, placementText(resp.Placement))
		return nil
	}
	resourceCmd.AddCommand(clear)
}

// nodeArg returns NODE from the second argument or --node (not both
// different).
func nodeArg(args []string, flag string) (string, error) {
	node := ""
	if len(args) > 1 {
		node = args[1]
	}
	switch {
	case flag == "":
	case node == "" || node == flag:
		node = flag
	default:
		return "", fmt.Errorf("NODE given twice: %q as an argument and %q with --node; expected one", node, flag)
	}
	return node, nil
}

// preferenceText renders one preference for people.
func preferenceText(p api.PreferenceView) string {
	s := fmt.Sprintf("%s: prefer %s (%s, 'haven resource move')", p.Resource, p.Node, p.Score)
	if p.Kind == "ban" {
		s = fmt.Sprintf("%s: banned from %s (%s, 'haven resource ban')", p.Resource, p.Node, p.Score)
	}
	if p.Expires != nil {
		s += ", expires " + p.Expires.Local().Format("Mon Jan _2 15:04:05 2006")
	}
	return s
}

func printMove(w io.Writer, r api.MoveResponse, asked, lifetime string) {
	switch {
	case r.Kind == "move":
		fmt.Fprintf(w, "Moving %s to %s: preference INFINITY on %s (committed at index %d)\n", r.Resource, r.Node, r.Node, r.Index)
	case asked == "move":
		fmt.Fprintf(w, "Moving %s away from %s: banned there with -INFINITY (committed at index %d)\n", r.Resource, r.Node, r.Index)
	default:
		fmt.Fprintf(w, "Banned %s from %s: preference -INFINITY on %s (committed at index %d)\n", r.Resource, r.Node, r.Node, r.Index)
	}
	for _, p := range r.Cleared {
		fmt.Fprintf(w, "  cleared first: %s\n", preferenceText(p))
	}
	if len(r.From) > 0 {
		fmt.Fprintf(w, "  it ran on: %s\n", strings.Join(r.From, ", "))
	}
	fmt.Fprint(w, placementText(r.Placement))
	for _, x := range r.Warnings {
		fmt.Fprintf(w, "Warning: %s\n", x)
	}
	clearCmd := "haven resource clear " + r.Resource
	if r.Kind == "ban" {
		clearCmd += " " + r.Node
	}
	until := fmt.Sprintf("until '%s'", clearCmd)
	if r.Expires != nil {
		until = fmt.Sprintf("until %s (lifetime %s) or '%s'", r.Expires.Local().Format("Mon Jan _2 15:04:05 2006"), lifetime, clearCmd)
	}
	if r.Kind == "move" {
		fmt.Fprintf(w, "Warning: %s stays preferred on %s %s: it returns there whenever %s can run it.\n", r.Resource, r.Node, until, r.Node)
	} else {
		fmt.Fprintf(w, "Warning: %s stays banned from %s %s, even if %s is the last node able to run it.\n", r.Resource, r.Node, until, r.Node)
	}
}
