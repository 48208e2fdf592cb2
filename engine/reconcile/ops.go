package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/havenha/haven/engine/model"
)

// opResult is what an operation goroutine hands back to the loop.
type opResult struct {
	id      string
	op      string
	status  model.Status
	err     error
	timeout time.Duration
	// noAgent: no agent could be built, so the operation never ran.
	noAgent bool
}

// step decides and launches operations from the current state. It runs on
// the loop goroutine after every event.
func (r *Reconciler) step() {
	now := r.cfg.Clock.Now()
	mode, why, byLease := r.effectiveMode(now)
	if mode != r.mode || why != r.modeWhy {
		if mode != r.mode {
			r.log.Info("mode changed", "from", r.mode.String(), "to", mode.String(), "reason", why)
		}
		if r.mode == ModeMaintenance && mode != ModeMaintenance {
			// Unwatched for a while: learn again what runs.
			for _, ri := range r.insts {
				if ri.busy == "" && !ri.blocked {
					ri.probed = false
				}
			}
		}
		r.statusMu.Lock()
		r.mode, r.modeWhy = mode, why
		r.statusMu.Unlock()
	}
	if mode == ModeMaintenance {
		return
	}
	r.abandonIntents(mode)
	r.checkOverdue(now, byLease)
	list := r.sorted()

	// 1. Probes: learn what runs here before deciding anything else.
	probing := false
	for _, ri := range list {
		if !ri.probed && !ri.untouchable() {
			probing = true
			if ri.busy == "" {
				r.launch(ri, OpProbe, "not probed yet")
			}
		}
	}
	// 2. Monitors, each at its interval, concurrently (none in stop-all).
	for _, ri := range list {
		if mode != ModeStopAll && ri.monitored() {
			if _, iv := r.monitorOp(ri); iv > 0 && !now.Before(ri.nextMon) {
				r.launch(ri, OpMonitor, "interval elapsed")
			}
		}
	}
	// 3. Stop-all (a lapsed lease, standby): every instance at once, except
	// that what depends on another here stops before it. It does not wait
	// for outstanding probes: a slow probe must not delay it.
	if mode == ModeStopAll {
		for i := len(list) - 1; i >= 0; i-- {
			ri := list[i]
			if ri.busy == OpMonitor && !ri.abandoned {
				// Its answer no longer matters: end it so the stop can begin.
				ri.abandoned = true
				ri.cancelOp()
			}
			if !ri.running || ri.untouchable() || ri.busy != "" || r.runningDependent(ri, map[string]bool{}) != nil {
				continue
			}
			r.launch(ri, OpStop, "stop-all: "+why)
		}
		return
	}
	if probing {
		return
	}
	if r.seqOps > 0 {
		return
	}
	// 4. Stops, one at a time, in reverse start order.
	for i := len(list) - 1; i >= 0; i-- {
		ri := list[i]
		if !ri.running || ri.untouchable() {
			continue
		}
		reason := ""
		switch {
		case ri.needsStop:
			reason = ri.stopWhy
		case mode == ModeRun && !ri.wanted:
			reason = fmt.Sprintf("not placed on this node at index %d", r.desired.Index)
		case mode == ModeRun:
			if f := r.remoteFirstGone(ri); f != "" {
				reason = fmt.Sprintf("%s must start after %s, which is no longer started where it is placed (it moves or restarts); it starts again once %s is", ri.id, f, f)
			}
		}
		if reason == "" {
			continue
		}
		// What was started after it here (its `then` side) stops first.
		if dep := r.runningDependent(ri, map[string]bool{}); dep != nil {
			ri, reason = dep, fmt.Sprintf("it depends on %s, which must stop: %s", ri.id, reason)
		}
		if ri.busy == "" {
			r.launch(ri, OpStop, reason)
		}
		return // the next stop waits for this one (or for its monitor to end)
	}
	// 5. Starts, one at a time, in the desired order.
	if mode != ModeRun {
		return
	}
	for _, in := range r.desired.Instances {
		ri := r.insts[in.ID]
		if ri == nil || ri.running || ri.untouchable() || ri.hold || ri.busy != "" {
			continue
		}
		if ri.awaitSeq != 0 || r.planIndex() < ri.awaitIndex {
			continue // the cluster has not yet decided with the failure in view
		}
		if missing := r.missingFirst(ri); missing != "" {
			continue
		}
		if r.cfg.AnnounceStarts && !r.startIntent(ri) {
			return // announced; the start waits for the record (one at a time)
		}
		r.launch(ri, OpStart, fmt.Sprintf("placed on this node at index %d", r.desired.Index))
		return
	}
}

// startIntent announces a start in the log before it runs and reports
// whether the start may run now. Without it, a node that starts a resource
// is seen as stopped there until its report lands, and a placement computed
// meanwhile may put the resource on another node that then starts it too (a
// double start, briefly two VIP holders). With it, the log shows every
// start before it happens: another node placed the same instance sees it
// active here and waits for this node's stop, and this node starts only
// from a Desired at or past the intent's index that still places the
// instance here (else abandonIntents records it stopped again).
func (r *Reconciler) startIntent(ri *inst) bool {
	switch {
	case ri.intentSeq != 0:
		return false // being recorded
	case ri.intentIndex == 0:
		ri.state = StateStarting
		ri.intentSeq = r.report(ri, StateStarting, OpStart, "", fmt.Sprintf("start intent: placed on this node at index %d", r.desired.Index), true)
		return false
	case r.desired.Index < ri.intentIndex:
		return false // wait for the state that includes the intent
	}
	return true
}

// abandonIntents records stopped again every announced start that will not
// run: the instance is no longer placed here (or another node holds it) in
// a Desired at or past the intent, or the node stopped running resources.
func (r *Reconciler) abandonIntents(mode Mode) {
	for _, ri := range r.insts {
		if ri.intentSeq != 0 || ri.intentIndex == 0 || ri.running || ri.busy != "" {
			continue
		}
		why := ""
		switch {
		case mode != ModeRun:
			why = "mode " + mode.String()
		case r.desired.Index >= ri.intentIndex && !ri.wanted:
			why = fmt.Sprintf("not placed on this node at index %d", r.desired.Index)
		case ri.untouchable() || ri.hold:
			why = "blocked or held"
		}
		if why == "" {
			continue
		}
		r.log.Info("start abandoned before it ran", "instance", ri.id, "reason", why)
		ri.intentIndex = 0
		r.setState(ri, StateStopped, OpStart, "", "start abandoned before it ran: "+why)
	}
}

// planIndex is the base index of the committed placement (Desired.PlanIndex,
// or Desired.Index when the adapter leaves it zero).
func (r *Reconciler) planIndex() uint64 {
	if r.desired.PlanIndex != 0 {
		return r.desired.PlanIndex
	}
	return r.desired.Index
}

// untouchable reports whether nothing may act on ri: it is blocked, or
// unmanaged.
func (ri *inst) untouchable() bool { return ri.blocked || ri.unmanaged }

// monitored reports whether ri's recurring monitor is due to run when its
// interval elapses: it runs here (healthy or failing with on_fail ignore),
// nothing else is in flight and no stop or block is pending.
func (ri *inst) monitored() bool {
	return ri.running && ri.busy == "" && !ri.untouchable() && !ri.needsStop &&
		(ri.state == StateStarted || ri.ignoring)
}

// sorted returns the instances by order key (start order), then id.
func (r *Reconciler) sorted() []*inst {
	out := make([]*inst, 0, len(r.insts))
	for _, ri := range r.insts {
		out = append(out, ri)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].orderKey != out[j].orderKey {
			return out[i].orderKey < out[j].orderKey
		}
		return out[i].id < out[j].id
	})
	return out
}

// runningDependent returns the deepest instance running here that must be
// stopped before ri: one whose After names ri (or names such an instance).
// Blocked instances are skipped: nothing touches them.
func (r *Reconciler) runningDependent(ri *inst, seen map[string]bool) *inst {
	seen[ri.id] = true
	for _, d := range r.sorted() {
		if seen[d.id] || !d.running || d.untouchable() {
			continue
		}
		for _, a := range d.after {
			if a == ri.id {
				if deeper := r.runningDependent(d, seen); deeper != nil {
					return deeper
				}
				return d
			}
		}
	}
	return nil
}

// missingFirst returns the first `After` instance not observed started
// (here, or on another node per the replicated state), or "".
func (r *Reconciler) missingFirst(ri *inst) string {
	for _, a := range ri.after {
		if local, ok := r.insts[a]; ok && local.running && !local.needsStop && (local.state == StateStarted || local.ignoring) {
			continue
		}
		if !r.startedElsewhere(a) {
			return a
		}
	}
	return ""
}

// startedElsewhere reports whether the replicated state observes instance
// a started on another node, where the placement puts it.
func (r *Reconciler) startedElsewhere(a string) bool {
	if r.desired.StartedOn == nil {
		return false
	}
	for _, n := range r.desired.StartedOn(a) {
		if n != r.cfg.Node {
			return true
		}
	}
	return false
}

// remoteFirstGone returns the first `After` instance of a running ri that
// runs on another node and is no longer observed started where the
// placement puts it, or "". Pacemaker restarts the `then` side of a
// mandatory order when its `first` moves or restarts; so does this node:
// it stops ri, which starts again once the first is started (missingFirst).
// A `first` on this node is left to "dependents stop first".
func (r *Reconciler) remoteFirstGone(ri *inst) string {
	for _, a := range ri.after {
		if local, ok := r.insts[a]; ok && (local.wanted || local.running) {
			continue
		}
		if !r.startedElsewhere(a) {
			return a
		}
	}
	return ""
}

// waitingOnOrder reports whether a start waits only for an order's first side.
func (r *Reconciler) waitingOnOrder() bool {
	for _, in := range r.desired.Instances {
		ri := r.insts[in.ID]
		if ri != nil && !ri.running && !ri.untouchable() && !ri.hold && ri.awaitSeq == 0 && r.planIndex() >= ri.awaitIndex && r.missingFirst(ri) != "" {
			return true
		}
	}
	return false
}

// monitorOp returns the monitor timeout and interval (0: no recurring monitor).
func (r *Reconciler) monitorOp(ri *inst) (timeout, interval time.Duration) {
	var d model.OpDefaults
	if ri.typ != nil {
		d = ri.typ.Defaults()
	} else if t, ok := r.cfg.Types(ri.res.Type); ok {
		d = t.Defaults()
	}
	timeout, interval = d.MonitorTimeout.D(), d.MonitorInterval.D()
	if op := ri.res.Monitor; op != nil {
		if op.Timeout > 0 {
			timeout = op.Timeout.D()
		}
		if op.Interval > 0 {
			interval = op.Interval.D()
		}
	}
	if timeout <= 0 {
		timeout = DefaultOpTimeout
	}
	return timeout, interval
}

// opTimeout returns the timeout of op for ri.
func (r *Reconciler) opTimeout(ri *inst, op string) time.Duration {
	var d model.OpDefaults
	if ri.typ != nil {
		d = ri.typ.Defaults()
	} else if t, ok := r.cfg.Types(ri.res.Type); ok {
		d = t.Defaults()
	}
	var t time.Duration
	switch op {
	case OpStart:
		t = d.StartTimeout.D()
		if ri.res.Start != nil && ri.res.Start.Timeout > 0 {
			t = ri.res.Start.Timeout.D()
		}
	case OpStop:
		t = d.StopTimeout.D()
		if ri.res.Stop != nil && ri.res.Stop.Timeout > 0 {
			t = ri.res.Stop.Timeout.D()
		}
	default:
		t, _ = r.monitorOp(ri)
	}
	if t <= 0 {
		t = DefaultOpTimeout
	}
	return t
}

// onFail returns the effective on_fail of a failed op.
func onFail(res model.Resource, op string) string {
	var o *model.Op
	switch op {
	case OpStart:
		o = res.Start
	case OpStop:
		o = res.Stop
	default:
		o = res.Monitor
	}
	if o != nil && o.OnFail != "" {
		return o.OnFail
	}
	if op == OpStop {
		return OnFailBlock // the leader turns it into fence when stonith is on
	}
	return OnFailRestart
}

// launch starts op on ri in its own goroutine, under its timeout.
func (r *Reconciler) launch(ri *inst, op, reason string) {
	agent, err := r.buildAgent(ri)
	timeout := r.opTimeout(ri, op)
	switch op {
	case OpStart:
		r.log.Info("starting", "instance", ri.id, "reason", reason, "timeout", timeout)
		if ri.intentIndex != 0 {
			ri.intentIndex = 0 // "starting" is in the log already
			ri.state = StateStarting
		} else {
			r.setState(ri, StateStarting, OpStart, "", reason)
		}
	case OpStop:
		r.log.Info("stopping", "instance", ri.id, "reason", reason, "timeout", timeout)
		r.setState(ri, StateStopping, OpStop, "", reason)
	case OpProbe:
		r.log.Debug("probing", "instance", ri.id)
	}
	ri.busy = op
	if op == OpStart || op == OpStop {
		r.seqOps++
	}
	r.inflight++
	if err != nil {
		go func() {
			r.opDone <- opResult{id: ri.id, op: op, status: model.StatusStopped, err: err, timeout: timeout, noAgent: true}
		}()
		return
	}
	parent, cancelOp := context.WithCancel(r.opsCtx)
	ri.cancelOp = cancelOp
	go func() {
		ctx, cancel := r.cfg.Clock.WithTimeout(parent, timeout)
		defer cancel()
		if op == OpProbe {
			ctx = model.WithProbe(ctx)
		}
		res := opResult{id: ri.id, op: op, timeout: timeout}
		switch op {
		case OpStart:
			res.err = agent.Start(ctx)
		case OpStop:
			res.err = agent.Stop(ctx)
		default:
			res.status, res.err = agent.Monitor(ctx)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			res.status = model.StatusFailed
			res.err = fmt.Errorf("%s timed out after %s (agent said: %v)", op, timeout, res.err)
		}
		r.opDone <- res
	}()
}

// handleResult applies an operation's outcome and the failure policy.
func (r *Reconciler) handleResult(res opResult) {
	r.inflight--
	ri := r.insts[res.id]
	if ri == nil {
		return
	}
	ri.busy = ""
	if ri.cancelOp != nil {
		ri.cancelOp()
		ri.cancelOp = nil
	}
	if res.op == OpStart || res.op == OpStop {
		r.seqOps--
	}
	if ri.abandoned {
		ri.abandoned = false
		r.log.Debug("abandoned monitor ended", "instance", ri.id, "err", res.err)
		return
	}
	if r.opsCtx.Err() != nil && res.err != nil {
		// Shutting down: the cancelled operation says nothing about the resource.
		ri.probed = false
		return
	}
	now := r.cfg.Clock.Now()
	_, interval := r.monitorOp(ri)
	switch res.op {
	case OpProbe:
		ri.probed = true
		switch {
		case res.err == nil && res.status == model.StatusRunning:
			ri.running, ri.nextMon = true, r.monitorAt(now, interval)
			r.log.Info("probe: already running here; adopted", "instance", ri.id)
			r.setState(ri, StateStarted, OpProbe, "", "")
		case res.err == nil && res.status == model.StatusStopped:
			ri.running = false
			r.setState(ri, StateStopped, OpProbe, "", "")
		default:
			if res.noAgent {
				// No agent can be built here: it cannot run here either.
				ri.running = false
				r.fail(ri, OpProbe, OnFailRestart, res)
				// Recorded stopped too: nothing runs here, and a node
				// waiting to start it elsewhere must not wait for us.
				r.setState(ri, StateStopped, OpProbe, "", "no agent here: "+res.err.Error())
				return
			}
			ri.running = true
			r.fail(ri, OpProbe, OnFailRestart, res)
			ri.needsStop, ri.stopWhy = true, "probe found it failed"
		}
	case OpStart:
		if res.err == nil {
			ri.running, ri.nextMon, ri.ignoring = true, r.monitorAt(now, interval), false
			r.setState(ri, StateStarted, OpStart, "", "")
			return
		}
		of := onFail(ri.res, OpStart)
		ri.running = !res.noAgent // a half-started resource needs a stop
		r.fail(ri, OpStart, of, res)
		r.applyOnFail(ri, of, "start failed")
	case OpStop:
		if res.err == nil {
			ri.running, ri.needsStop, ri.stopWhy = false, false, ""
			r.setState(ri, StateStopped, OpStop, "", "")
			return
		}
		r.fail(ri, OpStop, onFail(ri.res, OpStop), res)
		r.block(ri, "stop failed: "+res.err.Error())
	case OpMonitor:
		if res.err == nil && res.status == model.StatusRunning {
			ri.nextMon = r.monitorAt(now, interval)
			if ri.ignoring {
				ri.ignoring = false
				r.log.Info("monitor healthy again", "instance", ri.id)
				r.setState(ri, StateStarted, OpMonitor, "", "")
			}
			return
		}
		if res.err == nil {
			res.err = errors.New("not running")
		}
		of := onFail(ri.res, OpMonitor)
		if of == OnFailIgnore {
			ri.nextMon = r.monitorAt(now, interval)
			if !ri.ignoring {
				ri.ignoring = true
				r.fail(ri, OpMonitor, of, res)
			}
			r.log.Info("monitor failure ignored (on_fail ignore)", "instance", ri.id, "err", res.err)
			return
		}
		r.fail(ri, OpMonitor, of, res)
		r.applyOnFail(ri, of, "monitor failed")
	}
}

// fail reports a failed operation. Failures other than ignored monitors wait
// for the report's log index before the instance may start here again.
func (r *Reconciler) fail(ri *inst, op, of string, res opResult) {
	reason := "failed"
	if res.err != nil {
		reason = res.err.Error()
	}
	r.log.Warn("operation failed", "instance", ri.id, "op", op, "on_fail", of, "err", reason)
	ack := of != OnFailIgnore
	seq := r.report(ri, StateFailed, op, of, reason, ack)
	ri.state = StateFailed
	if ack {
		ri.awaitSeq = seq
	}
}

// applyOnFail does locally what on_fail asks after a failure.
func (r *Reconciler) applyOnFail(ri *inst, of, what string) {
	switch of {
	case OnFailBlock:
		r.block(ri, what+" (on_fail block)")
		return
	case OnFailStop, OnFailStandby, OnFailFence:
		ri.hold = true
	}
	if ri.running {
		ri.needsStop, ri.stopWhy = true, fmt.Sprintf("%s (on_fail %s)", what, of)
	}
}

// block stops every action on ri until a cleanup.
func (r *Reconciler) block(ri *inst, why string) {
	ri.blocked, ri.blockWhy = true, why
	r.log.Warn("blocked: no more actions on it here until cleanup", "instance", ri.id, "reason", why)
	r.setState(ri, StateBlocked, "", "", why)
}

// setState records and reports a state change.
func (r *Reconciler) setState(ri *inst, s State, op, of, reason string) {
	ri.state = s
	r.report(ri, s, op, of, reason, false)
}

func (r *Reconciler) report(ri *inst, s State, op, of, reason string, ack bool) uint64 {
	return r.queue.push(Observation{
		Node: r.cfg.Node, Instance: ri.id, Resource: ri.res.ID, State: s, Op: op, OnFail: of,
		Reason: reason, At: r.cfg.Clock.Now(), Index: r.desired.Index,
	}, ack)
}

// monitorAt is when a monitor of the given interval that finished (or whose
// resource started) at now runs next: the multiple of interval after the
// reconciler's start nearest to now+interval, so between half an interval
// and one and a half after now, then every interval exactly. Monitors of
// one node that share an interval (and those whose intervals divide each
// other) come due at the same instants, and one wake-up runs them all: a
// node's idle CPU is mostly its wake-ups (docs/bench/idle.md). Unaligned,
// each monitor's phase would drift by its own run time.
func (r *Reconciler) monitorAt(now time.Time, interval time.Duration) time.Time {
	next := now.Add(interval)
	if interval <= 0 || now.Before(r.startedAt) {
		return next
	}
	k := (next.Sub(r.startedAt) + interval/2) / interval
	return r.startedAt.Add(k * interval)
}
