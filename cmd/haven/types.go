package main

import (
	"github.com/havenha/haven/engine/agent"
	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/vip"
)

// builtinTypes is every resource type this binary can run: the generic agents
// of engine/agent plus vip (and, when they exist, iscsi-target). It is the one
// registry used both by `config validate` (param checks) and by the agent.
func builtinTypes() *agent.Registry {
	r := agent.Builtin()
	if err := r.Register("vip", vip.Type{}); err != nil {
		panic("register vip: " + err.Error()) // a programming error: duplicate built-in name
	}
	return r
}

func init() {
	resourceTypes = model.TypeLookup(builtinTypes().Lookup)
}
