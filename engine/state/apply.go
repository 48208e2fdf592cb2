package state

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// EventCleanup is the event type of an applied resource.cleanup: nodes
// forget their local failure state (holds, blocks) of the resource on it.
const EventCleanup = "cleanup"

// The appliers. Each may only read d, the command and its body; every change
// is a function of those. Maps are only iterated through sortedKeys.

func (d *Data) node(name string) *NodeState {
	if d.Nodes == nil {
		d.Nodes = map[string]*NodeState{}
	}
	n := d.Nodes[name]
	if n == nil {
		n = &NodeState{}
		d.Nodes[name] = n
	}
	return n
}

func (d *Data) resource(id string) *ResourceState {
	if d.Resources == nil {
		d.Resources = map[string]*ResourceState{}
	}
	r := d.Resources[id]
	if r == nil {
		r = &ResourceState{}
		d.Resources[id] = r
	}
	return r
}

func (d *Data) event(c *Command, idx uint64, typ, node, res, format string, a ...any) {
	d.EventSeq++
	d.Events = append(d.Events, Event{Seq: d.EventSeq, Index: idx, Time: c.Time, Type: typ, Node: node, Resource: res, Message: fmt.Sprintf(format, a...)})
	if over := len(d.Events) - MaxEvents; over > 0 {
		d.Events = append([]Event(nil), d.Events[over:]...)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// noChange marks an applied command that changed nothing (so InputIndex
// stays); value, when set, is still returned as the result's Value.
type noChange struct{ value any }

// ReportOutcome is the result Value of an observed.report whose failure was
// not counted: the node observed it before it learnt that its lease lapse
// had been recorded, so the lapse (its lease or its guard) stopped the
// resource, not a fault. No placement will be computed from it: a node must
// not wait for one.
type ReportOutcome struct {
	FailureIgnored bool `json:"failure_ignored,omitempty"`
}

// ConfigResult is the Value of an accepted SetConfig.
type ConfigResult struct {
	Version uint64 `json:"version"`
}

func applySetConfig(d *Data, c *Command, idx uint64, b *SetConfig) (any, error) {
	if b.Base != d.Config.Version {
		return nil, fmt.Errorf("%w: configuration base version %d is %w, the committed version is %d; re-read the committed configuration (haven config show), merge, and apply again",
			ErrRejected, b.Base, ErrStale, d.Config.Version)
	}
	d.Config = Config{Version: d.Config.Version + 1, YAML: append([]byte(nil), b.YAML...), Index: idx, Time: c.Time, By: c.By}
	d.event(c, idx, "config", "", "", "configuration version %d committed by %s", d.Config.Version, orUnknown(c.By))
	return ConfigResult{Version: d.Config.Version}, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func applyStandby(d *Data, c *Command, idx uint64, b *NodeFlag) (any, error) {
	n := d.node(b.Node)
	if n.Standby == b.On {
		return noChange{}, nil
	}
	n.Standby = b.On
	d.event(c, idx, "node", b.Node, "", "standby %s by %s", onOff(b.On), orUnknown(c.By))
	return nil, nil
}

func applyMaintenance(d *Data, c *Command, idx uint64, b *NodeFlag) (any, error) {
	n := d.node(b.Node)
	if n.Maintenance == b.On {
		return noChange{}, nil
	}
	n.Maintenance = b.On
	d.event(c, idx, "node", b.Node, "", "maintenance %s by %s", onOff(b.On), orUnknown(c.By))
	return nil, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func applyAttrs(d *Data, c *Command, idx uint64, b *NodeAttrs) (any, error) {
	n := d.node(b.Node)
	changed := false
	for _, k := range sortedKeys(b.Set) {
		if old, ok := n.Attributes[k]; !ok || old != b.Set[k] {
			if n.Attributes == nil {
				n.Attributes = map[string]string{}
			}
			n.Attributes[k] = b.Set[k]
			changed = true
		}
	}
	for _, k := range b.Delete {
		if _, ok := n.Attributes[k]; ok {
			delete(n.Attributes, k)
			changed = true
		}
	}
	if !changed {
		return noChange{}, nil
	}
	return nil, nil
}

func applyTargetRole(d *Data, c *Command, idx uint64, b *TargetRole) (any, error) {
	r := d.resource(b.Resource)
	if r.TargetRole == b.Role {
		return noChange{}, nil
	}
	r.TargetRole = b.Role
	d.event(c, idx, "resource", "", b.Resource, "target role %q by %s", b.Role, orUnknown(c.By))
	return nil, nil
}

func expiry(c *Command, life time.Duration) *time.Time {
	if life <= 0 {
		return nil
	}
	t := c.Time.Add(life)
	return &t
}

// prune drops preferences that expired before the command's time.
func (r *ResourceState) prune(now time.Time) {
	kept := r.Preferences[:0]
	for _, p := range r.Preferences {
		if p.ActiveAt(now) {
			kept = append(kept, p)
		}
	}
	r.Preferences = kept
}

func applyMove(d *Data, c *Command, idx uint64, b *Prefer) (any, error) {
	r := d.resource(b.Resource)
	r.prune(c.Time)
	kept := r.Preferences[:0]
	for _, p := range r.Preferences {
		if p.Kind != PrefMove { // one move at a time, like crm_resource --move
			kept = append(kept, p)
		}
	}
	r.Preferences = append(kept, Preference{Kind: PrefMove, Node: b.Node, Since: c.Time, Expires: expiry(c, b.Lifetime.D())})
	d.event(c, idx, "resource", b.Node, b.Resource, "move to %s by %s", b.Node, orUnknown(c.By))
	return nil, nil
}

func applyBan(d *Data, c *Command, idx uint64, b *Prefer) (any, error) {
	r := d.resource(b.Resource)
	r.prune(c.Time)
	kept := r.Preferences[:0]
	for _, p := range r.Preferences {
		if p.Kind != PrefBan || p.Node != b.Node {
			kept = append(kept, p)
		}
	}
	r.Preferences = append(kept, Preference{Kind: PrefBan, Node: b.Node, Since: c.Time, Expires: expiry(c, b.Lifetime.D())})
	d.event(c, idx, "resource", b.Node, b.Resource, "banned from %s by %s", b.Node, orUnknown(c.By))
	return nil, nil
}

func applyClear(d *Data, c *Command, idx uint64, b *Clear) (any, error) {
	r := d.Resources[b.Resource]
	if r == nil || len(r.Preferences) == 0 {
		return noChange{}, nil
	}
	kept := r.Preferences[:0]
	for _, p := range r.Preferences {
		if b.Node != "" && p.Node != b.Node {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(r.Preferences) {
		return noChange{}, nil
	}
	r.Preferences = kept
	d.event(c, idx, "resource", b.Node, b.Resource, "move/ban preferences cleared by %s", orUnknown(c.By))
	return nil, nil
}

func applyCleanup(d *Data, c *Command, idx uint64, b *Cleanup) (any, error) {
	changed := false
	for _, name := range sortedKeys(d.Nodes) {
		if b.Node != "" && name != b.Node {
			continue
		}
		res := d.Nodes[name].Resources
		for _, key := range sortedKeys(res) {
			// A clone's instances ("web:0") are cleaned up with their primitive.
			if key != b.Resource && !strings.HasPrefix(key, b.Resource+":") {
				continue
			}
			o := res[key]
			if o.FailCount == 0 && o.State != Failed && o.State != Blocked && !o.Held {
				continue
			}
			o.FailCount, o.LastFailure, o.Held = 0, time.Time{}, false
			switch o.State {
			case Failed:
				o.State, o.Reason = Stopped, "cleaned up"
			case Blocked:
				// Unknown until the node probes it again: count it as
				// possibly active, so nothing starts it elsewhere meanwhile.
				o.State, o.Reason = Stopping, "cleaned up; waiting for the node's probe"
			}
			changed = true
		}
	}
	// The event is recorded even when nothing changed here: the nodes'
	// reconcilers act on it (a hold or block known only to the node).
	d.event(c, idx, EventCleanup, b.Node, b.Resource, "failures cleaned up by %s", orUnknown(c.By))
	if !changed {
		return noChange{}, nil
	}
	return nil, nil
}

func applyPlacement(d *Data, c *Command, idx uint64, b *SetPlacement) (any, error) {
	if b.BasedOn < d.InputIndex {
		return nil, fmt.Errorf("%w: plan computed from state index %d is %w, an input changed at index %d; recompute", ErrRejected, b.BasedOn, ErrStale, d.InputIndex)
	}
	if b.BasedOn > d.Index {
		return nil, fmt.Errorf("%w: plan claims state index %d beyond the applied index %d", ErrRejected, b.BasedOn, d.Index)
	}
	d.Placement = Placement{BasedOn: b.BasedOn, Index: idx, Time: c.Time, Placement: b.Placement, Assignments: b.Assignments}
	return nil, nil
}

func applyReport(d *Data, c *Command, idx uint64, b *Report) (any, error) {
	n := d.node(b.Node)
	if n.Resources == nil {
		n.Resources = map[string]*Observed{}
	}
	o := n.Resources[b.Resource]
	if o == nil {
		o = &Observed{}
		n.Resources[b.Resource] = o
	}
	changed := false
	if b.Lapsed {
		o.LapsedAt = idx
	}
	early := !b.Lapsed && b.Seen != 0 && b.Seen < o.LapsedAt
	if early && b.State == Failed && b.Failure != nil && (b.Failure.Op == "monitor" || b.Failure.Op == "probe" || b.Failure.Op == "start") {
		// A monitor that found it gone, or a start cut short, after the
		// lapse: the node's lease (or its guard) stopped it, as recorded.
		// Not a failure of the resource, and not active. (A failed stop
		// still counts: the resource may still run there.)
		d.event(c, idx, "report", b.Node, b.Resource, "stale report ignored: %s %s failed on %s (%s), observed at index %d, after its lease lapse was recorded at %d",
			b.Resource, b.Failure.Op, b.Node, b.Failure.Reason, b.Seen, o.LapsedAt)
		return noChange{value: ReportOutcome{FailureIgnored: true}}, nil
	}
	stale := early && (b.State == Started || b.State == Starting || b.State == Stopping)
	if stale {
		// The node made this observation before it learnt that its lease had
		// lapsed; it stopped everything since, so the state stays stopped.
		d.event(c, idx, "report", b.Node, b.Resource, "stale report ignored: %s %s on %s was observed at index %d, before its lease lapse was recorded at %d",
			b.Resource, b.State, b.Node, b.Seen, o.LapsedAt)
	} else if o.State != b.State || o.Reason != b.Reason {
		if o.State != b.State {
			o.Since = c.Time
		}
		o.State, o.Reason = b.State, b.Reason
		changed = true
	}
	if f := b.Failure; f != nil && f.ID != o.LastFailureID {
		o.LastFailureID, o.LastFailure, o.LastFailureIndex = f.ID, c.Time, idx
		if f.Fatal || o.FailCount >= InfiniteFailCount-1 {
			o.FailCount = InfiniteFailCount
		} else {
			o.FailCount++
		}
		d.event(c, idx, "failure", b.Node, b.Resource, "%s failed on %s (fail count %d): %s", f.Op, b.Node, o.FailCount, f.Reason)
		switch f.OnFail {
		case "stop":
			o.Held = true
			d.event(c, idx, "failure", b.Node, b.Resource, "held stopped (on_fail stop) until cleanup")
		case "standby":
			if !n.Standby {
				n.Standby = true
				d.event(c, idx, "node", b.Node, b.Resource, "standby on after %s failed (on_fail standby)", f.Op)
			}
		case "fence":
			// The coordinator fences the node (or, without a fencer, keeps
			// it out like standby) until a confirmed fence clears this.
			n.FenceRequested = fmt.Sprintf("%s of %s failed (on_fail fence)", f.Op, b.Resource)
			d.event(c, idx, "node", b.Node, b.Resource, "fence requested: %s", n.FenceRequested)
		}
		changed = true
	}
	if !changed {
		return noChange{}, nil
	}
	return nil, nil
}

func applyFence(d *Data, c *Command, idx uint64, b *Fence) (any, error) {
	d.Fencing = append(d.Fencing, FenceRecord{Index: idx, Time: c.Time, Node: b.Node, Action: b.Action, Device: b.Device, OK: b.OK, Error: b.Error, By: c.By})
	if over := len(d.Fencing) - MaxFenceRecords; over > 0 {
		d.Fencing = append([]FenceRecord(nil), d.Fencing[over:]...)
	}
	if b.OK && (b.Action == "off" || b.Action == "reboot") {
		// A confirmed fence means nothing runs there any more.
		if n := d.Nodes[b.Node]; n != nil {
			n.FenceRequested = ""
			for _, id := range sortedKeys(n.Resources) {
				o := n.Resources[id]
				o.LapsedAt = idx // its earlier reports of active states are stale
				if o.State != Stopped {
					o.State, o.Reason, o.Since = Stopped, "node fenced", c.Time
				}
			}
		}
		d.event(c, idx, "fence", b.Node, "", "%s fenced (%s) by %s", b.Node, b.Action, orUnknown(c.By))
	} else {
		d.event(c, idx, "fence", b.Node, "", "fencing %s (%s) failed: %s", b.Node, b.Action, b.Error)
	}
	return nil, nil
}

func applyNote(d *Data, c *Command, idx uint64, b *Note) (any, error) {
	d.event(c, idx, b.Type, b.Node, b.Resource, "%s", b.Message)
	return noChange{}, nil
}

func applyForget(d *Data, c *Command, idx uint64, b *Forget) (any, error) {
	changed := false
	if b.Resource == "" {
		if _, ok := d.Nodes[b.Node]; ok {
			delete(d.Nodes, b.Node)
			changed = true
		}
	} else {
		for _, name := range sortedKeys(d.Nodes) {
			if b.Node != "" && name != b.Node {
				continue
			}
			if _, ok := d.Nodes[name].Resources[b.Resource]; ok {
				delete(d.Nodes[name].Resources, b.Resource)
				changed = true
			}
		}
		if _, ok := d.Resources[b.Resource]; ok && b.Node == "" {
			delete(d.Resources, b.Resource)
			changed = true
		}
	}
	if !changed {
		return noChange{}, nil
	}
	d.event(c, idx, "forget", b.Node, b.Resource, "forgotten by %s", orUnknown(c.By))
	return nil, nil
}
