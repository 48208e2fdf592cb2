package consensus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/state"
)

// Apply commits a command through the leader, from any node, and returns its
// result once it is applied on the leader. The command is checked against
// engine/state's table first (ErrInvalid, nothing submitted). A deterministic
// rejection (stale base version, stale plan) comes back as an error wrapping
// state.ErrRejected, with the Result.
//
// Retries are only made while nothing was submitted (no leader yet, the
// target was not the leader). After submission a lost leadership or an ended
// context gives ErrUnknownOutcome: the caller decides (SetConfig's base
// version makes a blind retry safe; reports carry idempotency ids).
func (n *Node) Apply(ctx context.Context, c state.Command) (state.Result, error) {
	b, err := c.Encode()
	if err != nil {
		return state.Result{}, err
	}
	return n.ApplyEncoded(ctx, b)
}

// ApplyEncoded is Apply for an already-encoded command.
func (n *Node) ApplyEncoded(ctx context.Context, b []byte) (state.Result, error) {
	if err := state.Validate(b); err != nil {
		return state.Result{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		r := n.raft()
		if r != nil {
			if r.State() == raft.Leader {
				res, err, retry := n.applyLocal(ctx, r, b)
				if !retry {
					return res, err
				}
			} else if addr, id := r.LeaderWithID(); addr != "" {
				resp, err := n.cfg.Link.Call(ctx, addr, Request{Op: OpApply, From: n.cfg.Node, Cmd: b})
				switch {
				case err != nil && isNotDelivered(err):
					n.log.Debug("forward to leader failed before delivery; retrying", "leader", id, "err", err)
				case err != nil:
					return state.Result{}, fmt.Errorf("%w: forwarded to leader %s: %v", ErrUnknownOutcome, id, err)
				case resp.NotLeader:
				case resp.Error != "":
					if strings.HasPrefix(resp.Error, ErrInvalid.Error()) {
						return state.Result{}, errors.New(resp.Error)
					}
					return state.Result{}, fmt.Errorf("%w: leader %s: %s", ErrUnknownOutcome, id, resp.Error)
				case resp.Result != nil:
					return *resp.Result, resp.Result.Err()
				}
			}
		}
		select {
		case <-ctx.Done():
			return state.Result{}, fmt.Errorf("%w after %d attempts: %v", ErrNoLeader, attempt+1, ctx.Err())
		case <-time.After(backoff):
		}
		if backoff < 50*time.Millisecond {
			backoff *= 2
		}
	}
}

func isNotDelivered(err error) bool { return errors.Is(err, ErrNotDelivered) }

// applyLocal submits on this leader. retry is true when nothing was submitted.
func (n *Node) applyLocal(ctx context.Context, r *raft.Raft, b []byte) (res state.Result, err error, retry bool) {
	f := r.Apply(b, 0)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return state.Result{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err()), false
	}
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return state.Result{}, nil, true
	case err != nil:
		return state.Result{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err), false
	}
	res, ok := f.Response().(state.Result)
	if !ok {
		return state.Result{}, fmt.Errorf("%w: unexpected apply response %T", ErrUnknownOutcome, f.Response()), false
	}
	n.pushCommit()
	return res, res.Err(), false
}

// pushCommit asks pushCommits to tell followers about the newest commit.
func (n *Node) pushCommit() {
	select {
	case n.pushCh <- struct{}{}:
	default: // a push is already due; it covers this commit too
	}
}

// pushCommits tells followers about the leader's newest commit at once. A
// follower learns that an entry is committed from the next AppendEntries
// the leader sends; with no further entry that is the CommitTimeout's empty
// one, up to heartbeat/2 later (150 ms on lan; hashicorp/raft's heartbeats
// do not carry the commit index). A node that must act on a commit (stop a
// resource the coordinator moved away, start one another node reported
// stopped) waited for it: most of a planned move's 180 ms. After each burst
// of commits (and configuration changes) the leader now appends a barrier
// entry, whose replication carries the commit index; the CommitTimeout is
// only a backstop (1 s, raftConfig), which also spares an idle cluster an
// empty RPC per follower every 50 ms.
func (n *Node) pushCommits(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.pushCh:
		}
		r := n.raft()
		if r == nil || r.State() != raft.Leader {
			continue
		}
		f := r.Barrier(time.Second)
		done := make(chan struct{})
		go func() { _ = f.Error(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}

// Barrier returns once this node's state has applied everything committed
// before the call: on the leader a raft barrier, elsewhere a barrier on the
// leader followed by waiting for the local state to reach its index. Reads
// after Barrier are linearizable.
func (n *Node) Barrier(ctx context.Context) error {
	backoff := 10 * time.Millisecond
	for {
		r := n.raft()
		if r != nil {
			if r.State() == raft.Leader {
				idx, err := n.leaderBarrier(ctx, r)
				if err == nil {
					return n.cfg.State.WaitIndex(ctx, idx)
				}
				if !errors.Is(err, raft.ErrNotLeader) {
					return err
				}
			} else if addr, _ := r.LeaderWithID(); addr != "" {
				resp, err := n.cfg.Link.Call(ctx, addr, Request{Op: OpBarrier, From: n.cfg.Node})
				if err == nil && !resp.NotLeader && resp.Error == "" {
					return n.cfg.State.WaitIndex(ctx, resp.Index)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("barrier: %w: %v", ErrNoLeader, ctx.Err())
		case <-time.After(backoff):
		}
		if backoff < 50*time.Millisecond {
			backoff *= 2
		}
	}
}

func (n *Node) leaderBarrier(ctx context.Context, r *raft.Raft) (uint64, error) {
	f := r.Barrier(0)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return 0, err
		}
		// The state's index, not raft's AppliedIndex: barrier and
		// configuration entries never reach the state machine.
		return n.cfg.State.Index(), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// handle answers peers' RPCs.
func (n *Node) handle(ctx context.Context, req Request) Response {
	switch req.Op {
	case OpStatus:
		st := n.Status()
		return Response{Status: &st}
	case OpApply, OpBarrier:
	default:
		return Response{Error: fmt.Sprintf("unknown request %q; expected apply, barrier or status", req.Op)}
	}
	r := n.raft()
	if r == nil || r.State() != raft.Leader {
		return Response{NotLeader: true}
	}
	if req.Op == OpBarrier {
		idx, err := n.leaderBarrier(ctx, r)
		if errors.Is(err, raft.ErrNotLeader) {
			return Response{NotLeader: true}
		}
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Index: idx}
	}
	// The leader checks again: a follower running another version must not
	// get a command into the log that this leader's table does not know.
	if err := state.Validate(req.Cmd); err != nil {
		n.log.Warn("refused a forwarded command before commit", "from", req.From, "err", err)
		return Response{Error: fmt.Sprintf("%s: %v", ErrInvalid, err)}
	}
	res, err, retry := n.applyLocal(ctx, r, req.Cmd)
	if retry {
		return Response{NotLeader: true}
	}
	if err != nil && res.Index == 0 {
		return Response{Error: err.Error()}
	}
	return Response{Result: &res}
}
