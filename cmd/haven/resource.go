package main

// resource.go: `haven resource cleanup` and `haven node standby|unstandby`,
// the administrative commands that commit to the replicated state.

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
	"github.com/havenha/haven/membership"
)

func init() {
	res := &cobra.Command{Use: "resource", Short: "Administer resources (cleanup)"}
	var asJSON bool
	var onNode, agent string
	cleanup := &cobra.Command{
		Use:   "cleanup RESOURCE [--node NODE] [-c FILE [--agent NAME]]",
		Short: "Forget a resource's failures (fail counts, failed state, holds) so it may run again (crm_resource --cleanup)",
		Long: "Reset the failures of RESOURCE (a primitive, group or clone id: a group or clone is expanded to\n" +
			"its member primitives), on every node or only on --node NODE. The scheduler then may place it\n" +
			"on a node it had been banned from by migration_threshold or a failed start (stickiness\n" +
			"permitting). The agent reached is the local one (unix socket), or with -c FILE the node\n" +
			"--agent NAME, else --node NODE's, else the first of the file that answers.",
		Args: cobra.ExactArgs(1),
	}
	cf := cleanup.Flags()
	cf.StringVar(&onNode, "node", "", "clean up on this node only (default: every node)")
	cf.StringVar(&agent, "agent", "", "with -c: the node whose agent to ask")
	var cfgPath, socket string
	cf.StringVarP(&cfgPath, "config", "c", "", "configuration file: reach an agent over TCP with the cluster key")
	cf.StringVar(&socket, "socket", "", "the local agent's unix socket (default $HAVEN_SOCKET, /run/haven/NODE.sock)")
	cf.BoolVar(&asJSON, "json", false, "print the JSON answer")
	cleanup.RunE = func(c *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
		defer cancel()
		cli, err := reachAgent(ctx, cfgPath, socket, agent, onNode)
		if err != nil {
			return err
		}
		resp, err := cli.Cleanup(ctx, api.CleanupRequest{Resource: args[0], Node: onNode, By: whoAmI()})
		if err != nil {
			return err
		}
		if asJSON {
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

	nodeCmd := &cobra.Command{Use: "node", Short: "Administer nodes (standby, unstandby)"}
	for _, on := range []bool{true, false} {
		name, short := "standby", "Move every resource off NODE and keep it off (crm_node/pcs node standby)"
		if !on {
			name, short = "unstandby", "Let NODE run resources again"
		}
		var cfgPath, socket, agent string
		var asJSON bool
		cmd := &cobra.Command{
			Use:   name + " NODE [-c FILE [--agent NAME]]",
			Short: short,
			Long: short + ".\nThe agent reached is the local one (unix socket), or with -c FILE the node --agent NAME,\n" +
				"else NODE's, else the first of the file that answers.",
			Args: cobra.ExactArgs(1),
		}
		fl := cmd.Flags()
		fl.StringVarP(&cfgPath, "config", "c", "", "configuration file: reach an agent over TCP with the cluster key")
		fl.StringVar(&socket, "socket", "", "the local agent's unix socket (default $HAVEN_SOCKET, /run/haven/NODE.sock)")
		fl.StringVar(&agent, "agent", "", "with -c: the node whose agent to ask")
		fl.BoolVar(&asJSON, "json", false, "print the JSON answer")
		cmd.RunE = func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
			defer cancel()
			cli, err := reachAgent(ctx, cfgPath, socket, agent, args[0])
			if err != nil {
				return err
			}
			resp, err := cli.Standby(ctx, api.StandbyRequest{Node: args[0], On: on, By: whoAmI()})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(c, resp)
			}
			state := "in standby"
			if !on {
				state = "out of standby"
			}
			fmt.Fprintf(c.OutOrStdout(), "Node %s is %s (committed at index %d)\n", resp.Node, state, resp.Index)
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
