package main

// run.go is `haven agent` and `haven witness`: it reads the files the
// flags name (configuration, cluster key), starts the guard, and runs the
// node package, which builds and orders every component (its package
// comment has the start and stop order and why).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/membership"
	"github.com/havenha/haven/node"
)

type agentOptions struct {
	configPath string
	node       string
	dataDir    string
	socket     string
	logLevel   string
	logFormat  string
	// witness: run the witness entry of the file (haven witness), which
	// votes and stores the log but runs no resources.
	witness bool
	// guard: run the guard (software watchdog) beside the agent; a
	// witness runs none (it holds no resources).
	guard bool
}

func runAgent(ctx context.Context, o agentOptions, stderr io.Writer) error {
	logger, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	// The file's bytes are kept: the first leader of a fresh cluster
	// commits them as version 1.
	fileBytes, cl, err := readConfig(o.configPath)
	if err != nil {
		return err
	}
	var self *model.Node
	if o.witness {
		self, err = chooseWitness(cl, o.node, o.configPath)
	} else {
		self, err = chooseNode(cl, o.node)
		if err == nil && self.IsWitness() {
			err = fmt.Errorf("node %s is a witness (role: witness) and runs no resources; start it with 'haven witness -c %s --node %s'", self.Name, o.configPath, self.Name)
		}
	}
	if err != nil {
		return err
	}
	logger = logger.With("agent", self.Name)
	// The cluster key: one file, a derived key per layer.
	keys, err := membership.LoadKeyFile(config.ResolvePath(o.configPath, cl.Cluster.KeyFile))
	if err != nil {
		return err
	}
	var grd *guard.Client
	if o.guard && !self.IsWitness() {
		if grd, err = newGuard(self.Name, o.logLevel, o.logFormat, stderr, logger); err != nil {
			return err
		}
	}
	socket := o.socket
	if socket == "" {
		socket = os.Getenv("HAVEN_SOCKET")
	}
	if socket == "" {
		socket = defaultSocket(self.Name)
	}
	n, err := node.New(node.Config{
		Cluster: cl, File: fileBytes, Path: o.configPath, Name: self.Name, DataDir: o.dataDir,
		Keys: keys, Logger: logger, Version: version, Types: resourceTypes, Options: configOptions(),
		Guard: grd, APISocket: socket, APITCP: true,
	})
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// readConfig reads and parses the configuration file, keeping its bytes.
func readConfig(path string) ([]byte, *model.Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	if len(data) > config.MaxFileSize {
		return nil, nil, fmt.Errorf("configuration %s is larger than %d bytes; expected a configuration file", path, config.MaxFileSize)
	}
	cl, err := config.Parse(path, data, configOptions())
	if err != nil {
		return nil, nil, err
	}
	return data, cl, nil
}

// chooseNode finds the node by --node, else by host name.
func chooseNode(cl *model.Cluster, name string) (*model.Node, error) {
	var names []string
	for _, n := range cl.Nodes {
		names = append(names, n.Name)
	}
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("no --node and no host name (%v); expected --node NAME, one of %s", err, strings.Join(names, ", "))
		}
		name, _, _ = strings.Cut(h, ".")
		if _, ok := cl.Node(name); !ok {
			return nil, fmt.Errorf("no --node, and the host name %q is not a node of the configuration; expected --node NAME, one of %s", name, strings.Join(names, ", "))
		}
	}
	n, ok := cl.Node(name)
	if !ok {
		return nil, fmt.Errorf("node %q is not in the configuration; expected one of %s", name, strings.Join(names, ", "))
	}
	return n, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q is not understood; expected debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q is not understood; expected text or json", format)
}
