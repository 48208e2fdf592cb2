package main

// admin.go is the server side of the administrative endpoints
// (api.AdminBackend): `haven resource cleanup` and `haven node
// standby|maintenance` commit commands to the replicated state through raft.
// The placement commands (move, ban, clear, enable, disable, where) are in
// resource_backend.go.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/state"
)

var _ api.AdminBackend = (*agentBackend)(nil)

// adminTimeout bounds one administrative commit (leader election included).
const adminTimeout = 20 * time.Second

// primitivesOf expands a primitive, group or clone id to its primitives.
func primitivesOf(c *model.Cluster, id string) ([]string, bool) {
	if _, ok := c.Resource(id); ok {
		return []string{id}, true
	}
	if cl, ok := c.Clone(id); ok {
		if out, ok := primitivesOf(c, cl.Resource); ok {
			return out, true
		}
		return []string{cl.Resource}, true
	}
	if g, ok := c.Group(id); ok {
		return append([]string{}, g.Resources...), true
	}
	return nil, false
}

func resourceIDs(c *model.Cluster) []string {
	var ids []string
	for _, r := range c.Resources {
		ids = append(ids, r.ID)
	}
	for _, g := range c.Groups {
		ids = append(ids, g.ID)
	}
	for _, cl := range c.Clones {
		ids = append(ids, cl.ID)
	}
	sort.Strings(ids)
	return ids
}

func configNodeNames(c *model.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// Cleanup commits one resource.cleanup per member primitive of req.Resource.
func (b *agentBackend) Cleanup(ctx context.Context, req api.CleanupRequest) (api.CleanupResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, _ := b.committed()
	prims, ok := primitivesOf(c, req.Resource)
	if !ok {
		return api.CleanupResponse{}, &api.Error{Status: 404, Message: fmt.Sprintf("no resource, group or clone %q in the committed configuration; expected one of %s",
			req.Resource, strings.Join(resourceIDs(c), ", "))}
	}
	if req.Node != "" {
		if _, ok := c.Node(req.Node); !ok {
			return api.CleanupResponse{}, &api.Error{Status: 404, Message: fmt.Sprintf("no node %q in the committed configuration; expected one of %s",
				req.Node, strings.Join(configNodeNames(c), ", "))}
		}
	}
	by := req.By
	if by == "" {
		by = "api@" + b.name
	}
	resp := api.CleanupResponse{Resource: req.Resource, Node: req.Node, Primitives: prims}
	for _, p := range prims {
		idx, err := b.commit(ctx, state.CmdCleanup, by, state.Cleanup{Resource: p, Node: req.Node})
		if err != nil {
			return api.CleanupResponse{}, err
		}
		resp.Index = idx
	}
	b.log.Info("resource cleanup committed", "resource", req.Resource, "node", req.Node, "primitives", prims, "by", by)
	return resp, nil
}

// Standby commits node.standby for req.Node.
func (b *agentBackend) Standby(ctx context.Context, req api.StandbyRequest) (api.StandbyResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, _ := b.committed()
	n, ok := c.Node(req.Node)
	if !ok {
		return api.StandbyResponse{}, &api.Error{Status: 404, Message: fmt.Sprintf("no node %q in the committed configuration; expected one of %s",
			req.Node, strings.Join(configNodeNames(c), ", "))}
	}
	if n.IsWitness() {
		return api.StandbyResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("node %s is a witness: it runs no resources, so standby means nothing there", req.Node)}
	}
	by := req.By
	if by == "" {
		by = "api@" + b.name
	}
	idx, err := b.commit(ctx, state.CmdNodeStandby, by, state.NodeFlag{Node: req.Node, On: req.On})
	if err != nil {
		return api.StandbyResponse{}, err
	}
	b.log.Info("node standby committed", "node", req.Node, "on", req.On, "by", by)
	return api.StandbyResponse{Node: req.Node, On: req.On, Index: idx}, nil
}

// Maintenance commits node.maintenance for req.Node: its resources are left
// alone (neither started, stopped nor monitored) and nothing new is placed
// there, until it is taken out again.
func (b *agentBackend) Maintenance(ctx context.Context, req api.MaintenanceRequest) (api.MaintenanceResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, _ := b.committed()
	n, ok := c.Node(req.Node)
	if !ok {
		return api.MaintenanceResponse{}, unknownNode(c, req.Node)
	}
	if n.IsWitness() {
		return api.MaintenanceResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("node %s is a witness: it runs no resources, so maintenance means nothing there; nothing changed", req.Node)}
	}
	by := b.by(req.By)
	idx, err := b.commit(ctx, state.CmdNodeMaint, by, state.NodeFlag{Node: req.Node, On: req.On})
	if err != nil {
		return api.MaintenanceResponse{}, err
	}
	b.log.Info("node maintenance committed", "node", req.Node, "on", req.On, "by", by)
	return api.MaintenanceResponse{Node: req.Node, On: req.On, Index: idx}, nil
}

// commit applies one command through raft and waits until this node applied
// it, so the next status read here shows it.
func (b *agentBackend) commit(ctx context.Context, typ, by string, body any) (uint64, error) {
	cmd, err := state.NewCommand(typ, time.Now(), by, body)
	if err != nil {
		return 0, err
	}
	res, err := b.node.Apply(ctx, cmd)
	switch {
	case errors.Is(err, consensus.ErrNoLeader):
		return 0, &api.Error{Status: 503, Message: fmt.Sprintf("no raft leader reachable (%v); nothing changed: a majority of the voters must run", err)}
	case errors.Is(err, consensus.ErrUnknownOutcome):
		return 0, &api.Error{Status: 503, Message: fmt.Sprintf("the change was submitted but its outcome is unknown (%v): check 'haven status'", err)}
	case errors.Is(err, state.ErrRejected), errors.Is(err, consensus.ErrInvalid):
		return 0, &api.Error{Status: 422, Message: err.Error()}
	case err != nil:
		return 0, err
	}
	if err := res.Err(); err != nil {
		return 0, &api.Error{Status: 422, Message: err.Error()}
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	_ = b.st.WaitIndex(wctx, res.Index)
	wcancel()
	return res.Index, nil
}
