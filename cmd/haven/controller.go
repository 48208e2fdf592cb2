package main

// controller.go adapts the agent's components to engine/controller: the
// membership view, the lease transport over the API's TCP port and the
// lease endpoint the API serves.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/guard"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/membership"
)

// newController builds this node's resource engine (no I/O, no goroutines).
// Lease renewals travel coordinator-to-node over the API's TCP port with the
// API token derived from the cluster key; each node's address comes from
// the committed configuration (the startup file until one is committed).
func newController(startup *model.Cluster, name, dataDir, token string, st *state.State, mem *membership.Membership,
	cn *consensus.Node, grd *guard.Client, logger *slog.Logger) (*controller.Node, error) {
	t := startup.EffectiveTiming()
	lease := t.Lease.D()
	renewer := &controller.HTTPRenewer{
		URL: func(node string) (string, error) {
			c, _, err := st.Cluster()
			if err != nil || c == nil {
				c = startup
			}
			n, ok := c.Node(node)
			if !ok {
				return "", fmt.Errorf("node %s is not in the configuration", node)
			}
			_, _, apiPort := n.Ports()
			return "http://" + net.JoinHostPort(n.Addresses[0], strconv.Itoa(apiPort)), nil
		},
		// A renewal that takes longer than half a lease is worth nothing.
		Client: &http.Client{Timeout: max(lease/2, 200*time.Millisecond), Transport: &http.Transport{
			MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: max(lease/4, 100*time.Millisecond)}).DialContext}},
		Prepare: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) },
	}
	cfg := controller.NodeConfig{
		Name: name, State: st, Log: cn, Members: membersView{mem},
		Term:    func() uint64 { return cn.Status().Term },
		Renewer: renewer,
		Types:   builtinTypes().Lookup, DataDir: filepath.Join(dataDir, "resources"),
		Lease: lease, NoQuorumDelay: t.NoQuorumDelay.D(),
		Clock: controller.SystemClock{}, Logger: logger,
		Handoff: raftHandoff{cn}, VerifyLeader: cn.VerifyLeader,
	}
	guardController(&cfg, grd, logger) // guard.go: the guard, armed with the lease (OnLease)
	return controller.NewNode(cfg)
}

// membersView answers controller.Membership from gossip.
type membersView struct{ mem *membership.Membership }

func (m membersView) Alive(node string) bool { return aliveView(m).Alive(node) }
func (m membersView) Quorate() bool          { return m.mem.Quorum().Quorate }

// leaseEndpoint serves controller.LeasePath once the controller exists.
type leaseEndpoint struct{ h atomic.Pointer[http.Handler] }

func (l *leaseEndpoint) set(n *controller.Node) {
	h := n.LeaseHandler()
	l.h.Store(&h)
}

func (l *leaseEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := l.h.Load()
	if h == nil {
		http.Error(w, "lease renewal: this node's controller is not running yet", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

var _ controller.Membership = membersView{}

// raftHandoff moves the coordinator role over raft (controller.Handoff).
type raftHandoff struct{ cn *consensus.Node }

func (h raftHandoff) Voters() []string { return h.cn.Voters() }

func (h raftHandoff) TransferTo(ctx context.Context, name string) error {
	return h.cn.TransferLeadershipTo(ctx, name)
}
