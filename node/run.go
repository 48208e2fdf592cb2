package node

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/controller"
)

// Run binds, starts every component in order and blocks: until ctx ends
// (a graceful stop: the resources stop first, then the components in
// reverse, and Run returns nil), until Abort, or until a component fails
// on its own (the components stop in reverse without stopping the
// resources, and Run returns the failure). Run once.
func (n *Node) Run(ctx context.Context) error {
	log := n.log
	// The lease wire is bound first (a port in use is refused before
	// anything starts); it answers renewals once the controller exists,
	// until then a renewal is refused and simply retried.
	wire := n.cfg.LeaseWire
	if wire == nil {
		var err error
		if wire, err = n.udpLeaseWire(); err != nil {
			return err
		}
	}
	defer wire.Close()
	renewer := newAcks(wire)

	if n.cfg.Guard == nil && !n.self.IsWitness() {
		log.Warn("running without a guard (--guard=false): if this agent dies, its resources keep running while the cluster recovers them elsewhere")
	}
	role := "member"
	if n.self.IsWitness() {
		role = "witness"
	}
	log.Info("haven agent starting", "version", n.cfg.Version, "role", role, "config", n.cfg.Path, "data_dir", n.dataDir,
		"cluster", n.cfg.Cluster.Cluster.Name, "profile", n.cfg.Cluster.ProfileName(), "socket", n.cfg.APISocket, "raft", n.raftBind(),
		"gomaxprocs", runtime.GOMAXPROCS(0))

	// Abort interrupts a start in progress as the caller's ctx would.
	startCtx, cancelStart := context.WithCancel(ctx)
	defer cancelStart()
	go func() {
		select {
		case <-n.abort:
			cancelStart()
		case <-startCtx.Done():
		}
	}()

	// Start in order; each waits until the previous is ready.
	var started []component
	stopAll := func(reason string, handOver bool) {
		// Reverse order; the reasons are in the package comment.
		for i := len(started) - 1; i >= 0; i-- {
			c := started[i]
			if c.beforeStop != nil && handOver {
				c.beforeStop()
			}
			c.cancel()
			select {
			case err := <-c.done:
				if err != nil {
					log.Warn("component stopped with an error", "component", c.name, "err", err)
				}
			case <-time.After(15 * time.Second):
				log.Error("component did not stop in time", "component", c.name)
			}
		}
		log.Info("haven agent stopped", "reason", reason)
	}
	fail := func(what string, err error) error {
		stopAll(what+" failed to start", true)
		return err
	}
	start := func(name string, run func(context.Context) error, ready <-chan struct{}) (component, error) {
		c, err := startComponent(startCtx, name, run, ready)
		if err == nil {
			started = append(started, c)
		}
		return c, err
	}

	if grd := n.cfg.Guard; grd != nil && !n.self.IsWitness() {
		if _, err := start("guard", grd.Run, grd.Ready()); err != nil {
			return err
		}
	}
	memC, err := start("membership", n.mem.Run, n.mem.Ready())
	if err != nil {
		return fail("membership", err)
	}

	// Raft. Fence-to-win (two_node without a witness) proceeds only under
	// no_quorum_policy ignore unless a fencer confirms the fence (DESIGN.md
	// §7); without one every fence is refused and consensus keeps waiting.
	link, err := n.openLink()
	if err != nil {
		return fail("raft", fmt.Errorf("raft: %w", err))
	}
	var fencer consensus.Fencer = noFencer{}
	if n.cfg.Fencer != nil {
		fencer = n.cfg.Fencer
	}
	var cn *consensus.Node
	var ctl *controller.Node
	window := n.cfg.Cluster.EffectiveTiming().ContactWindow()
	cn, err = consensus.New(consensus.Config{
		Cluster: n.cfg.Cluster, Node: n.cfg.Name, Key: n.cfg.Keys.Raft, DataDir: n.dataDir, Link: link, State: n.st,
		Address: n.cfg.RaftAddress, Fencer: fencer, Membership: aliveView{n.mem}, Logger: log,
		NoSync: n.cfg.Tuning.NoSync, ReconcileInterval: n.cfg.Tuning.ReconcileInterval,
		// Lease acks stand in for raft heartbeats (engine.go).
		ContactFresh: func(peer string, term uint64) bool { return renewer.fresh(peer, term, window) },
		OnLeader: func(ctx context.Context) {
			// A fresh cluster's first leader commits the file, then
			// coordinates (blocks while leading; ctx ends with leadership).
			seedConfig(ctx, log, cn, n.st, n.cfg.File, n.cfg.Name)
			ctl.Lead(ctx)
		},
	})
	if err != nil {
		link.Close()
		return fail("raft", err)
	}
	n.be.node = cn
	// The resource engine (engine/controller): reconciler, leader loop,
	// lease sender and holder. Built now so OnLeader (called once raft
	// runs) finds it; run after the committed-file keeper.
	if ctl, err = n.newController(cn, renewer); err != nil {
		link.Close()
		_ = cn.Close()
		return fail("controller", err)
	}
	n.raft, n.ctl, n.be.ctl = cn, ctl, ctl
	wire.SetGrant(grantAndContact(ctl, cn, n.cfg.Name))
	if _, err := start("lease-wire", wire.Run, closedCh()); err != nil {
		return fail("lease-wire", err)
	}
	raftC, err := start("raft", func(ctx context.Context) error {
		err := cn.Run(ctx)
		_ = link.Close() // after raft: it owns the transport until Run returns
		return err
	}, cn.Ready())
	if err != nil {
		return fail("raft", err)
	}
	started[len(started)-1].beforeStop = func() {
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cn.TransferLeadership(tctx); err != nil {
			log.Warn("raft leadership transfer before stopping failed; the others elect a leader after their timeout", "err", err)
		}
	}

	// The committed configuration: installed into raft's voter plan and
	// written back to this node's file whenever a new version is committed.
	keeper := &fileKeeper{path: n.cfg.Path, node: cn, st: n.st, log: log}
	if _, err := start("config-file", keeper.Run, closedCh()); err != nil {
		return fail("config-file", err)
	}
	// Membership events: fence-to-win's peer down / peer up, and the
	// controller's liveness and quorum triggers.
	if _, err := start("events", func(ctx context.Context) error {
		return consumeEvents(ctx, log, n.mem, cn, ctl)
	}, closedCh()); err != nil {
		return fail("events", err)
	}
	// The controller's node side: the reconciler converges this node to
	// the committed placement under its lease. A witness runs no
	// resources: it only coordinates (OnLeader) when it is the raft
	// leader, woken by every state and membership change (Coordinate). A
	// graceful shutdown stops the resources first (below); stopping the
	// component itself leaves whatever still runs.
	if _, err := start("controller", func(ctx context.Context) error {
		var err error
		if n.self.IsWitness() {
			err = ctl.Coordinate(ctx)
		} else {
			err = ctl.Run(ctx)
		}
		_ = ctl.Close()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	}, closedCh()); err != nil {
		return fail("controller", err)
	}
	// The API last: it answers only once everything it reports runs.
	apiC, err := start("api", n.srv.Run, n.srv.Ready())
	if err != nil {
		return fail("api", err)
	}
	log.Info("haven agent running")
	close(n.ready)

	// Run until ctx ends, Abort, or a component fails on its own.
	select {
	case <-n.abort:
		stopAll("aborted", false)
		return nil
	case <-ctx.Done():
		// A graceful shutdown first stops this node's resources while it is
		// still a live member (as `pcs cluster stop`), so the coordinator
		// starts them elsewhere only once they stopped here and the node
		// left; then the components stop in reverse order.
		if !n.self.IsWitness() {
			n.stopResources(ctl)
		}
		stopAll("signal", true)
		return nil
	case err := <-memC.done:
		memC.done <- err // let stopAll collect it
		stopAll("membership failed", true)
		return fmt.Errorf("membership: %w", orStopped(err))
	case err := <-raftC.done:
		raftC.done <- err
		stopAll("raft failed", true)
		return fmt.Errorf("raft: %w", orStopped(err))
	case err := <-apiC.done:
		apiC.done <- err
		stopAll("api failed", true)
		return fmt.Errorf("api: %w", orStopped(err))
	}
}

// stopResources is the graceful shutdown's first step: every resource
// here stopped (bounded), what could not be is torn down by the guard;
// then the guard may go quietly.
func (n *Node) stopResources(ctl *controller.Node) {
	grd := n.cfg.Guard
	sctx, cancel := context.WithTimeout(context.Background(), shutdownStopTimeout)
	defer cancel()
	if err := ctl.StopResources(sctx); err != nil {
		n.log.Error("graceful shutdown: resources still active; leaving anyway", "err", err)
		if held := grd.TeardownAll("graceful shutdown could not stop every resource"); len(held) > 0 {
			n.log.Error("graceful shutdown: the guard tears down what is still held", "held", held)
		}
	}
	grd.Bye()
}

func (n *Node) openLink() (consensus.Link, error) {
	if n.cfg.RaftLink != nil {
		return n.cfg.RaftLink()
	}
	return n.tcpLink()
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
