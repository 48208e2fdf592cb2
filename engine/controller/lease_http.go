package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// LeasePath is the API path of lease renewals (POST, JSON).
const LeasePath = "/v1/lease"

// leaseAck is the JSON answer to a renewal.
type leaseAck struct {
	Token uint64 `json:"token"`
}

// renewalJSON is the JSON body of a renewal.
type renewalJSON struct {
	Term   uint64 `json:"term"`
	Leader string `json:"leader"`
	Echo   uint64 `json:"echo,omitempty"`
	Index  uint64 `json:"index,omitempty"`
}

// LeaseHandler serves lease renewals from the coordinator: POST LeasePath
// with {"term", "leader", "echo", "index"}; 200 {"token"} when granted, 409 with the
// reason for a stale term or a second leader, 400 for a bad body. The API
// mounts it behind its authentication.
func (n *Node) LeaseHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "lease renewal: use POST", http.StatusMethodNotAllowed)
			return
		}
		var body renewalJSON
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.Leader == "" {
			http.Error(w, fmt.Sprintf("lease renewal: bad body (%v); expected {\"term\": n, \"leader\": name, \"echo\": token, \"index\": n}", err), http.StatusBadRequest)
			return
		}
		tok, err := n.GrantLease(Renewal(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(leaseAck{Token: tok})
	})
}

// HTTPRenewer sends renewals to other nodes' LeaseHandler.
type HTTPRenewer struct {
	// URL returns the base URL of node's API ("http://10.0.0.2:7948").
	URL func(node string) (string, error)
	// Client sends the requests (it carries the API's authentication);
	// nil means http.DefaultClient.
	Client *http.Client
	// Prepare, when not nil, is called on every request before it is sent
	// (e.g. to set the API token header).
	Prepare func(*http.Request)
}

// Renew implements Renewer.
func (h *HTTPRenewer) Renew(ctx context.Context, node string, r Renewal) (uint64, error) {
	if h.URL == nil {
		return 0, errors.New("lease renewal: HTTPRenewer.URL is nil")
	}
	base, err := h.URL(node)
	if err != nil {
		return 0, fmt.Errorf("lease renewal to %s: %w", node, err)
	}
	b, _ := json.Marshal(renewalJSON(r))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+LeasePath, bytes.NewReader(b))
	if err != nil {
		return 0, fmt.Errorf("lease renewal to %s: %w", node, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if h.Prepare != nil {
		h.Prepare(req)
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("lease renewal to %s: %w", node, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		return 0, fmt.Errorf("lease renewal to %s: %w: %s", node, ErrStaleLease, strings.TrimSpace(string(body)))
	default:
		return 0, fmt.Errorf("lease renewal to %s: HTTP %d: %s", node, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var ack leaseAck
	if err := json.Unmarshal(body, &ack); err != nil {
		return 0, fmt.Errorf("lease renewal to %s: bad ack %q: %v", node, body, err)
	}
	return ack.Token, nil
}
