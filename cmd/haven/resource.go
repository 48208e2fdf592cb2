package main

// resource.go: `haven resource cleanup`, `haven node
// standby|unstandby|maintenance|unmaintenance`, and what every administrative
// command shares (the resource and node parents, the flags, reaching an
// agent). move/ban/clear are in resource_move.go, enable/disable/restart/where
// in resource_role.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/membership"
)

// resourceCmd and nodeCmd are the parents of the administrative
// subcommands, which register themselves from their files' init functions
// (resource_move.go, resource_role.go).
var (
	resourceCmd = &cobra.Command{Use: "resource", Short: "Administer resources (move, ban, clear, enable, disable, restart, where, cleanup)"}
	nodeCmd     = &cobra.Command{Use: "node", Short: "Administer nodes (standby, unstandby, maintenance, unmaintenance)"}
)

// adminFlags are the flags every administrative command shares: how to
// reach an agent (the local socket, or -c FILE with --agent) and --json.
type adminFlags struct {
	cfgPath, socket, agent string
	node                   string // addAgentNode's --node
	asJSON                 bool
}

func addAdminFlags(cmd *cobra.Command) *adminFlags {
	f := &adminFlags{}
	fl := cmd.Flags()
	fl.StringVarP(&f.cfgPath, "config", "c", "", "configuration file: reach an agent over TCP with the cluster key")
	fl.StringVar(&f.socket, "socket", "", "the local agent's unix socket (default $HAVEN_SOCKET, /run/haven/NODE.sock)")
	fl.StringVar(&f.agent, "agent", "", "with -c: the node whose agent to ask")
	fl.BoolVar(&f.asJSON, "json", false, "print the JSON answer")
	return f
}

// reach returns the client of the chosen agent, prefer's first with -c.
func (f *adminFlags) reach(ctx context.Context, prefer string) (*client.Client, error) {
	return reachAgent(ctx, f.cfgPath, f.socket, f.agent, prefer)
}

// addAgentNode adds --node NAME to a command whose arguments name no node:
// the node whose agent to ask, as for status (/run/haven/NAME.sock, or
// with -c NAME's API). reachNode then uses it.
func (f *adminFlags) addAgentNode(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.node, "node", "", "the node whose agent to ask")
}

// reachNode reaches --agent, else --node's agent, else as reach does.
func (f *adminFlags) reachNode(ctx context.Context) (*client.Client, error) {
	agent := f.agent
	if agent == "" {
		agent = f.node
	}
	return reachAgent(ctx, f.cfgPath, f.socket, agent, f.node)
}

// resourceArgs checks the positional arguments RESOURCE [NODE] (maxArgs 1
// or 2) with a message that names what is expected.
func resourceArgs(maxArgs int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		want := "RESOURCE"
		if maxArgs > 1 {
			want = "RESOURCE [NODE]"
		}
		if len(args) < 1 || len(args) > maxArgs {
			return fmt.Errorf("%s takes %s; got %d argument(s) %q\nrun '%s --help' for usage", c.CommandPath(), want, len(args), args, c.CommandPath())
		}
		for _, a := range args {
			if strings.TrimSpace(a) == "" {
				return fmt.Errorf("%s: an empty argument; expected %s", c.CommandPath(), want)
			}
		}
		return nil
	}
}

func init() {
	res := resourceCmd
	cleanup := &cobra.Command{
		Use:   "cleanup RESOURCE [--node NODE] [-c FILE [--agent NAME]]",
		Short: "Forget a resource's failures (fail counts, failed state, holds) so it may run again (crm_resource --cleanup)",
		Long: "Reset the failures of RESOURCE (a primitive, group or clone id: a group or clone is expanded to\n" +
			"its member primitives), on every node or only on --node NODE. The scheduler then may place it\n" +
			"on a node it had been banned from by migration_threshold or a failed start (stickiness\n" +
			"permitting). The agent reached is the local one (unix socket), or with -c FILE the node\n" +
			"--agent NAME, else --node NODE's, else the first of the file that answers.",
		Args: resourceArgs(1),
	}
	af := addAdminFlags(cleanup)
	var onNode string
	cleanup.Flags().StringVar(&onNode, "node", "", "clean up on this node only (default: every node)")
	cleanup.RunE = func(c *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
		defer cancel()
		cli, err := af.reach(ctx, onNode)
		if err != nil {
			return err
		}
		resp, err := cli.Cleanup(ctx, api.CleanupRequest{Resource: args[0], Node: onNode, By: whoAmI()})
		if err != nil {
			return err
		}
		if af.asJSON {
			return printJSON(c, resp)
		}
		where := "every node"
		if onNode != "" {
			where = onNode
		}
		fmt.Fprintf(c.OutOrStdout(), "Cleaned up %s on %s (committed at index %d)\n", strings.Join(resp.Primitives, ", "), where, resp.Index)
		return nil
	}
	res.AddCommand(cleanup)
	addCommand(res)

	type flagCmd struct {
		name, short, on, off string
		maint, set           bool
	}
	for _, fc := range []flagCmd{
		{"standby", "Move every resource off NODE and keep it off (crm_node/pcs node standby)", "in standby", "", false, true},
		{"unstandby", "Let NODE run resources again", "", "out of standby", false, false},
		{"maintenance", "Leave NODE's resources alone: neither started, stopped nor monitored, and nothing new placed there (pcs node maintenance)", "in maintenance", "", true, true},
		{"unmaintenance", "Manage NODE's resources again", "", "out of maintenance", true, false},
	} {
		cmd := &cobra.Command{
			Use:   fc.name + " NODE [-c FILE [--agent NAME]]",
			Short: fc.short,
			Long: fc.short + ".\nThe agent reached is the local one (unix socket), or with -c FILE the node --agent NAME,\n" +
				"else NODE's, else the first of the file that answers.",
			Args: func(c *cobra.Command, args []string) error {
				if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
					return fmt.Errorf("%s takes NODE; got %d argument(s) %q\nrun '%s --help' for usage", c.CommandPath(), len(args), args, c.CommandPath())
				}
				return nil
			},
		}
		af := addAdminFlags(cmd)
		cmd.RunE = func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
			defer cancel()
			cli, err := af.reach(ctx, args[0])
			if err != nil {
				return err
			}
			var resp any
			var node string
			var idx uint64
			if fc.maint {
				r, err := cli.Maintenance(ctx, api.MaintenanceRequest{Node: args[0], On: fc.set, By: whoAmI()})
				if err != nil {
					return err
				}
				resp, node, idx = r, r.Node, r.Index
			} else {
				r, err := cli.Standby(ctx, api.StandbyRequest{Node: args[0], On: fc.set, By: whoAmI()})
				if err != nil {
					return err
				}
				resp, node, idx = r, r.Node, r.Index
			}
			if af.asJSON {
				return printJSON(c, resp)
			}
			fmt.Fprintf(c.OutOrStdout(), "Node %s is %s (committed at index %d)\n", node, fc.on+fc.off, idx)
			return nil
		}
		nodeCmd.AddCommand(cmd)
	}
	addCommand(nodeCmd)
}

func printJSON(c *cobra.Command, v any) error {
	enc := json.NewEncoder(c.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// reachAgent chooses the agent an administrative command talks to: with a
// configuration file, the node agent (else prefer, else the first node of the
// file whose agent answers) over TCP; without, the local socket.
func reachAgent(ctx context.Context, cfgPath, socket, agent, prefer string) (*client.Client, error) {
	if cfgPath == "" {
		rf := &remoteFlags{socket: socket, node: agent}
		return rf.client()
	}
	cl, err := config.Load(cfgPath, config.Options{Types: resourceTypes})
	if err != nil {
		return nil, err
	}
	keys, err := membership.LoadKeyFile(config.ResolvePath(cfgPath, cl.Cluster.KeyFile))
	if err != nil {
		return nil, err
	}
	clientOf := func(name string) (*client.Client, error) {
		n, ok := cl.Node(name)
		if !ok {
			return nil, fmt.Errorf("node %q is not in %s; expected one of %s", name, cfgPath, nodeNames(cl))
		}
		_, _, apiPort := n.Ports()
		return client.TCP(net.JoinHostPort(n.Addresses[0], strconv.Itoa(apiPort)), keys.APIToken()), nil
	}
	if agent != "" {
		return clientOf(agent)
	}
	var order []string
	if _, ok := cl.Node(prefer); ok {
		order = append(order, prefer)
	}
	for _, n := range cl.Nodes {
		if n.Name != prefer {
			order = append(order, n.Name)
		}
	}
	var errs []error
	for _, name := range order {
		c, _ := clientOf(name)
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Quorum(qctx)
		cancel()
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return nil, fmt.Errorf("no agent of %s answers: %w", cfgPath, errors.Join(errs...))
}

// nodeNames lists c's node names for an error message.
func nodeNames(c *model.Cluster) string {
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}
