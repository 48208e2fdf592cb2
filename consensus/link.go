package consensus

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/state"
)

// Link is a node's connection to its peers: the raft transport plus haven's
// own request/response RPC (command forwarding, barriers, status) to a peer's
// raft address. TCPLink is the production implementation (TLS authenticated by
// the cluster key); InmemNetwork provides links for in-process tests.
type Link interface {
	// Transport is the raft transport. It lives as long as the Link: a Node
	// restarts raft (forced recovery, wipe) on the same transport.
	Transport() raft.Transport
	// Call sends one request to the node at addr and returns its response.
	Call(ctx context.Context, addr raft.ServerAddress, req Request) (Response, error)
	// Serve installs the handler of incoming requests (nil: refuse them).
	Serve(h Handler)
	// Close stops the link. Safe to call twice.
	Close() error
}

// ErrNotDelivered is wrapped by Link.Call when the request never reached the
// peer (connection refused, unreachable, handshake failed): retrying is safe.
var ErrNotDelivered = errors.New("request not delivered")

// Handler answers one incoming request.
type Handler func(ctx context.Context, req Request) Response

// RPC operations.
const (
	OpApply   = "apply"   // apply Cmd on the leader
	OpBarrier = "barrier" // leader runs a raft barrier, returns its applied index
	OpStatus  = "status"  // the node's consensus status
)

// Request is one haven RPC request.
type Request struct {
	Op   string          `json:"op"`
	From string          `json:"from,omitempty"`
	Cmd  json.RawMessage `json:"cmd,omitempty"`
}

// Response is the answer to a Request.
type Response struct {
	// Error is a failure other than a deterministic rejection.
	Error string `json:"error,omitempty"`
	// NotLeader is set when the receiver is not the leader; nothing was submitted.
	NotLeader bool          `json:"not_leader,omitempty"`
	Result    *state.Result `json:"result,omitempty"`
	Index     uint64        `json:"index,omitempty"`
	Status    *Status       `json:"status,omitempty"`
}

// Status is a node's view of consensus, for `haven status` and for peers.
type Status struct {
	Node    string `json:"node"`
	State   string `json:"state"` // Leader, Follower, Candidate, Shutdown
	Leader  string `json:"leader,omitempty"`
	Term    uint64 `json:"term"`
	Applied uint64 `json:"applied"`
	// Voters and NonVoters are the latest raft configuration.
	Voters    []string `json:"voters"`
	NonVoters []string `json:"non_voters,omitempty"`
	// Alone is set after this node forced a single-voter configuration
	// (fence-to-win) while the plan has more voters.
	Alone bool `json:"alone,omitempty"`
}

// noCloseTransport hides the transport's Close from raft, so that a raft
// shutdown (for a forced recovery or a wipe) leaves the Link usable for the
// next raft instance. The Link closes the transport itself.
type noCloseTransport struct{ raft.Transport }

// RequestPreVote forwards pre-vote support when the transport has it.
func (t noCloseTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if pv, ok := t.Transport.(raft.WithPreVote); ok {
		return pv.RequestPreVote(id, target, args, resp)
	}
	return raft.ErrUnsupportedProtocol
}
