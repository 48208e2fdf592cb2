package model

// FenceType is a fencing device type (`ipmi`, `exec`…), the counterpart of
// AgentType for the `fencing:` section. engine/config accepts a device only
// when the binary's registry resolves its type, so a file never names a
// device that cannot fence. Implementations belong in package fencing and are
// registered by cmd/haven.
type FenceType interface {
	// Validate checks a device's params without touching the system.
	Validate(params map[string]any) []ParamProblem
}

// FenceTypeLookup finds the FenceType for a fencing device type name.
type FenceTypeLookup func(typeName string) (FenceType, bool)
