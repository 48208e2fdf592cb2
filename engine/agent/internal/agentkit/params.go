package agentkit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
)

// Sentinel errors that callers act on (wrapped; test with errors.Is).
// engine/agent exports the same values as agent.ErrNotInstalled and
// agent.ErrNotConfigured.
var (
	// ErrNotInstalled: what the resource needs is missing on this node (a
	// script, a binary, a unit). Pacemaker's OCF_ERR_INSTALLED: a hard error
	// for this node.
	ErrNotInstalled = errors.New("not installed on this node")
	// ErrNotConfigured: the resource's configuration is wrong everywhere.
	// Pacemaker's OCF_ERR_CONFIGURED: a fatal error.
	ErrNotConfigured = errors.New("not configured correctly")
)

// DefaultOps are the operation timings shared by most agents (Pacemaker's
// default operation timeout is 20s).
var DefaultOps = model.OpDefaults{
	MonitorInterval: model.Duration(10 * time.Second),
	MonitorTimeout:  model.Duration(20 * time.Second),
	StartTimeout:    model.Duration(20 * time.Second),
	StopTimeout:     model.Duration(20 * time.Second),
}

// DecodeProblems decodes params into out and returns the decode error as a
// ParamProblem list (nil when it decoded).
func DecodeProblems(params map[string]any, out any) []model.ParamProblem {
	if err := model.DecodeParams(params, out); err != nil {
		return []model.ParamProblem{{Key: problemKey(err.Error()), Msg: err.Error()}}
	}
	return nil
}

// problemKey extracts the key name from encoding/json's messages such as
// `params: unknown field "foo"` or `cannot unmarshal ... into Go struct
// field x.command of type ...`.
func problemKey(msg string) string {
	if i := strings.Index(msg, `unknown field "`); i >= 0 {
		rest := msg[i+len(`unknown field "`):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return rest[:j]
		}
	}
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			rest = rest[:j]
		}
		if k := strings.IndexByte(rest, '.'); k >= 0 {
			rest = rest[k+1:]
		}
		return rest
	}
	return ""
}

// ProblemsErr joins problems into one error wrapping ErrNotConfigured (nil
// when there are none); kind names the agent type in each message.
func ProblemsErr(kind string, ps []model.ParamProblem) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, 0, len(ps))
	for _, p := range ps {
		if p.Key != "" {
			errs = append(errs, fmt.Errorf("%s param %q: %s", kind, p.Key, p.Msg))
		} else {
			errs = append(errs, fmt.Errorf("%s params: %s", kind, p.Msg))
		}
	}
	return fmt.Errorf("%w: %w", ErrNotConfigured, errors.Join(errs...))
}
