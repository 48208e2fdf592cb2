package membership

import (
	"encoding/json"
	"fmt"
)

// MetaMaxSize is memberlist's limit on node metadata.
const MetaMaxSize = 512

// Meta is what a node gossips about itself (memberlist Delegate.NodeMeta).
// Short JSON keys keep it far below MetaMaxSize; unknown keys are ignored so
// later versions can add fields.
type Meta struct {
	Cluster  string `json:"c"`
	Votes    int    `json:"v"`
	Role     string `json:"r,omitempty"`
	RaftAddr string `json:"ra,omitempty"`
	APIAddr  string `json:"aa,omitempty"`
	Version  string `json:"ver,omitempty"`
	// Leaving is set just before a graceful leave so peers report the node
	// as left, not dead.
	Leaving bool `json:"l,omitempty"`
	// DoneWaiting says the node is not (or no longer) held back by
	// wait_for_all, which ends a restarted peer's wait (votequorum's
	// nodeinfo wait_for_all_status).
	DoneWaiting bool `json:"dw,omitempty"`
	// Instance is random per process: a leave notice names it (see
	// leave.go), so it applies to that incarnation of the node only.
	Instance string `json:"i,omitempty"`
}

// Encode returns the wire form, or an error when it exceeds MetaMaxSize.
func (m Meta) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > MetaMaxSize {
		return nil, fmt.Errorf("node metadata is %d bytes; expected at most %d (shorten the cluster name or addresses)", len(b), MetaMaxSize)
	}
	return b, nil
}

// DecodeMeta parses a peer's metadata.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, fmt.Errorf("no node metadata; expected a haven node")
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("node metadata is not haven's: %v", err)
	}
	return m, nil
}
