package admin

import (
	"context"
	"fmt"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/state"
)

// Cleanup commits one resource.cleanup per member primitive of req.Resource
// (crm_resource --cleanup): their fail counts, failed and blocked states and
// on_fail=stop holds are forgotten, on req.Node or everywhere, and the
// coordinator places them again.
func (s *Service) Cleanup(ctx context.Context, req api.CleanupRequest) (api.CleanupResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, _ := s.committed()
	prims, ok := primitivesOf(c, req.Resource)
	if !ok {
		return api.CleanupResponse{}, unknownResource(c, req.Resource)
	}
	if req.Node != "" {
		if _, ok := c.Node(req.Node); !ok {
			return api.CleanupResponse{}, unknownNode(c, req.Node)
		}
	}
	by := s.by(req.By)
	resp := api.CleanupResponse{Resource: req.Resource, Node: req.Node, Primitives: prims}
	for _, p := range prims {
		idx, err := s.commit(ctx, state.CmdCleanup, by, state.Cleanup{Resource: p, Node: req.Node})
		if err != nil {
			return api.CleanupResponse{}, err
		}
		resp.Index = idx
	}
	s.log.Info("resource cleanup committed", "resource", req.Resource, "node", req.Node, "primitives", prims, "by", by)
	return resp, nil
}

// Standby commits node.standby for req.Node (pcs node standby): nothing is
// placed there while it is on, so its resources move away; taking it out
// lets them back as stickiness and scores decide. A witness is refused.
func (s *Service) Standby(ctx context.Context, req api.StandbyRequest) (api.StandbyResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, _ := s.committed()
	n, ok := c.Node(req.Node)
	if !ok {
		return api.StandbyResponse{}, unknownNode(c, req.Node)
	}
	if n.IsWitness() {
		return api.StandbyResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("node %s is a witness: it runs no resources, so standby means nothing there", req.Node)}
	}
	by := s.by(req.By)
	idx, err := s.commit(ctx, state.CmdNodeStandby, by, state.NodeFlag{Node: req.Node, On: req.On})
	if err != nil {
		return api.StandbyResponse{}, err
	}
	s.log.Info("node standby committed", "node", req.Node, "on", req.On, "by", by)
	return api.StandbyResponse{Node: req.Node, On: req.On, Index: idx}, nil
}

// Maintenance commits node.maintenance for req.Node (pcs node maintenance):
// its resources are left alone (neither started, stopped nor monitored)
// and nothing new is placed there, until it is taken out again.
func (s *Service) Maintenance(ctx context.Context, req api.MaintenanceRequest) (api.MaintenanceResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, _ := s.committed()
	n, ok := c.Node(req.Node)
	if !ok {
		return api.MaintenanceResponse{}, unknownNode(c, req.Node)
	}
	if n.IsWitness() {
		return api.MaintenanceResponse{}, &api.Error{Status: 422, Message: fmt.Sprintf("node %s is a witness: it runs no resources, so maintenance means nothing there; nothing changed", req.Node)}
	}
	by := s.by(req.By)
	idx, err := s.commit(ctx, state.CmdNodeMaint, by, state.NodeFlag{Node: req.Node, On: req.On})
	if err != nil {
		return api.MaintenanceResponse{}, err
	}
	s.log.Info("node maintenance committed", "node", req.Node, "on", req.On, "by", by)
	return api.MaintenanceResponse{Node: req.Node, On: req.On, Index: idx}, nil
}
