package main

// run.go is the composition root of `haven agent`: the one place that builds
// real components. It reads top-down: logging, configuration, key, data
// directory, membership, API; it starts them in that order and stops them in
// reverse. Later components (raft, the state machine, the controller) slot in
// between membership and the API, each with its own context so shutdown
// order is explicit.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/membership"
)

type agentOptions struct {
	configPath string
	node       string
	dataDir    string
	socket     string
	logLevel   string
	logFormat  string
}

// component is a started part of the agent, stopped in reverse order.
type component struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

func runAgent(ctx context.Context, o agentOptions, stderr io.Writer) error {
	// 1. Logging: one slog logger, passed to everything.
	logger, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}

	// 2. Configuration and this node's entry in it.
	cl, err := config.Load(o.configPath, config.Options{Types: resourceTypes})
	if err != nil {
		return err
	}
	node, err := chooseNode(cl, o.node)
	if err != nil {
		return err
	}
	logger = logger.With("agent", node.Name)

	// 3. The cluster key: one file, a derived key per layer.
	keys, err := membership.LoadKeyFile(config.ResolvePath(o.configPath, cl.Cluster.KeyFile))
	if err != nil {
		return err
	}

	// 4. The data directory (raft and state will live here).
	dataDir := o.dataDir
	if dataDir == "" {
		base := cl.Cluster.DataDir
		if base == "" {
			base = "/var/lib/haven"
		}
		dataDir = filepath.Join(base, node.Name)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}

	// 5. Membership: gossip, failure detection, quorum.
	mem, err := membership.New(membership.Config{Cluster: cl, NodeName: node.Name, Keys: keys, Version: version, Logger: logger})
	if err != nil {
		return err
	}

	// 6. The API: unix socket for the local CLI, TCP for remote ones.
	socket := o.socket
	if socket == "" {
		socket = os.Getenv("HAVEN_SOCKET")
	}
	if socket == "" {
		socket = defaultSocket(node.Name)
	}
	_, _, apiPort := node.Ports()
	srv, err := api.New(api.Config{Backend: agentBackend{mem: mem}, Logger: logger, SocketPath: socket,
		TCPAddr: net.JoinHostPort(node.Addresses[0], strconv.Itoa(apiPort)), Token: keys.APIToken()})
	if err != nil {
		return err
	}

	logger.Info("haven agent starting", "version", version, "config", o.configPath, "data_dir", dataDir,
		"cluster", cl.Cluster.Name, "profile", cl.ProfileName(), "socket", socket)

	// Start in order; each waits until the previous is ready.
	var started []component
	stopAll := func(reason string) {
		// Reverse order: stop answering the API first, then leave the
		// cluster gracefully so peers see "left", not "dead".
		for i := len(started) - 1; i >= 0; i-- {
			c := started[i]
			c.cancel()
			select {
			case err := <-c.done:
				if err != nil {
					logger.Warn("component stopped with an error", "component", c.name, "err", err)
				}
			case <-time.After(15 * time.Second):
				logger.Error("component did not stop in time", "component", c.name)
			}
		}
		logger.Info("haven agent stopped", "reason", reason)
	}
	memC, err := startComponent(ctx, "membership", mem.Run, mem.Ready())
	if err != nil {
		return err
	}
	started = append(started, memC)
	// Membership events have no consumer yet (the controller will take
	// them); drain them to the debug log so the buffer never fills.
	readyNow := make(chan struct{})
	close(readyNow)
	evC, _ := startComponent(ctx, "events", func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case e := <-mem.EventCh():
				logger.Debug("membership event", "kind", e.Kind, "node", e.Node, "link", e.Link, "quorate", e.Quorum.Quorate)
			}
		}
	}, readyNow)
	started = append(started, evC)
	apiC, err := startComponent(ctx, "api", srv.Run, srv.Ready())
	if err != nil {
		stopAll("api failed to start")
		return err
	}
	started = append(started, apiC)
	logger.Info("haven agent running")

	// Run until a signal, or until a component fails on its own.
	select {
	case <-ctx.Done():
		stopAll("signal")
		return nil
	case err := <-memC.done:
		memC.done <- err // let stopAll collect it
		stopAll("membership failed")
		return fmt.Errorf("membership: %w", orStopped(err))
	case err := <-apiC.done:
		apiC.done <- err
		stopAll("api failed")
		return fmt.Errorf("api: %w", orStopped(err))
	}
}

func orStopped(err error) error {
	if err == nil {
		return errors.New("stopped unexpectedly")
	}
	return err
}

// startComponent runs run in a goroutine under its own context and waits for
// ready (or an early error).
func startComponent(parent context.Context, name string, run func(context.Context) error, ready <-chan struct{}) (component, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	c := component{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- run(ctx) }()
	select {
	case <-ready:
		return c, nil
	case err := <-c.done:
		cancel()
		return c, fmt.Errorf("start %s: %w", name, orStopped(err))
	case <-parent.Done():
		cancel()
		<-c.done
		return c, fmt.Errorf("start %s: interrupted", name)
	}
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

// agentBackend adapts the components to the API's Backend.
type agentBackend struct {
	mem *membership.Membership
}

func (b agentBackend) Quorum() api.QuorumView { return quorumView(b.mem.Status()) }

// quorumView converts membership's snapshot to the API's wire shape.
func quorumView(s membership.Status) api.QuorumView {
	v := api.QuorumView{
		Quorate: s.Quorum.Quorate, ExpectedVotes: s.Quorum.ExpectedVotes, HighestExpected: s.Quorum.HighestExpected,
		TotalVotes: s.Quorum.TotalVotes, Quorum: s.Quorum.Quorum, Flags: append([]string{}, s.Quorum.Flags...),
		Members: []api.MemberView{},
	}
	for _, m := range s.Members {
		mv := api.MemberView{Name: m.Name, Votes: m.Votes, Online: m.Online, State: m.State, Local: m.Local, Links: []api.LinkView{}}
		for _, l := range m.Links {
			mv.Links = append(mv.Links, api.LinkView{Link: l.Link, Address: l.Address, Up: l.Up})
		}
		v.Members = append(v.Members, mv)
	}
	return v
}
