package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
)

// Command types. The table below is the one place they are registered.
const (
	CmdSetConfig    = "config.set"
	CmdNodeStandby  = "node.standby"
	CmdNodeMaint    = "node.maintenance"
	CmdNodeAttrs    = "node.attributes"
	CmdTargetRole   = "resource.target_role"
	CmdMove         = "resource.move"
	CmdBan          = "resource.ban"
	CmdClear        = "resource.clear"
	CmdCleanup      = "resource.cleanup"
	CmdSetPlacement = "placement.set"
	CmdReport       = "observed.report"
	CmdFence        = "fence.record"
	CmdEvent        = "event.note"
	CmdForget       = "forget"
)

// Command is the envelope of every replicated command. Time is stamped by
// the proposer; Apply uses it instead of a clock.
type Command struct {
	Type    string          `json:"type"`
	Version int             `json:"v"`
	Time    time.Time       `json:"time"`
	By      string          `json:"by,omitempty"`
	Body    json.RawMessage `json:"body"`
}

// Bodies of the commands (version 1 of each).

// SetConfig replaces the committed configuration if Base is still the current version.
type SetConfig struct {
	Base uint64 `json:"base"`
	YAML []byte `json:"yaml"`
}

// NodeFlag sets or clears a node flag (standby, maintenance).
type NodeFlag struct {
	Node string `json:"node"`
	On   bool   `json:"on"`
}

// NodeAttrs sets and deletes transient node attributes.
type NodeAttrs struct {
	Node   string            `json:"node"`
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// TargetRole sets a resource's runtime target role ("Started", "Stopped" or "" to follow the file).
type TargetRole struct {
	Resource string `json:"resource"`
	Role     string `json:"role"`
}

// Prefer adds a move or ban preference (Lifetime 0 = until cleared).
type Prefer struct {
	Resource string         `json:"resource"`
	Node     string         `json:"node"`
	Lifetime model.Duration `json:"lifetime,omitempty"`
}

// Clear removes move/ban preferences of a resource (on Node, or all when empty).
type Clear struct {
	Resource string `json:"resource"`
	Node     string `json:"node,omitempty"`
}

// Cleanup forgets failures of a resource (on Node, or everywhere when empty).
type Cleanup struct {
	Resource string `json:"resource"`
	Node     string `json:"node,omitempty"`
}

// SetPlacement commits a plan computed from the state at BasedOn.
type SetPlacement struct {
	BasedOn     uint64              `json:"based_on"`
	Placement   map[string][]string `json:"placement"`
	Assignments []model.Assignment  `json:"assignments,omitempty"`
}

// Failure describes a failed operation in a Report.
type Failure struct {
	// ID identifies this failure at the reporter; a repeated report with the
	// same ID is not counted again.
	ID     string `json:"id"`
	Op     string `json:"op"`
	Reason string `json:"reason,omitempty"`
	// Fatal sets the fail count to INFINITY (a failed start).
	Fatal bool `json:"fatal,omitempty"`
	// OnFail is the failed operation's effective on_fail. The replicated
	// rules that outlive the reporting process are applied with the failure:
	// standby (and fence, while the engine has no fencer) puts the node in
	// standby; stop holds the instance stopped (Observed.Held) until cleanup
	// or failure_timeout.
	OnFail string `json:"on_fail,omitempty"`
}

// Report is a node's observation of a resource.
type Report struct {
	Node     string   `json:"node"`
	Resource string   `json:"resource"`
	State    string   `json:"state"`
	Reason   string   `json:"reason,omitempty"`
	Failure  *Failure `json:"failure,omitempty"`
	// Seen is the state index the reporting node had applied when it made
	// the observation (0: unknown). A node's report of an active state made
	// before the coordinator recorded its lease lapsed (Seen < the
	// instance's LapsedAt) is stale: the node has stopped everything since,
	// so the state change is ignored (its failure, if any, still counts).
	Seen uint64 `json:"seen,omitempty"`
	// Lapsed marks the coordinator's own record of a lost node's instance
	// as stopped once the node's lease certainly lapsed (or it was fenced).
	Lapsed bool `json:"lapsed,omitempty"`
}

// Fence records a fencing attempt.
type Fence struct {
	Node   string `json:"node"`
	Action string `json:"action"`
	Device string `json:"device,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

// Note adds a free-form event (e.g. "coordinator elected").
type Note struct {
	Type     string `json:"type"`
	Node     string `json:"node,omitempty"`
	Resource string `json:"resource,omitempty"`
	Message  string `json:"message"`
}

// Forget drops what the state remembers about a resource or a node that left
// the configuration: with Resource, its administrative state and every
// node's reports of it (only Node's report when Node is set too); with only
// Node, that node's whole entry. Without it the maps would grow forever.
type Forget struct {
	Resource string `json:"resource,omitempty"`
	Node     string `json:"node,omitempty"`
}

// ErrRejected wraps every deterministic refusal of a well-formed command.
var ErrRejected = errors.New("command rejected")

// ErrStale is wrapped by refusals caused by a stale base (config version or placement index).
var ErrStale = errors.New("stale")

type spec struct {
	version   int // version this binary writes; it applies 1..version
	placement bool
	check     func(body []byte) error
	apply     func(d *Data, c *Command, idx uint64, body []byte) (any, error)
}

// table is the one registry of replicated commands: type -> version -> applier.
var table = map[string]spec{
	CmdSetConfig:    register(1, true, (*SetConfig).validate, applySetConfig),
	CmdNodeStandby:  register(1, true, (*NodeFlag).validate, applyStandby),
	CmdNodeMaint:    register(1, true, (*NodeFlag).validate, applyMaintenance),
	CmdNodeAttrs:    register(1, true, (*NodeAttrs).validate, applyAttrs),
	CmdTargetRole:   register(1, true, (*TargetRole).validate, applyTargetRole),
	CmdMove:         register(1, true, (*Prefer).validate, applyMove),
	CmdBan:          register(1, true, (*Prefer).validate, applyBan),
	CmdClear:        register(1, true, (*Clear).validate, applyClear),
	CmdCleanup:      register(1, true, (*Cleanup).validate, applyCleanup),
	CmdSetPlacement: register(1, false, (*SetPlacement).validate, applyPlacement),
	CmdReport:       register(1, true, (*Report).validate, applyReport),
	CmdFence:        register(1, true, (*Fence).validate, applyFence),
	CmdEvent:        register(1, false, (*Note).validate, applyNote),
	CmdForget:       register(1, true, (*Forget).validate, applyForget),
}

func register[T any](version int, placement bool, validate func(*T) error,
	fn func(d *Data, c *Command, idx uint64, b *T) (any, error)) spec {
	decode := func(body []byte) (*T, error) {
		var v T
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("body: %v", err)
		}
		return &v, nil
	}
	return spec{
		version:   version,
		placement: placement,
		check: func(body []byte) error {
			v, err := decode(body)
			if err != nil {
				return err
			}
			return validate(v)
		},
		apply: func(d *Data, c *Command, idx uint64, body []byte) (any, error) {
			v, err := decode(body)
			if err != nil {
				return nil, err
			}
			if err := validate(v); err != nil {
				return nil, err
			}
			return fn(d, c, idx, v)
		},
	}
}

// Types lists the registered command types, sorted.
func Types() []string {
	out := make([]string, 0, len(table))
	for k := range table {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NewCommand builds a command of a registered type at this binary's version.
func NewCommand(typ string, at time.Time, by string, body any) (Command, error) {
	s, ok := table[typ]
	if !ok {
		return Command{}, fmt.Errorf("unknown command type %q; expected one of %s", typ, strings.Join(Types(), ", "))
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Command{}, fmt.Errorf("encode %s body: %w", typ, err)
	}
	return Command{Type: typ, Version: s.version, Time: at.UTC(), By: by, Body: b}, nil
}

// Encode returns the log entry bytes of a command.
func (c Command) Encode() ([]byte, error) { return json.Marshal(c) }

// Decode parses log entry bytes.
func Decode(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("decode command: %v; expected a JSON command envelope", err)
	}
	return c, nil
}

// Validate is the proposer's check, run before a command is handed to raft:
// the type and version must be in the table, the body must decode strictly
// and pass the command's own checks. A command that passes is applied by
// every replica running the same or a newer haven.
func Validate(b []byte) error {
	c, err := Decode(b)
	if err != nil {
		return err
	}
	s, ok := table[c.Type]
	if !ok {
		return fmt.Errorf("unknown command type %q refused before commit; expected one of %s", c.Type, strings.Join(Types(), ", "))
	}
	if c.Version < 1 || c.Version > s.version {
		return fmt.Errorf("command %s version %d refused before commit; this haven applies versions 1..%d", c.Type, c.Version, s.version)
	}
	if c.Time.IsZero() {
		return fmt.Errorf("command %s has no time; the proposer must stamp it", c.Type)
	}
	if err := s.check(c.Body); err != nil {
		return fmt.Errorf("command %s: %w", c.Type, err)
	}
	return nil
}

func need(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty; expected a name", field)
	}
	return nil
}

func (b *SetConfig) validate() error {
	if len(b.YAML) == 0 {
		return errors.New("yaml is empty; expected the configuration file's bytes")
	}
	return nil
}
func (b *NodeFlag) validate() error  { return need("node", b.Node) }
func (b *NodeAttrs) validate() error { return need("node", b.Node) }
func (b *TargetRole) validate() error {
	switch b.Role {
	case "", "Started", "Stopped":
		return need("resource", b.Resource)
	}
	return fmt.Errorf("role %q; expected Started, Stopped or empty", b.Role)
}
func (b *Prefer) validate() error {
	if err := need("resource", b.Resource); err != nil {
		return err
	}
	return need("node", b.Node)
}
func (b *Clear) validate() error   { return need("resource", b.Resource) }
func (b *Cleanup) validate() error { return need("resource", b.Resource) }
func (b *SetPlacement) validate() error {
	if b.BasedOn == 0 {
		return errors.New("based_on is 0; expected the state index the plan was computed from")
	}
	return nil
}
func (b *Report) validate() error {
	if err := need("node", b.Node); err != nil {
		return err
	}
	if err := need("resource", b.Resource); err != nil {
		return err
	}
	switch b.State {
	case Started, Stopped, Starting, Stopping, Failed, Blocked:
	default:
		return fmt.Errorf("state %q; expected started, stopped, starting, stopping, failed or blocked", b.State)
	}
	if b.Failure != nil && b.Failure.ID == "" {
		return errors.New("failure.id is empty; expected an id unique per failure at the reporter")
	}
	return nil
}
func (b *Fence) validate() error {
	if err := need("node", b.Node); err != nil {
		return err
	}
	return need("action", b.Action)
}
func (b *Note) validate() error { return need("type", b.Type) }
func (b *Forget) validate() error {
	if b.Resource == "" && b.Node == "" {
		return errors.New("resource and node are both empty; expected at least one")
	}
	return nil
}
