package main

// run.go is the composition root of `haven agent` and `haven witness`: the
// one place that builds real components. It reads top-down: logging,
// configuration, key, data directory, replicated state, membership, raft,
// the committed-file keeper, the membership event consumer, the API. It
// starts them in that order and stops them in reverse, each under its own
// context so the shutdown order is explicit:
//
//   - the API stops first, so no request starts a change during shutdown;
//   - raft hands leadership to another voter before it closes (a new
//     coordinator in tens of milliseconds instead of an election timeout),
//     while gossip still reports this node alive, so no peer starts
//     fence-to-win against a node that is merely stopping;
//   - membership leaves last and gracefully, so peers see "left", not "dead".
//
// The controller (engine/controller: the coordinator's leader loop, the
// reconciler and the lease protocol, composed) is
// built with raft (its Lead is raft's OnLeader) and its node side runs after
// the membership event consumer; it stops before raft closes. On SIGTERM
// the node first stops its resources while still a member
// (controller.Node.StopResources), then the components stop. A witness runs
// only the coordinator side.
//
// The guard (engine/guard, guard.go) starts first and stops last: a
// companion process that tears down what the resources hold (process
// groups, addresses, mounts) if this process dies without an orderly stop.
// A graceful stop says goodbye to it once the resources are stopped; a stop
// after a component failed does not, so the guard tears down whatever
// still runs, as after a crash.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/membership"
	"github.com/havenha/haven/storage"
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

// shutdownStopTimeout bounds the graceful shutdown's first step, stopping
// this node's resources (within systemd's default 90 s stop timeout).
const shutdownStopTimeout = 60 * time.Second

// component is a started part of the agent, stopped in reverse order.
type component struct {
	name string
	// beforeStop runs before cancel (raft's leadership transfer).
	beforeStop func()
	cancel     context.CancelFunc
	done       chan error
}

func runAgent(ctx context.Context, o agentOptions, stderr io.Writer) error {
	// 1. Logging: one slog logger, passed to everything.
	logger, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}

	// 2. Configuration and this node's entry in it. The file's bytes are kept:
	// the first leader of a fresh cluster commits them as version 1.
	fileBytes, cl, err := readConfig(o.configPath)
	if err != nil {
		return err
	}
	var node *model.Node
	if o.witness {
		node, err = chooseWitness(cl, o.node, o.configPath)
	} else {
		node, err = chooseNode(cl, o.node)
		if err == nil && node.IsWitness() {
			err = fmt.Errorf("node %s is a witness (role: witness) and runs no resources; start it with 'haven witness -c %s --node %s'", node.Name, o.configPath, node.Name)
		}
	}
	if err != nil {
		return err
	}
	logger = logger.With("agent", node.Name)

	// 3. The cluster key: one file, a derived key per layer.
	keys, err := membership.LoadKeyFile(config.ResolvePath(o.configPath, cl.Cluster.KeyFile))
	if err != nil {
		return err
	}

	// 4. The data directory: raft's log, stable store and snapshots
	// (consensus opens it and checks it belongs to this cluster and node).
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = storage.PathFor(cl.Cluster.DataDir, node.Name)
	}

	// 5. The replicated state machine, fed by raft.
	st := state.New(state.Options{Parse: parseCommitted})

	// 6. Membership: gossip, failure detection, quorum.
	mem, err := membership.New(membership.Config{Cluster: cl, NodeName: node.Name, Keys: keys, Version: version, Logger: logger})
	if err != nil {
		return err
	}

	// 7. Raft over TCP on the node's raft port, authenticated by the raft key.
	// The link listens when raft starts (step 9); the voter plan is checked
	// now, so a file no raft voter set can serve is refused before anything
	// starts.
	if _, err := consensus.CheckChange(nil, cl, nil); err != nil {
		return fmt.Errorf("%s: %w", o.configPath, err)
	}
	_, raftPort, apiPort := node.Ports()
	raftBind := net.JoinHostPort(node.Addresses[0], strconv.Itoa(raftPort))

	// 7b. The guard: if this process dies, it tears down what the
	// resources hold (started first, below; stopped last).
	var grd *guard.Client
	if o.guard && !node.IsWitness() {
		if grd, err = newGuard(node.Name, o.logLevel, o.logFormat, stderr, logger); err != nil {
			return err
		}
	} else if !node.IsWitness() {
		logger.Warn("running without a guard (--guard=false): if this agent dies, its resources keep running while the cluster recovers them elsewhere")
	}

	// 8. The API: unix socket for the local CLI, TCP for remote ones.
	socket := o.socket
	if socket == "" {
		socket = os.Getenv("HAVEN_SOCKET")
	}
	if socket == "" {
		socket = defaultSocket(node.Name)
	}
	be, err := newAgentBackend(node.Name, cl, mem, st, logger)
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{Backend: be, Logger: logger, SocketPath: socket,
		TCPAddr: net.JoinHostPort(node.Addresses[0], strconv.Itoa(apiPort)), Token: keys.APIToken()})
	if err != nil {
		return err
	}
	// The lease wire (UDP, the API's port number): bound now, answers
	// renewals once the controller exists (step 9); until then a renewal is
	// refused and simply retried.
	wire, err := newLeaseWire(cl, *node, st, keys.Lease, logger)
	if err != nil {
		return err
	}
	defer wire.Close()

	role := "member"
	if node.IsWitness() {
		role = "witness"
	}
	logger.Info("haven agent starting", "version", version, "role", role, "config", o.configPath, "data_dir", dataDir,
		"cluster", cl.Cluster.Name, "profile", cl.ProfileName(), "socket", socket, "raft", raftBind,
		"gomaxprocs", runtime.GOMAXPROCS(0))

	// Start in order; each waits until the previous is ready.
	var started []component
	stopAll := func(reason string) {
		// Reverse order; the reasons are in this file's comment.
		for i := len(started) - 1; i >= 0; i-- {
			c := started[i]
			if c.beforeStop != nil {
				c.beforeStop()
			}
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
	fail := func(what string, err error) error {
		stopAll(what + " failed to start")
		return err
	}

	if grd != nil {
		grdC, err := startComponent(ctx, "guard", grd.Run, grd.Ready())
		if err != nil {
			return err
		}
		started = append(started, grdC)
	}

	memC, err := startComponent(ctx, "membership", mem.Run, mem.Ready())
	if err != nil {
		return fail("membership", err)
	}
	started = append(started, memC)

	// 9. Raft. Fence-to-win (two_node without a witness) proceeds only under
	// no_quorum_policy ignore for now: real fencing is DESIGN.md §7, a later
	// step, so the fencer refuses every fence and consensus keeps waiting.
	link, err := consensus.ListenTCP(consensus.TCPLinkConfig{Bind: raftBind, Key: keys.Raft, Logger: logger})
	if err != nil {
		return fail("raft", fmt.Errorf("raft: %w", err))
	}
	var raftNode *consensus.Node
	var ctl *controller.Node
	raftNode, err = consensus.New(consensus.Config{
		Cluster: cl, Node: node.Name, Key: keys.Raft, DataDir: dataDir, Link: link, State: st,
		Fencer: noFencer{}, Membership: aliveView{mem}, Logger: logger,
		// Lease acks stand in for raft heartbeats (controller.go).
		ContactFresh: func(peer string, term uint64) bool { return wire.Acked(peer, term, contactWindow(cl)) },
		OnLeader: func(ctx context.Context) {
			// A fresh cluster's first leader commits the file, then
			// coordinates (blocks while leading; ctx ends with leadership).
			seedConfig(ctx, logger, raftNode, st, fileBytes, node.Name)
			ctl.Lead(ctx)
		},
	})
	if err != nil {
		link.Close()
		return fail("raft", err)
	}
	be.node = raftNode
	// The resource engine (engine/controller): reconciler, leader loop,
	// lease sender and holder; the lease wire (leasewire) carries renewals. Built now so OnLeader (called once raft
	// runs) finds it; run after the committed-file keeper.
	ctl, err = newController(cl, node.Name, dataDir, st, mem, raftNode, wire, grd, logger)
	if err != nil {
		link.Close()
		_ = raftNode.Close()
		return fail("controller", err)
	}
	be.ctl = ctl
	wire.SetGrant(grantAndContact(ctl, raftNode, node.Name))
	wireC, _ := startComponent(ctx, "lease-wire", wire.Run, closedCh())
	started = append(started, wireC)
	raftC, err := startComponent(ctx, "raft", func(ctx context.Context) error {
		err := raftNode.Run(ctx)
		_ = link.Close() // after raft: it owns the transport until Run returns
		return err
	}, raftNode.Ready())
	if err != nil {
		return fail("raft", err)
	}
	raftC.beforeStop = func() {
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := raftNode.TransferLeadership(tctx); err != nil {
			logger.Warn("raft leadership transfer before stopping failed; the others elect a leader after their timeout", "err", err)
		}
	}
	started = append(started, raftC)

	// 10. The committed configuration: installed into raft's voter plan and
	// written back to this node's file whenever a new version is committed.
	// (The controller — leader loop and reconciler — starts after it; a
	// witness runs no reconciler.)
	keeper := &fileKeeper{path: o.configPath, node: raftNode, st: st, log: logger}
	keepC, _ := startComponent(ctx, "config-file", keeper.Run, closedCh())
	started = append(started, keepC)

	// 11. Membership events: fence-to-win's peer down / peer up, and the
	// controller's liveness and quorum triggers.
	evC, _ := startComponent(ctx, "events", func(ctx context.Context) error {
		return consumeEvents(ctx, logger, mem, raftNode, ctl)
	}, closedCh())
	started = append(started, evC)

	// 11b. The controller's node side: the reconciler converges this node
	// to the committed placement under its lease. A witness runs no
	// resources: it only coordinates (OnLeader) when it is the raft leader,
	// woken by every state and membership change (Coordinate).
	// A graceful shutdown stops the resources first (below, on the
	// signal); stopping the component itself leaves whatever still runs.
	ctlC, _ := startComponent(ctx, "controller", func(ctx context.Context) error {
		var err error
		if node.IsWitness() {
			err = ctl.Coordinate(ctx)
		} else {
			err = ctl.Run(ctx)
		}
		_ = ctl.Close()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	}, closedCh())
	started = append(started, ctlC)

	// 12. The API last: it answers only once everything it reports runs.
	apiC, err := startComponent(ctx, "api", srv.Run, srv.Ready())
	if err != nil {
		return fail("api", err)
	}
	started = append(started, apiC)
	logger.Info("haven agent running")

	// Run until a signal, or until a component fails on its own.
	select {
	case <-ctx.Done():
		// A graceful shutdown first stops this node's resources while it is
		// still a live member (as `pcs cluster stop`), so the coordinator
		// starts them elsewhere only once they stopped here and the node
		// left; then the components stop in reverse order.
		if !node.IsWitness() {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownStopTimeout)
			if err := ctl.StopResources(sctx); err != nil {
				logger.Error("graceful shutdown: resources still active; leaving anyway", "err", err)
				if held := grd.TeardownAll("graceful shutdown could not stop every resource"); len(held) > 0 {
					logger.Error("graceful shutdown: the guard tears down what is still held", "held", held)
				}
			}
			cancel()
			// Resources stopped (or torn down): the guard may go quietly.
			grd.Bye()
		}
		stopAll("signal")
		return nil
	case err := <-memC.done:
		memC.done <- err // let stopAll collect it
		stopAll("membership failed")
		return fmt.Errorf("membership: %w", orStopped(err))
	case err := <-raftC.done:
		raftC.done <- err
		stopAll("raft failed")
		return fmt.Errorf("raft: %w", orStopped(err))
	case err := <-apiC.done:
		apiC.done <- err
		stopAll("api failed")
		return fmt.Errorf("api: %w", orStopped(err))
	}
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
	cl, err := config.Parse(path, data, config.Options{Types: resourceTypes})
	if err != nil {
		return nil, nil, err
	}
	return data, cl, nil
}

// parseCommitted parses a committed configuration (state.Options.Parse).
func parseCommitted(b []byte) (*model.Cluster, error) {
	return config.Parse("committed configuration", b, config.Options{Types: resourceTypes})
}

func closedCh() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
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
