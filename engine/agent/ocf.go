package agent

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/model"
)

// OCF exit codes (Open Cluster Framework resource agent API).
const (
	OCFSuccess          = 0
	OCFErrGeneric       = 1
	OCFErrArgs          = 2
	OCFErrUnimplemented = 3
	OCFErrPerm          = 4
	OCFErrInstalled     = 5
	OCFErrConfigured    = 6
	OCFNotRunning       = 7
	OCFRunningPromoted  = 8
	OCFFailedPromoted   = 9
)

var ocfCodeNames = map[int]string{
	0: "OCF_SUCCESS", 1: "OCF_ERR_GENERIC", 2: "OCF_ERR_ARGS", 3: "OCF_ERR_UNIMPLEMENTED",
	4: "OCF_ERR_PERM", 5: "OCF_ERR_INSTALLED", 6: "OCF_ERR_CONFIGURED", 7: "OCF_NOT_RUNNING",
	8: "OCF_RUNNING_PROMOTED", 9: "OCF_FAILED_PROMOTED",
}

// DefaultOCFRoot is where resource-agents installs OCF_ROOT.
const DefaultOCFRoot = "/usr/lib/ocf"

// OCFOptions configure how OCF scripts are found and run.
type OCFOptions struct {
	// Root is OCF_ROOT (default /usr/lib/ocf); scripts are
	// ROOT/resource.d/PROVIDER/AGENT.
	Root string
	// Prefix, when set, is prepended to every script invocation, e.g.
	// ["ip", "netns", "exec", "ns1"] to run agents in a network namespace
	// (tests) or ["nsenter", ...].
	Prefix []string
}

func (o OCFOptions) root() string {
	if o.Root == "" {
		return DefaultOCFRoot
	}
	return o.Root
}

// OCFType is the `ocf:PROVIDER:AGENT` resource type.
type OCFType struct {
	Provider, Agent string
	opts            OCFOptions
}

// NewOCFType returns the type for ocf:provider:agent (no I/O).
func NewOCFType(provider, agent string, opts OCFOptions) *OCFType {
	return &OCFType{Provider: provider, Agent: agent, opts: opts}
}

// Name is the type name, ocf:PROVIDER:AGENT.
func (t *OCFType) Name() string { return "ocf:" + t.Provider + ":" + t.Agent }

// Script is the script's path.
func (t *OCFType) Script() string {
	return filepath.Join(t.opts.root(), "resource.d", t.Provider, t.Agent)
}

// Defaults returns OCF operation defaults (Pacemaker's 20s).
func (t *OCFType) Defaults() model.OpDefaults { return agentkit.DefaultOps }

// Validate checks that every param is a scalar with a name usable in an
// environment variable. It does not look for the script: configuration may
// be validated on a machine where it is not installed (see CheckParams).
func (t *OCFType) Validate(params map[string]any) []model.ParamProblem {
	var ps []model.ParamProblem
	for _, k := range sortedKeys(params) {
		if !validEnvName(k) {
			ps = append(ps, model.ParamProblem{Key: k, Msg: "not a valid OCF parameter name; expected letters, digits and '_'"})
			continue
		}
		if _, err := scalarText(params[k]); err != nil {
			ps = append(ps, model.ParamProblem{Key: k, Msg: err.Error() + " (OCF parameters are environment variables)"})
		}
	}
	return ps
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// New builds an agent running the script for one resource (no I/O).
func (t *OCFType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	if err := agentkit.ProblemsErr(t.Name(), t.Validate(res.Params)); err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.ID, err)
	}
	keys := make([]string, 0, len(res.Params))
	for _, k := range sortedKeys(res.Params) {
		v, _ := scalarText(res.Params[k])
		keys = append(keys, "OCF_RESKEY_"+k+"="+v)
	}
	var interval time.Duration
	if res.Monitor != nil {
		interval = res.Monitor.Interval.D()
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ocfAgent{t: t, res: res, env: env, reskeys: keys, interval: interval,
		log: log.With("resource", res.ID, "agent", t.Name())}, nil
}

// ocfAgent runs one resource's OCF script.
type ocfAgent struct {
	t        *OCFType
	res      model.Resource
	env      model.AgentEnv
	reskeys  []string
	interval time.Duration
	log      *slog.Logger
}

// OCFError is a script's failing exit code. It wraps ErrNotInstalled for 5
// and ErrNotConfigured for 6. Pacemaker also treats 2 (args) and 4 (perm)
// as hard errors for the node; the controller can inspect Code.
type OCFError struct {
	Type   string // ocf:PROVIDER:AGENT
	Action string
	Code   int
	Reason string // the script's last "ocf-exit-reason:" message, if any
	Output string // the tail of what the script printed
}

// newOCFError builds the error for a failing code from the script's output.
func newOCFError(typ, action string, code int, out string) *OCFError {
	e := &OCFError{Type: typ, Action: action, Code: code, Output: lastLines(out, 5)}
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "ocf-exit-reason:"); i >= 0 {
			e.Reason = strings.TrimSpace(line[i+len("ocf-exit-reason:"):])
		}
	}
	return e
}

func (e *OCFError) Error() string {
	name := ocfCodeNames[e.Code]
	if name == "" {
		name = "unknown OCF code"
	}
	s := fmt.Sprintf("%s %s: exit %d (%s)", e.Type, e.Action, e.Code, name)
	if e.Reason != "" {
		s += ": " + e.Reason
	} else if e.Output != "" {
		s += ": " + e.Output
	}
	return s
}

// Unwrap maps hard codes to this package's sentinels.
func (e *OCFError) Unwrap() error {
	switch e.Code {
	case OCFErrInstalled:
		return ErrNotInstalled
	case OCFErrConfigured:
		return ErrNotConfigured
	}
	return nil
}

// run runs the script with action. A missing script is exit code 5.
func (a *ocfAgent) run(ctx context.Context, action string, interval time.Duration) (int, string, error) {
	return a.invoke(ctx, action, interval, 2000)
}

// invoke is run keeping at most maxOut bytes of output (the tail).
func (a *ocfAgent) invoke(ctx context.Context, action string, interval time.Duration, maxOut int) (int, string, error) {
	script := a.t.Script()
	if st, err := os.Stat(script); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		why := "is not an executable file"
		if errors.Is(err, fs.ErrNotExist) {
			why = "does not exist (is the package providing it, e.g. resource-agents, installed?)"
		}
		return OCFErrInstalled, "script " + script + " " + why, nil
	}
	argv := append(append([]string{}, a.t.opts.Prefix...), script, action)
	cmd := exec.Command(argv[0], argv[1:]...)
	timeout := 20 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	root := a.t.opts.root()
	cmd.Env = append(agentkit.ChildEnviron(),
		"OCF_ROOT="+root,
		"OCF_FUNCTIONS_DIR="+filepath.Join(root, "lib", "heartbeat"),
		"OCF_RA_VERSION_MAJOR=1",
		"OCF_RA_VERSION_MINOR=1",
		"OCF_RESOURCE_INSTANCE="+a.res.ID,
		"OCF_RESOURCE_TYPE="+a.t.Agent,
		"OCF_RESOURCE_PROVIDER="+a.t.Provider,
		"OCF_RESKEY_CRM_meta_timeout="+strconv.FormatInt(max(timeout.Milliseconds(), 0), 10),
		"OCF_RESKEY_CRM_meta_interval="+strconv.FormatInt(interval.Milliseconds(), 10),
		"OCF_RESKEY_CRM_meta_name="+action,
		"OCF_RESKEY_CRM_meta_on_node="+a.env.Node,
		"OCF_RESKEY_CRM_meta_on_node_uuid="+a.env.Node,
		"OCF_TRACE_RA=0",
		"HA_LOGTAG=haven-"+a.res.ID,
	)
	cmd.Env = append(cmd.Env, a.reskeys...)
	start := time.Now()
	code, out, err := agentkit.RunOutput(ctx, cmd, maxOut)
	a.log.Debug("ocf action", "action", action, "rc", code, "took", time.Since(start).Round(time.Millisecond), "output", out)
	if err != nil {
		return -1, out, fmt.Errorf("%s %s: %w", a.t.Name(), action, err)
	}
	return code, out, nil
}

// Start runs `start`; 0 is success, anything else an *OCFError.
// Idempotency is the script's contract (OCF requires it).
func (a *ocfAgent) Start(ctx context.Context) error {
	code, out, err := a.run(ctx, "start", 0)
	if err != nil {
		return err
	}
	if code != OCFSuccess {
		return newOCFError(a.t.Name(), "start", code, out)
	}
	return nil
}

// Stop runs `stop`; 0 is success. 7 (not running), which some scripts
// return although OCF says 0, is success too. A missing script means haven
// cannot have started the resource here: success.
func (a *ocfAgent) Stop(ctx context.Context) error {
	code, out, err := a.run(ctx, "stop", 0)
	if err != nil {
		return err
	}
	switch code {
	case OCFSuccess, OCFNotRunning:
		return nil
	case OCFErrInstalled:
		if _, serr := os.Stat(a.t.Script()); errors.Is(serr, fs.ErrNotExist) {
			return nil
		}
	}
	return newOCFError(a.t.Name(), "stop", code, out)
}

// Monitor runs `monitor`: 0 running; 7 stopped; 8 (running promoted) is
// running and 9 (failed promoted) failed, since haven has no promotion;
// every other code failed with an *OCFError. A missing script is stopped
// (as a Pacemaker probe on a node without the agent installed).
func (a *ocfAgent) Monitor(ctx context.Context) (model.Status, error) {
	interval := a.interval
	if model.IsProbe(ctx) {
		interval = 0
	}
	code, out, err := a.run(ctx, "monitor", interval)
	if err != nil {
		return model.StatusStopped, err
	}
	switch code {
	case OCFSuccess, OCFRunningPromoted:
		return model.StatusRunning, nil
	case OCFNotRunning:
		return model.StatusStopped, nil
	case OCFErrInstalled:
		if _, serr := os.Stat(a.t.Script()); errors.Is(serr, fs.ErrNotExist) {
			return model.StatusStopped, nil
		}
	}
	return model.StatusFailed, newOCFError(a.t.Name(), "monitor", code, out)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// OCFMetadata is the useful part of a script's `meta-data` output.
type OCFMetadata struct {
	Name       string         `xml:"name,attr"`
	Version    string         `xml:"version,attr"`
	ShortDesc  string         `xml:"shortdesc"`
	Parameters []OCFParameter `xml:"parameters>parameter"`
	Actions    []OCFAction    `xml:"actions>action"`
}

// OCFParameter is one <parameter>.
type OCFParameter struct {
	Name      string `xml:"name,attr"`
	Required  string `xml:"required,attr"`
	Unique    string `xml:"unique,attr"`
	ShortDesc string `xml:"shortdesc"`
	Content   struct {
		Type    string `xml:"type,attr"`
		Default string `xml:"default,attr"`
	} `xml:"content"`
}

// IsRequired reports required="1" (or "true").
func (p OCFParameter) IsRequired() bool { return p.Required == "1" || p.Required == "true" }

// OCFAction is one <action>.
type OCFAction struct {
	Name     string `xml:"name,attr"`
	Timeout  string `xml:"timeout,attr"`
	Interval string `xml:"interval,attr"`
	Depth    string `xml:"depth,attr"`
}

// MetaData runs the script's `meta-data` action and parses it.
func (t *OCFType) MetaData(ctx context.Context) (*OCFMetadata, error) {
	a := &ocfAgent{t: t, res: model.Resource{ID: "meta-data"}, log: slog.New(slog.DiscardHandler)}
	code, out, err := a.invoke(ctx, "meta-data", 0, 1<<20)
	if err != nil {
		return nil, err
	}
	if code != OCFSuccess {
		return nil, newOCFError(t.Name(), "meta-data", code, out)
	}
	var md OCFMetadata
	if err := xml.Unmarshal([]byte(out), &md); err != nil {
		return nil, fmt.Errorf("%s meta-data: not the expected XML: %w", t.Name(), err)
	}
	return &md, nil
}

// CheckParams checks params against the script's metadata on this machine:
// every required parameter must be given. It needs the script installed;
// use Validate where it may not be.
func (t *OCFType) CheckParams(ctx context.Context, params map[string]any) ([]model.ParamProblem, error) {
	md, err := t.MetaData(ctx)
	if err != nil {
		return nil, err
	}
	ps := t.Validate(params)
	for _, p := range md.Parameters {
		if _, ok := params[p.Name]; p.IsRequired() && !ok {
			ps = append(ps, model.ParamProblem{Key: p.Name, Msg: fmt.Sprintf("required by %s: %s", t.Name(), strings.TrimSpace(p.ShortDesc))})
		}
	}
	return ps, nil
}
