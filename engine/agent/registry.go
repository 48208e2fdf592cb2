package agent

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/havenha/haven/engine/agent/alert"
	"github.com/havenha/haven/engine/agent/ping"
	"github.com/havenha/haven/engine/model"
)

// Registry maps resource type names to agent types. It is safe for
// concurrent use; Lookup is usable as a model.TypeLookup.
//
// Besides the names registered, Lookup resolves two families:
//   - "ocf:PROVIDER:AGENT" to an OCF type for that script, whatever the
//     provider and agent (the script is looked for only when the resource
//     starts or is monitored, since configuration may be validated on a
//     machine without it);
//   - "systemd:UNIT" to the systemd type with its unit fixed to UNIT (as pcs
//     writes it: systemd:tgtd).
//
// An exact registration wins over both families.
type Registry struct {
	mu    sync.RWMutex
	types map[string]model.AgentType
	ocf   OCFOptions
}

// NewRegistry returns an empty registry whose OCF types use opts.
func NewRegistry(opts OCFOptions) *Registry {
	return &Registry{types: map[string]model.AgentType{}, ocf: opts}
}

// Register adds a type under name. An empty name, a nil type or a name
// already registered is an error.
func (r *Registry) Register(name string, t model.AgentType) error {
	if name == "" || strings.TrimSpace(name) != name {
		return fmt.Errorf("register agent type %q: expected a non-empty name without surrounding spaces", name)
	}
	if t == nil {
		return fmt.Errorf("register agent type %q: nil type", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[name]; dup {
		return fmt.Errorf("register agent type %q: already registered", name)
	}
	r.types[name] = t
	return nil
}

// Lookup returns the type for typeName.
func (r *Registry) Lookup(typeName string) (model.AgentType, bool) {
	r.mu.RLock()
	t, ok := r.types[typeName]
	opts := r.ocf
	r.mu.RUnlock()
	if ok {
		return t, true
	}
	if rest, ok := strings.CutPrefix(typeName, "ocf:"); ok {
		provider, agentName, ok := strings.Cut(rest, ":")
		if !ok || !validOCFName(provider) || !validOCFName(agentName) {
			return nil, false
		}
		return NewOCFType(provider, agentName, opts), true
	}
	if unit, ok := strings.CutPrefix(typeName, "systemd:"); ok && unit != "" && !strings.ContainsAny(unit, "/ \t\n") {
		return &SystemdType{Unit: unit}, true
	}
	return nil, false
}

// Names lists the registered names, sorted (the ocf: and systemd: families
// are not listed).
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types))
	for n := range r.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// validOCFName accepts a provider or agent name that is safe as one path
// element.
func validOCFName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if c == '/' || c == ':' || c == 0 || c == ' ' || c == '\t' || c == '\n' {
			return false
		}
	}
	return true
}

// Builtin returns a registry holding every generic agent: exec, systemd,
// filesystem and the ocf:PROVIDER:AGENT family of this package, ping
// (engine/agent/ping) and alert (engine/agent/alert).
// OCF scripts are looked for under $HAVEN_OCF_ROOT, else $OCF_ROOT, else
// /usr/lib/ocf. Other packages add their types (vip) with Register.
func Builtin() *Registry {
	root := os.Getenv("HAVEN_OCF_ROOT")
	if root == "" {
		root = os.Getenv("OCF_ROOT")
	}
	r := NewRegistry(OCFOptions{Root: root})
	for name, t := range map[string]model.AgentType{
		"exec":       ExecType{},
		"systemd":    &SystemdType{},
		"filesystem": FilesystemType{},
		"ping":       ping.Type{},
		"alert":      alert.Type{},
	} {
		_ = r.Register(name, t) // names are distinct and non-empty
	}
	return r
}
