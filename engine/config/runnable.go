package config

import (
	"fmt"
	"strings"

	"github.com/havenha/haven/engine/model"
)

// This file holds what the haven binary can carry out, so a file that names
// anything else is refused instead of accepted and silently not run: resource
// types and fencing device types come from the registries in Options, and
// the settings below that no node implements are errors.

// BuiltinTypes are the resource type names of the haven binary's registry
// (cmd/haven's, whose test keeps the two equal). They are what messages
// offer, what the schema lists, and, when Options.Types is nil, the names
// accepted (with ocf:PROVIDER:AGENT and systemd:UNIT) without param checks.
var BuiltinTypes = []string{"vip", "systemd", "exec", "filesystem", "ping", "alert"}

// BuiltinFenceTypes are the fencing device type names of the haven binary's
// registry: none yet, so every fencing device is refused. As BuiltinTypes,
// they are the names accepted when Options.FenceTypes is nil.
var BuiltinFenceTypes = []string{}

// plannedTypes are resource types designed (DESIGN.md) but not built: a file
// naming one is told why it is refused rather than that the name is unknown.
var plannedTypes = map[string]string{
	"iscsi-target": "the in-process iSCSI target is not implemented yet",
}

// plannedFenceTypes are fencing device types designed but not built.
var plannedFenceTypes = map[string]bool{"ipmi": true, "exec": true, "docker": true, "watchdog": true}

// noFencing is the reason every fencing device is refused while the binary
// has no fencing type.
const noFencing = "fencing devices are not built into this binary yet"

// fencingBuilt reports whether any fencing device type can be accepted.
func (v *validator) fencingBuilt() bool {
	return v.opts.FenceTypes != nil || len(BuiltinFenceTypes) > 0
}

// typeChoices is the "expected" part of a resource type message.
func typeChoices() string {
	return "one of " + strings.Join(BuiltinTypes, ", ") + ", systemd:UNIT or ocf:PROVIDER:AGENT"
}

// fenceTypeChoices is the "expected" part of a fencing type message.
func (v *validator) fenceTypeChoices(got string) string {
	if len(BuiltinFenceTypes) > 0 {
		return choices(got, BuiltinFenceTypes)
	}
	if v.opts.FenceTypes != nil {
		return "a fencing type this binary registers"
	}
	return "no fencing devices, and stonith: false"
}

// builtinName accepts a resource type name as the binary's registry would
// resolve it, without its validator (Options.Types nil).
func builtinName(t string) bool {
	if contains(BuiltinTypes, t) {
		return true
	}
	if unit, ok := strings.CutPrefix(t, "systemd:"); ok {
		return unit != "" && !strings.ContainsAny(unit, "/ \t\n")
	}
	return wellFormedOCF(t)
}

func wellFormedOCF(t string) bool {
	parts := strings.Split(t, ":")
	return len(parts) == 3 && parts[0] == "ocf" && ocfPart.MatchString(parts[1]) && ocfPart.MatchString(parts[2])
}

func (v *validator) resourceType(r *model.Resource, label string) {
	tp := v.posOr(&r.Type, r.Pos)
	if r.Type == "" {
		v.errf(tp, "%s has no type; expected type: %s", label, typeChoices())
		return
	}
	var at model.AgentType
	known := false
	if v.opts.Types != nil {
		if t, ok := v.opts.Types(r.Type); ok && t != nil {
			at, known = t, true
		}
	} else {
		known = builtinName(r.Type)
	}
	if known {
		if at != nil {
			for _, p := range safeValidate(at, r.Params) {
				v.errf(v.paramPos(r, p.Key), "%s: %s", paramLabel(label, p.Key), p.Msg)
			}
		}
		return
	}
	if why, planned := plannedTypes[r.Type]; planned {
		v.errf(tp, "resource type %q of %s is not built into this haven binary (%s); expected %s", r.Type, label, why, typeChoices())
		return
	}
	if contains(BuiltinTypes, r.Type) || wellFormedOCF(r.Type) {
		// A registry that lacks a stock name (a test's, or a trimmed build).
		v.errf(tp, "resource type %q of %s is not built into this haven binary; expected a type its registry has", r.Type, label)
		return
	}
	if strings.HasPrefix(r.Type, "ocf:") && !wellFormedOCF(r.Type) {
		v.errf(tp, "resource type %q of %s is not of the form ocf:PROVIDER:AGENT; expected e.g. ocf:heartbeat:IPaddr2", clip(r.Type), label)
		return
	}
	hint := ""
	if unit, ok := strings.CutPrefix(r.Type, "systemd:"); ok {
		hint = fmt.Sprintf(" (for a systemd unit write type: systemd with params: {unit: %s})", clip(unit))
	} else if near := nearest(r.Type, BuiltinTypes); near != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", near)
	}
	v.errf(tp, "unknown resource type %q for %s%s; expected %s", clip(r.Type), label, hint, typeChoices())
}

// fencing checks each device's id and type; a device whose type the binary
// cannot run is refused, and usable records the ones it can.
func (v *validator) fencing() {
	v.usable = map[string]bool{}
	for i := range v.c.Fencing {
		f := &v.c.Fencing[i]
		if v.checkID(&f.ID, "fencing device", f.Pos) {
			v.register(f.ID, "fencing device", v.posOr(&f.ID, f.Pos))
		}
		label := "fencing device " + f.ID
		if f.ID == "" {
			label = fmt.Sprintf("fencing device %d", i+1)
		}
		tp := v.posOr(&f.Type, f.Pos)
		if f.Type == "" {
			v.errf(tp, "%s has no type; expected type: %s", label, v.fenceTypeChoices(""))
			continue
		}
		var ft model.FenceType
		known := false
		if v.opts.FenceTypes != nil {
			if t, ok := v.opts.FenceTypes(f.Type); ok && t != nil {
				ft, known = t, true
			}
		} else {
			known = contains(BuiltinFenceTypes, f.Type)
		}
		if !known {
			why := ""
			if !v.fencingBuilt() {
				why = " (" + noFencing + ")"
			}
			if plannedFenceTypes[f.Type] {
				v.errf(tp, "fencing type %q of %s is not built into this haven binary%s; expected %s", f.Type, label, why, v.fenceTypeChoices(f.Type))
			} else {
				v.errf(tp, "unknown fencing type %q for %s%s; expected %s", clip(f.Type), label, why, v.fenceTypeChoices(f.Type))
			}
			continue
		}
		if f.ID != "" {
			v.usable[f.ID] = true
		}
		if ft != nil {
			v.fenceParams(f, ft, label)
		}
	}
}

// fenceParams runs a fencing type's validator, each problem at its key.
func (v *validator) fenceParams(f *model.FenceDevice, ft model.FenceType, label string) {
	pp := v.d.paramPos[posKey{addrOf(&f.Params), mapType}]
	base := f.Pos
	if p, ok := v.d.keyAt(&f.Params); ok {
		base = p
	}
	params := f.Params
	if params == nil {
		params = map[string]any{}
	}
	var problems []model.ParamProblem
	func() {
		defer func() {
			if r := recover(); r != nil {
				problems = []model.ParamProblem{{Msg: fmt.Sprintf("the type's validator crashed (%v); expected params it can check — please report this", r)}}
			}
		}()
		problems = ft.Validate(params)
	}()
	for _, p := range problems {
		at := base
		if k, _, _ := strings.Cut(p.Key, "."); k != "" {
			if kp, ok := pp[k]; ok {
				at = kp
			}
		}
		v.errf(at, "%s: %s", paramLabel(label, p.Key), p.Msg)
	}
}

// fenceCoverage: with stonith on, every member node needs a device that can
// fence it. Pacemaker refuses to recover a lost node's resources without a
// fence; so does haven, and a node that cannot be fenced would hold its
// resources hostage.
func (v *validator) fenceCoverage() {
	if !v.c.StonithEnabled() || len(v.c.Fencing) == 0 {
		return // stonith off, or stonith: true without devices (reported by settings)
	}
	for i := range v.c.Nodes {
		n := &v.c.Nodes[i]
		if n.IsWitness() || n.Name == "" {
			continue
		}
		if len(n.Fence) == 0 {
			v.errf(v.posOr(&n.Fence, n.Pos), "node %s has no fencing device but stonith is on; expected fence: [DEVICE, ...] so the node can be fenced (or stonith: false)", n.Name)
			continue
		}
		var unusable []string
		for _, id := range n.Fence {
			if v.usable[id] {
				unusable = nil
				break
			}
			if v.isFenceDevice(id) {
				unusable = append(unusable, id)
			}
		}
		if len(unusable) == 0 {
			continue // usable, or only undefined ids (each reported where it is listed)
		}
		expected := "a device of a type this binary runs in fence: [...], or stonith: false"
		if !v.fencingBuilt() {
			expected = "stonith: false (" + noFencing + ")"
		}
		v.errf(v.posOr(&n.Fence, n.Pos), "node %s has no usable fencing device but stonith is on: %s cannot run in this binary, and haven, like Pacemaker, does not recover a lost node's resources without fencing it; expected %s",
			n.Name, strings.Join(unusable, ", "), expected)
	}
}

// unrunnable refuses settings that the decoder accepts but no node carries
// out. Each would otherwise be a promise the cluster silently breaks.
func (v *validator) unrunnable() {
	for i := range v.c.Clones {
		cl := &v.c.Clones[i]
		if cl.NodeMax > 1 {
			v.errf(v.posOr(&cl.NodeMax, cl.Pos), "node_max %d of clone %s has no effect: an anonymous clone runs at most one instance per node (as in Pacemaker); expected node_max 1 or none", cl.NodeMax, cl.ID)
		}
	}
	for _, k := range v.c.Constraints {
		o := k.Order
		if o == nil {
			continue
		}
		if kind := o.KindOrDefault(); kind != model.OrderMandatory {
			v.errf(v.posOr(&o.Kind, o.Pos), "order kind %s (%s then %s) is not carried out by haven: the nodes honour only mandatory orders; expected kind: mandatory (the default), or no order", kind, o.First, o.Then)
		}
		if o.Symmetrical != nil && !*o.Symmetrical {
			v.errf(v.posOr(o.Symmetrical, o.Pos), "symmetrical: false (%s then %s) is not carried out by haven: a node always stops then before first; expected symmetrical: true (the default)", o.First, o.Then)
		}
	}
	for i := range v.c.Resources {
		r := &v.c.Resources[i]
		if r.Stop == nil {
			continue
		}
		switch of := r.Stop.OnFail; of {
		case "", "block", "standby", "fence":
		default:
			v.errf(v.posOr(&r.Stop.OnFail, r.Stop.Pos), "stop on_fail %s of resource %s is not carried out by haven: a failed stop leaves the resource blocked on its node until cleanup; expected on_fail block (the default) or standby", of, r.ID)
		}
	}
}
