package agent

import "github.com/havenha/haven/engine/agent/internal/agentkit"

// Sentinel errors that callers act on (wrapped; test with errors.Is). Every
// agent package (this one, alert, ping) wraps these same values.
var (
	// ErrNotInstalled: what the resource needs is missing on this node (a
	// script, a binary, a unit). Pacemaker's OCF_ERR_INSTALLED: a hard error
	// for this node.
	ErrNotInstalled = agentkit.ErrNotInstalled
	// ErrNotConfigured: the resource's configuration is wrong everywhere.
	// Pacemaker's OCF_ERR_CONFIGURED: a fatal error.
	ErrNotConfigured = agentkit.ErrNotConfigured
)
