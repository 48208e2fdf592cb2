package config

import (
	"strconv"

	"github.com/havenha/haven/engine/model"
)

func strconvQuote(s string) string { return strconv.Quote(s) }

// fakeFence is a test-only fencing type (the binary has none): it wants a
// command and refuses `bad`, so param problems can be placed.
type fakeFence struct{}

func (fakeFence) Validate(p map[string]any) []model.ParamProblem {
	var out []model.ParamProblem
	if _, ok := p["command"]; !ok {
		out = append(out, model.ParamProblem{Msg: "no command; expected command: PROGRAM"})
	}
	if _, ok := p["bad"]; ok {
		out = append(out, model.ParamProblem{Key: "bad", Msg: "unknown parameter; expected command"})
	}
	return out
}

// fakeFenceTypes registers fakeFence as "fake".
func fakeFenceTypes(name string) (model.FenceType, bool) {
	if name == "fake" {
		return fakeFence{}, true
	}
	return nil, false
}

// anyParams is a resource type that accepts any params.
type anyParams struct{ fakeType }

func (anyParams) Validate(map[string]any) []model.ParamProblem { return nil }

// standIns resolves the stock names, plus the given ones, to a type without
// param checks: for tests of what an example decodes to, whether or not this
// binary can run it.
func standIns(extra ...string) model.TypeLookup {
	return func(name string) (model.AgentType, bool) {
		if builtinName(name) || contains(extra, name) {
			return anyParams{}, true
		}
		return nil, false
	}
}
