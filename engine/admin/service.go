package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
	"github.com/havenha/haven/engine/state"
)

// Log is the replicated log as the service uses it (consensus.Node in the
// agent, a log applying straight into a state.State in the tests).
type Log interface {
	// Apply commits cmd through the leader and returns its result once the
	// leader applied it. A deterministic refusal wraps state.ErrRejected
	// (and state.ErrStale) with the Result; a failure to commit matches
	// ErrNoLeader, ErrUnknownOutcome or ErrInvalid (see Mark).
	Apply(ctx context.Context, cmd state.Command) (state.Result, error)
	// Barrier returns once this node's state holds everything committed
	// before the call; an error means no leader confirmed it.
	Barrier(ctx context.Context) error
	// Status is this node's view of the log, for `haven status`.
	Status() LogStatus
}

// LogStatus is this node's view of the replicated log.
type LogStatus struct {
	// State is Leader, Follower, Candidate or Shutdown.
	State string
	// Leader is the leader's node name ("" when none is known).
	Leader    string
	Term      uint64
	Applied   uint64
	Voters    []string
	NonVoters []string
}

// Members is the membership view of this node's partition (gossip and the
// weighted quorum).
type Members interface {
	// Alive reports whether the node is seen alive now (this node always).
	Alive(node string) bool
	// Quorum is the quorum and every configured member as seen from here.
	Quorum() api.QuorumView
}

// Engine is this node's resource engine, for `haven status`.
type Engine interface {
	// Status is the engine's snapshot; ok is false while the node runs none.
	Status() (v api.ControllerView, ok bool)
}

// InputFunc builds the scheduler's input from the replicated state and the
// membership view exactly as the coordinator does before each computation
// (engine/coord.BuildInput in the agent), so a preview is what the
// coordinator will decide. self is the answering node; alive and quorate
// are Members' view.
type InputFunc func(c *model.Cluster, view state.Data, self string, alive func(string) bool, quorate bool, now time.Time) scheduler.Input

// Errors a Log marks its failures with (Mark), so the service can say what
// happened without knowing the consensus implementation.
var (
	// ErrNoLeader: no leader was reachable; nothing was submitted.
	ErrNoLeader = errors.New("no raft leader reachable")
	// ErrUnknownOutcome: submitted, but its result is unknown (leadership
	// lost, context ended).
	ErrUnknownOutcome = errors.New("command outcome unknown")
	// ErrInvalid: refused before it reached the log (unknown type, bad body).
	ErrInvalid = errors.New("command refused before commit")
)

// Mark returns err with its message and chain unchanged that also matches
// kind under errors.Is: a Log adapter marks its implementation's errors
// with ErrNoLeader, ErrUnknownOutcome or ErrInvalid. A nil err stays nil.
func Mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: kind}
}

type marked struct{ err, kind error }

func (m *marked) Error() string        { return m.err.Error() }
func (m *marked) Unwrap() error        { return m.err }
func (m *marked) Is(target error) bool { return target == m.kind }

// Config configures a Service. Node, Startup, State, Log, Members and Input
// are required.
type Config struct {
	// Node is the answering node's name: the default author of commands
	// ("api@NODE") and the scheduler's self.
	Node string
	// Startup is the file the agent started with: what status shows and
	// what requests are checked against until a configuration is committed.
	Startup *model.Cluster
	// State is this node's replica of the replicated state.
	State *state.State
	Log   Log
	// Members is gossip's view; Engine the resource engine (nil: none).
	Members Members
	Engine  Engine
	Input   InputFunc
	// CheckChange applies the consensus layer's rules to a live
	// configuration change (voter set, raft addresses, cluster identity);
	// nil checks nothing there.
	CheckChange func(old, next *model.Cluster) error
	// ConfigOptions are the binary's registries a `config apply` file is
	// checked against (a type nothing here can run is refused).
	ConfigOptions config.Options
	// Logger records every committed change; nil discards.
	Logger *slog.Logger
	// Now is the clock commands are stamped with (nil: time.Now).
	Now func() time.Time
}

// Validate reports every missing required field at once.
func (c Config) Validate() error {
	var errs []error
	need := func(ok bool, what string) {
		if !ok {
			errs = append(errs, fmt.Errorf("admin: %s is missing", what))
		}
	}
	need(c.Node != "", "Node (the answering node's name)")
	need(c.Startup != nil, "Startup (the configuration the agent started with)")
	need(c.State != nil, "State")
	need(c.Log != nil, "Log")
	need(c.Members != nil, "Members")
	need(c.Input != nil, "Input (the coordinator's scheduler input builder)")
	return errors.Join(errs...)
}

// Service answers every administrative request. It implements
// api.Backend, api.AdminBackend and api.PlacementBackend; its methods are
// safe for concurrent use (the state and the log serialise what matters).
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

var (
	_ api.Backend          = (*Service)(nil)
	_ api.AdminBackend     = (*Service)(nil)
	_ api.PlacementBackend = (*Service)(nil)
)

// New checks cfg and returns the service (no I/O).
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// adminTimeout bounds one administrative request (leader election included).
const adminTimeout = 20 * time.Second

// committed returns the committed configuration, or the startup file while
// nothing is committed (version 0).
func (s *Service) committed() (*model.Cluster, uint64) {
	c, v, err := s.cfg.State.Cluster()
	if err != nil || v == 0 || c == nil {
		return s.cfg.Startup, v
	}
	return c, v
}

// by is who a command is recorded as coming from.
func (s *Service) by(req string) string {
	if req != "" {
		return req
	}
	return "api@" + s.cfg.Node
}

// noLeader is the refusal when no leader confirms this node's state.
func (s *Service) noLeader(err error) error {
	return &api.Error{Status: 503, Message: fmt.Sprintf("no raft leader reachable from %s (%v); nothing changed: a majority of the voters must run to commit a change (haven status shows them)", s.cfg.Node, err)}
}

// current makes this node's state hold everything committed before the
// request (a barrier through the leader), so the checks and the preview
// see where resources run now; without a leader nothing could be
// committed anyway.
func (s *Service) current(ctx context.Context) error {
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.cfg.Log.Barrier(bctx); err != nil {
		return s.noLeader(err)
	}
	return nil
}

// commit applies one command through the log and waits until this node
// applied it, so the next status read here shows it.
func (s *Service) commit(ctx context.Context, typ, by string, body any) (uint64, error) {
	cmd, err := state.NewCommand(typ, s.now(), by, body)
	if err != nil {
		return 0, err
	}
	res, err := s.cfg.Log.Apply(ctx, cmd)
	switch {
	case errors.Is(err, ErrNoLeader):
		return 0, &api.Error{Status: 503, Message: fmt.Sprintf("no raft leader reachable (%v); nothing changed: a majority of the voters must run", err)}
	case errors.Is(err, ErrUnknownOutcome):
		return 0, &api.Error{Status: 503, Message: fmt.Sprintf("the change was submitted but its outcome is unknown (%v): check 'haven status'", err)}
	case errors.Is(err, state.ErrRejected), errors.Is(err, ErrInvalid):
		return 0, &api.Error{Status: 422, Message: err.Error()}
	case err != nil:
		return 0, err
	}
	if err := res.Err(); err != nil {
		return 0, &api.Error{Status: 422, Message: err.Error()}
	}
	s.waitApplied(ctx, res.Index)
	return res.Index, nil
}

// waitApplied lets this node apply index too (bounded: a lagging replica
// only makes the next read here stale, the change is committed).
func (s *Service) waitApplied(ctx context.Context, index uint64) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = s.cfg.State.WaitIndex(wctx, index)
	cancel()
}

// schedule runs the scheduler on v as the coordinator would build its input.
func (s *Service) schedule(c *model.Cluster, v state.Data, now time.Time) (model.Plan, scheduler.Explanation) {
	in := s.cfg.Input(c, v, s.cfg.Node, s.cfg.Members.Alive, s.cfg.Members.Quorum().Quorate, now)
	return scheduler.Compute(in, now)
}
