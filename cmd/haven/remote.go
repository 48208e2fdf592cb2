package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api/client"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/membership"
)

// How the CLI reaches an agent (every command that talks to a cluster):
//
//   - -c FILE --node NAME: TCP to NAME's API address from FILE (its first
//     address and api_port), with the bearer token derived from FILE's key
//     file; works from any machine holding the configuration and the key.
//   - --socket PATH, or $HAVEN_SOCKET: that unix socket.
//   - --node NAME alone: /run/haven/NAME.sock.
//   - nothing: the only socket in /run/haven (an error names them when
//     several agents run on this machine).

// socketDir holds the agents' unix sockets by default.
const socketDir = "/run/haven"

// defaultSocket is an agent's socket when --socket is not given.
func defaultSocket(node string) string { return filepath.Join(socketDir, node+".sock") }

// remoteFlags are the flags that choose the agent to talk to.
type remoteFlags struct {
	config string
	node   string
	socket string
}

func addRemoteFlags(c *cobra.Command) *remoteFlags {
	r := &remoteFlags{}
	fl := c.Flags()
	fl.StringVarP(&r.config, "config", "c", "", "configuration file: reach --node over TCP with the cluster key")
	fl.StringVar(&r.node, "node", "", "node whose agent to reach")
	fl.StringVar(&r.socket, "socket", "", "the local agent's unix socket (default $HAVEN_SOCKET, /run/haven/NODE.sock)")
	return r
}

// client returns a client for the chosen agent.
func (r *remoteFlags) client() (*client.Client, error) {
	if r.config != "" {
		if r.node == "" {
			return nil, errors.New("-c given without --node; expected --node NAME to choose whose agent to reach")
		}
		cl, err := config.Load(r.config, config.Options{Types: resourceTypes})
		if err != nil {
			return nil, err
		}
		n, ok := cl.Node(r.node)
		if !ok {
			var names []string
			for _, x := range cl.Nodes {
				names = append(names, x.Name)
			}
			return nil, fmt.Errorf("node %q is not in %s; expected one of %s", r.node, r.config, strings.Join(names, ", "))
		}
		keys, err := membership.LoadKeyFile(config.ResolvePath(r.config, cl.Cluster.KeyFile))
		if err != nil {
			return nil, err
		}
		_, _, apiPort := n.Ports()
		return client.TCP(net.JoinHostPort(n.Addresses[0], strconv.Itoa(apiPort)), keys.APIToken()), nil
	}
	if r.socket != "" {
		return client.Unix(r.socket), nil
	}
	if s := os.Getenv("HAVEN_SOCKET"); s != "" {
		return client.Unix(s), nil
	}
	if r.node != "" {
		return client.Unix(defaultSocket(r.node)), nil
	}
	socks, _ := filepath.Glob(filepath.Join(socketDir, "*.sock"))
	switch len(socks) {
	case 0:
		return nil, fmt.Errorf("no agent socket in %s; is 'haven agent' running here? (or use -c FILE --node NAME, or --socket PATH)", socketDir)
	case 1:
		return client.Unix(socks[0]), nil
	default:
		return nil, fmt.Errorf("several agents run here (%s); expected --node NAME or --socket PATH", strings.Join(socks, ", "))
	}
}

// addViewCommand completes a read-only command that asks an agent for one
// view: it adds the remote flags and --json, fetches with a 10 s deadline,
// and prints the view as indented JSON or with human.
func addViewCommand[T any](cmd *cobra.Command, jsonHelp string,
	fetch func(context.Context, *client.Client) (T, error), human func(io.Writer, T, time.Time)) {
	var asJSON bool
	rf := addRemoteFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, jsonHelp)
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		cli, err := rf.client()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context(), 10*time.Second)
		defer cancel()
		v, err := fetch(ctx, cli)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		human(c.OutOrStdout(), v, time.Now())
		return nil
	}
	addCommand(cmd)
}
