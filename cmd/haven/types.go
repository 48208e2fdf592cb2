package main

import (
	"github.com/havenha/haven/engine/agent"
	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/vip"
)

// builtinTypes is every resource type this binary can run: the generic agents
// of engine/agent plus vip. It is the one registry used both by `config
// validate` (param checks) and by the agent; a type not in it is refused by
// engine/config. The iSCSI target is not built yet: when it is, it registers
// here and joins config.BuiltinTypes (types_test.go keeps the two equal).
func builtinTypes() *agent.Registry {
	r := agent.Builtin()
	if err := r.Register("vip", vip.Type{}); err != nil {
		panic("register vip: " + err.Error()) // a programming error: duplicate built-in name
	}
	return r
}

// fenceTypes is the registry of fencing device types: none yet (package
// fencing is empty), so engine/config refuses every fencing device and any
// stonith: true. Nil means exactly that to config.Options.
var fenceTypes model.FenceTypeLookup

// configOptions are the registries every configuration this binary reads is
// checked against.
func configOptions() config.Options {
	return config.Options{Types: resourceTypes, FenceTypes: fenceTypes}
}

func init() {
	resourceTypes = model.TypeLookup(builtinTypes().Lookup)
}
