package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/coord"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/lease"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/quorum"
	"github.com/havenha/haven/membership"
)

// Config is everything one node needs. The zero value of each seam is the
// real one.
type Config struct {
	// Cluster is the startup configuration, parsed; File is its bytes (a
	// fresh cluster's first leader commits them as version 1); Path is the
	// file every committed configuration is written back to.
	Cluster *model.Cluster
	File    []byte
	Path    string
	// Name is this node's entry in Cluster. A witness entry (role: witness)
	// runs no resources: it votes, stores the log and coordinates.
	Name string
	// DataDir holds raft's log, stable store and snapshots, and the
	// resources' private folders (default: cluster.data_dir/NAME).
	DataDir string
	// Keys are derived from the cluster key file.
	Keys membership.Keys
	// Logger gets every component's lines; Version is this binary's.
	Logger  *slog.Logger
	Version string
	// Types builds resource agents; Options parses committed
	// configurations (the binary's registries).
	Types   model.TypeLookup
	Options config.Options
	// Guard tears down what the resources hold if this process dies; nil
	// runs without one (a member logs a warning).
	Guard *guard.Client
	// APISocket is the local API's unix socket ("" none); APITCP also
	// serves the API on the node's first address and api_port, behind the
	// token derived from the cluster key.
	APISocket string
	APITCP    bool
	// Fencer fences lost nodes (coord.Fencer) and confirms fence-to-win
	// (consensus.Fencer). Nil: this binary cannot fence, and every fence
	// is refused with the reason.
	Fencer coord.Fencer

	// Members is the membership view; nil: gossip (membership.New).
	Members Membership
	// RaftLink opens raft's link when raft starts; nil: TCP on the node's
	// first address and raft port, authenticated by the raft key.
	// RaftAddress maps a node to its raft address (nil: that port).
	RaftLink    func() (consensus.Link, error)
	RaftAddress func(model.Node) raft.ServerAddress
	// LeaseWire carries lease renewals; nil: UDP datagrams on the node's
	// first address and the API's port number (leasewire).
	LeaseWire LeaseTransport

	// Tuning changes only the tempo of background work, for tests.
	Tuning Tuning
}

// Tuning is the tempo of background loops; zero fields are the defaults.
// It changes no decision, only how soon a periodic check runs.
type Tuning struct {
	// NoSync disables fsync of the raft log (tests only).
	NoSync bool
	// ReconcileInterval: consensus.Config.ReconcileInterval.
	ReconcileInterval time.Duration
	// LeaderInterval and Resync: controller.NodeConfig's.
	LeaderInterval, Resync time.Duration
}

// Membership is the gossip view a node runs on (membership.Membership).
type Membership interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
	// Online reports whether node is a live member (this node always).
	Online(node string) bool
	Quorum() quorum.Result
	Status() membership.Status
	// EventCh delivers every change of the view.
	EventCh() <-chan membership.Event
}

var _ Membership = (*membership.Membership)(nil)

// LeaseTransport carries lease renewals between nodes (leasewire.Wire):
// Renew sends one and waits for its answer; renewals addressed to this node
// are answered by the function given to SetGrant (refused until then).
type LeaseTransport interface {
	lease.Renewer
	SetGrant(func(lease.Renewal) (uint64, error))
	Run(ctx context.Context) error
	Close() error
}

func (c *Config) check() (*model.Node, error) {
	if c.Cluster == nil {
		return nil, errors.New("node: no cluster configuration")
	}
	self, ok := c.Cluster.Node(c.Name)
	if !ok {
		return nil, fmt.Errorf("node: %q is not a node of the configuration", c.Name)
	}
	if len(self.Addresses) == 0 {
		return nil, fmt.Errorf("node: %s has no addresses; expected at least one", self.Name)
	}
	var errs []error
	if len(c.File) == 0 {
		errs = append(errs, errors.New("node: File is empty; expected the startup configuration's bytes"))
	}
	if c.Path == "" {
		errs = append(errs, errors.New("node: Path is empty; expected the configuration file the committed versions are written back to"))
	}
	if c.Types == nil && !self.IsWitness() {
		errs = append(errs, errors.New("node: Types is nil; expected the resource type registry"))
	}
	if len(c.Keys.Raft) == 0 {
		errs = append(errs, errors.New("node: no raft key; expected keys derived from the cluster key file"))
	}
	if c.APISocket == "" && !c.APITCP {
		errs = append(errs, errors.New("node: no API socket and no TCP API; expected at least one"))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return self, errors.Join(errs...)
}
