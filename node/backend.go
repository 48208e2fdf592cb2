package node

// backend.go fills engine/admin's interfaces from the node's components
// (membership, raft, the resource engine) and hands the service to the
// API: every administrative rule is in engine/admin.

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/admin"
	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/coord"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/membership"
)

// agentBackend serves the API: the operator service over this node's
// components. node and ctl are set by Run before the API starts (they are
// built after the API's listeners are chosen).
type agentBackend struct {
	*admin.Service
	node *consensus.Node
	ctl  *controller.Node
}

// newAgentBackend builds the backend for node name (no I/O).
func newAgentBackend(name string, startup *model.Cluster, mem Membership, st *state.State, opts config.Options, logger *slog.Logger) (*agentBackend, error) {
	b := &agentBackend{}
	svc, err := admin.New(admin.Config{
		Node: name, Startup: startup, State: st, Log: raftLog{b}, Members: gossipView{mem}, Engine: engineView{b},
		Input: coordinatorInput, CheckChange: checkChange, ConfigOptions: opts, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	b.Service = svc
	return b, nil
}

// raftLog is admin.Log over consensus, its errors marked for the service.
type raftLog struct{ b *agentBackend }

func (l raftLog) Apply(ctx context.Context, cmd state.Command) (state.Result, error) {
	res, err := l.b.node.Apply(ctx, cmd)
	return res, markConsensus(err)
}

func (l raftLog) Barrier(ctx context.Context) error { return markConsensus(l.b.node.Barrier(ctx)) }

func (l raftLog) Status() admin.LogStatus {
	cs := l.b.node.Status()
	return admin.LogStatus{State: cs.State, Leader: cs.Leader, Term: cs.Term, Applied: cs.Applied, Voters: cs.Voters, NonVoters: cs.NonVoters}
}

func markConsensus(err error) error {
	switch {
	case errors.Is(err, consensus.ErrNoLeader):
		return admin.Mark(admin.ErrNoLeader, err)
	case errors.Is(err, consensus.ErrUnknownOutcome):
		return admin.Mark(admin.ErrUnknownOutcome, err)
	case errors.Is(err, consensus.ErrInvalid):
		return admin.Mark(admin.ErrInvalid, err)
	}
	return err
}

// checkChange is consensus's rule for a live configuration change.
func checkChange(old, next *model.Cluster) error {
	_, err := consensus.CheckChange(old, next, nil)
	return err
}

// coordinatorInput builds the scheduler input as the coordinator does, so
// the service's previews match what the cluster will do.
func coordinatorInput(c *model.Cluster, v state.Data, self string, alive func(string) bool, quorate bool, now time.Time) scheduler.Input {
	return coord.BuildInput(coord.Input{View: v, Cluster: c, Self: self, Alive: alive, Quorate: quorate}, now).Input
}

// gossipView is admin.Members over membership.
type gossipView struct{ mem Membership }

func (g gossipView) Alive(node string) bool { return g.mem.Online(node) }
func (g gossipView) Quorum() api.QuorumView { return quorumView(g.mem.Status()) }

// engineView is admin.Engine over the resource engine.
type engineView struct{ b *agentBackend }

func (e engineView) Status() (api.ControllerView, bool) {
	if e.b.ctl == nil {
		return api.ControllerView{}, false
	}
	ns := e.b.ctl.Status()
	return api.ControllerView{Leading: ns.Leading, Mode: ns.Mode, ModeWhy: ns.ModeWhy,
		LeaseValid: ns.LeaseValid, LeaseUntil: ns.LeaseUntil, Unclean: ns.Unclean, LeaseLost: ns.LeaseLost}, true
}

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
