package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/storage"
)

// shutdownStopTimeout bounds the graceful shutdown's first step, stopping
// this node's resources (within systemd's default 90 s stop timeout).
const shutdownStopTimeout = 60 * time.Second

// Node is one cluster node, assembled. See the package comment for the
// order of its parts.
type Node struct {
	cfg     Config
	self    model.Node
	log     *slog.Logger
	dataDir string
	st      *state.State
	mem     Membership
	be      *agentBackend
	srv     *api.Server

	ready     chan struct{}
	abortOnce sync.Once
	abort     chan struct{}
	// Set by Run before ready is closed.
	raft *consensus.Node
	ctl  *controller.Node
}

// New checks cfg and builds what needs no I/O: the state machine,
// membership, the operator service and the API server.
func New(cfg Config) (*Node, error) {
	self, err := cfg.check()
	if err != nil {
		return nil, err
	}
	// The voter plan is checked now, so a file no raft voter set can serve
	// is refused before anything starts.
	if _, err := consensus.CheckChange(nil, cfg.Cluster, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	n := &Node{cfg: cfg, self: *self, log: cfg.Logger, dataDir: cfg.DataDir,
		ready: make(chan struct{}), abort: make(chan struct{})}
	if n.dataDir == "" {
		n.dataDir = storage.PathFor(cfg.Cluster.Cluster.DataDir, self.Name)
	}
	opts := cfg.Options
	n.st = state.New(state.Options{Parse: func(b []byte) (*model.Cluster, error) {
		return config.Parse("committed configuration", b, opts)
	}})
	if n.mem = cfg.Members; n.mem == nil {
		if n.mem, err = n.gossip(); err != nil {
			return nil, err
		}
	}
	if n.be, err = newAgentBackend(self.Name, cfg.Cluster, n.mem, n.st, opts, n.log); err != nil {
		return nil, err
	}
	ac := api.Config{Backend: n.be, Logger: n.log, SocketPath: cfg.APISocket}
	if cfg.APITCP {
		ac.TCPAddr, ac.Token = n.apiBind(), cfg.Keys.APIToken()
	}
	if n.srv, err = api.New(ac); err != nil {
		return nil, err
	}
	return n, nil
}

// State is the replicated state machine.
func (n *Node) State() *state.State { return n.st }

// Ready is closed once every component runs.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Raft and Controller are this node's consensus node and resource engine,
// once Ready.
func (n *Node) Raft() *consensus.Node        { return n.raft }
func (n *Node) Controller() *controller.Node { return n.ctl }

// Abort stops every component in reverse order without the graceful
// steps: the resources are not stopped, the guard gets no goodbye (so it
// tears down what they hold, as after a crash) and raft does not hand its
// leadership over first. Run then returns nil. In-process tests use it for
// the death of a node's agent.
func (n *Node) Abort() { n.abortOnce.Do(func() { close(n.abort) }) }

// component is a started part of the node, stopped in reverse order.
type component struct {
	name string
	// beforeStop runs before cancel (raft's leadership transfer).
	beforeStop func()
	cancel     context.CancelFunc
	done       chan error
}
