package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/havenha/haven/engine/clock"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/reconcile"
	"github.com/havenha/haven/engine/state"
)

// Run drives the reconciler from the replicated state until ctx ends or
// Close; it returns after the reconciler has (resources keep running).
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-n.closeCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	errCh := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); errCh <- n.rec.Run(ctx) }()
	go func() { defer wg.Done(); n.pushAttributes(ctx) }()

	lastEvent := n.cfg.State.View().EventSeq // cleanups before this run concern no local state
	var noQuorumSince time.Time
	var wake clock.Timer
	for {
		_, stateCh := n.cfg.State.Watch()
		memCh := n.memWatch()
		v := n.cfg.State.View()
		c, _, perr := n.cfg.State.Cluster()
		now := n.cfg.Clock.Now()
		quorate := n.cfg.Members.Quorate()
		var noQuorumFor time.Duration
		if quorate {
			noQuorumSince = time.Time{}
		} else {
			if noQuorumSince.IsZero() {
				noQuorumSince = now
			}
			noQuorumFor = now.Sub(noQuorumSince)
		}
		if wake != nil {
			wake.Stop()
			wake = nil
		}
		var wakeC <-chan time.Time
		if !quorate && noQuorumFor < n.cfg.NoQuorumDelay {
			wake = n.cfg.Clock.NewTimer(n.cfg.NoQuorumDelay - noQuorumFor)
			wakeC = wake.C()
		}
		if c != nil && perr != nil {
			n.log.Error("committed configuration does not parse; keeping the previous desired state", "err", perr)
		} else {
			d := reconcile.BuildDesired(reconcile.DesiredInput{Node: n.cfg.Name, View: v, Cluster: c, Quorate: quorate,
				NoQuorumFor: noQuorumFor, NoQuorumDelay: n.cfg.NoQuorumDelay})
			if n.stopping.Load() {
				d.Mode = reconcile.ModeStopAll
			}
			n.rec.Set(d)
			n.enforceLease(c != nil && d.Mode != reconcile.ModeMaintenance && d.NoQuorumPolicy != model.NoQuorumFreeze && d.NoQuorumPolicy != model.NoQuorumIgnore)
			lastEvent = n.cleanups(v, c, d, lastEvent)
		}
		n.trigger()
		select {
		case <-ctx.Done():
			if wake != nil {
				wake.Stop()
			}
			cancel()
			return <-errCh
		case <-stateCh:
		case <-memCh:
		case <-wakeC:
		}
	}
}

// cleanups hands every resource.cleanup applied since seq to the reconciler
// (reconcile.CleanupsSince expands group and clone ids to their members'
// instances) and returns the newest event seen.
func (n *Node) cleanups(v state.Data, c *model.Cluster, d reconcile.Desired, seq uint64) uint64 {
	cl, seq := reconcile.CleanupsSince(v, c, d, n.cfg.Name, seq)
	for _, x := range cl {
		if x.Known {
			n.log.Info("cleanup applied in the cluster: clearing local failure state", "instance", x.Instance, "cleanup", x.Event)
		}
		n.rec.Cleanup(x.Instance)
	}
	return seq
}

// apply commits one command.
func (n *Node) apply(ctx context.Context, typ string, at time.Time, body any) error {
	_, err := n.applyIndex(ctx, typ, at, body)
	return err
}

func (n *Node) applyIndex(ctx context.Context, typ string, at time.Time, body any) (uint64, error) {
	c, err := state.NewCommand(typ, at, n.cfg.Name, body)
	if err != nil {
		return 0, err
	}
	res, err := n.cfg.Log.Apply(ctx, c)
	if err != nil {
		return 0, err
	}
	return res.Index, res.Err()
}

// report is the reconciler's Reporter: an observed.report command whose
// failure ID is the observation's ID (a retried report counts once).
func (n *Node) report(ctx context.Context, o reconcile.Observation) (uint64, error) {
	r := state.Report{Node: o.Node, Resource: o.Instance, State: string(o.State), Reason: o.Reason, Seen: o.Index}
	if o.State == reconcile.StateFailed {
		if o.OnFail == reconcile.OnFailIgnore {
			// It still runs; the failure changes nothing (on_fail ignore).
			r.State, r.Reason = state.Started, "monitor failure ignored (on_fail ignore): "+o.Reason
		} else {
			r.Failure = &state.Failure{ID: o.ID, Op: o.Op, Reason: o.Reason, Fatal: o.Op == reconcile.OpStart, OnFail: o.OnFail}
		}
	}
	c, err := state.NewCommand(state.CmdReport, n.cfg.Clock.Now(), n.cfg.Name, r)
	if err != nil {
		return 0, err
	}
	res, err := n.cfg.Log.Apply(ctx, c)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("report %s %s on %s: %w", o.Instance, o.State, o.Node, err)
	}
	var out state.ReportOutcome
	if len(res.Value) > 0 && json.Unmarshal(res.Value, &out) == nil && out.FailureIgnored {
		// A stale failure the state did not count: no placement will be
		// computed from it, so the reconciler must not wait for one (0).
		return 0, nil
	}
	return res.Index, nil
}

// setAttribute records a node attribute set by an agent (ping's pingd);
// a goroutine of Run commits it. Never blocks.
func (n *Node) setAttribute(name, value string) {
	n.attrMu.Lock()
	n.attrs[name] = value
	n.attrMu.Unlock()
	select {
	case n.attrCh <- struct{}{}:
	default:
	}
}

// pushAttributes commits changed attributes until ctx ends.
func (n *Node) pushAttributes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.attrCh:
		}
		for {
			n.attrMu.Lock()
			want := map[string]string{}
			for k, v := range n.attrs {
				want[k] = v
			}
			n.attrMu.Unlock()
			set := map[string]string{}
			if ns := n.cfg.State.View().Nodes[n.cfg.Name]; ns != nil {
				for k, v := range want {
					if ns.Attributes[k] != v {
						set[k] = v
					}
				}
			} else {
				set = want
			}
			if len(set) == 0 {
				break
			}
			err := n.apply(ctx, state.CmdNodeAttrs, n.cfg.Clock.Now(), state.NodeAttrs{Node: n.cfg.Name, Set: set})
			if err == nil {
				n.log.Info("node attributes recorded", "set", set)
				break
			}
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("node attributes not recorded; retrying", "err", err)
			t := n.cfg.Clock.NewTimer(500 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}
}

// enforceLease arms (with the current deadline) or disarms OnLease's
// watchdog when whether a lapse stops this node's resources changes.
func (n *Node) enforceLease(on bool) {
	if n.cfg.OnLease == nil {
		return
	}
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	if on == n.leaseEnforce {
		return
	}
	n.leaseEnforce = on
	switch {
	case !on:
		n.cfg.OnLease(time.Time{})
	case n.leaseDeadline.After(n.cfg.Clock.Now()):
		// A deadline already past is not armed: the lease lapsed and the
		// reconciler stops the resources itself; arming it would make the
		// guard kill them at once.
		n.cfg.OnLease(n.leaseDeadline)
	}
}
