package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// AdminBackend is the optional part of a Backend that commits administrative
// changes to the replicated state (`haven resource cleanup`, `haven node
// standby`). A Backend without it answers these endpoints with 501.
type AdminBackend interface {
	// Cleanup forgets the failures of a resource (a group or clone id is
	// expanded to its member primitives), on one node or everywhere.
	// Refusals are *Error (404 unknown resource or node, 503 no leader).
	Cleanup(ctx context.Context, req CleanupRequest) (CleanupResponse, error)
	// Standby puts a node in standby (On) or takes it out.
	Standby(ctx context.Context, req StandbyRequest) (StandbyResponse, error)
}

// CleanupRequest is the body of POST /v1/resources/cleanup.
type CleanupRequest struct {
	// Resource is a primitive, group or clone id.
	Resource string `json:"resource"`
	// Node limits the cleanup to one node ("" = every node).
	Node string `json:"node,omitempty"`
	// By names who asks (user@host), recorded with the commands.
	By string `json:"by,omitempty"`
}

// CleanupResponse answers POST /v1/resources/cleanup.
type CleanupResponse struct {
	Resource string `json:"resource"`
	Node     string `json:"node,omitempty"`
	// Primitives are the primitives a cleanup was committed for.
	Primitives []string `json:"primitives"`
	// Index is the log index of the last command committed.
	Index uint64 `json:"index"`
}

// StandbyRequest is the body of POST /v1/nodes/standby.
type StandbyRequest struct {
	Node string `json:"node"`
	On   bool   `json:"on"`
	By   string `json:"by,omitempty"`
}

// StandbyResponse answers POST /v1/nodes/standby.
type StandbyResponse struct {
	Node  string `json:"node"`
	On    bool   `json:"on"`
	Index uint64 `json:"index"`
}

// maxAdminBody bounds the administrative request bodies.
const maxAdminBody = 64 << 10

func (s *Server) mountAdmin() {
	s.mux.HandleFunc("/v1/resources/cleanup", s.post(func(w http.ResponseWriter, r *http.Request, ab AdminBackend) {
		var req CleanupRequest
		if !decodeStrict(w, r, &req, `{"resource": "ID", "node": "NAME"}`) {
			return
		}
		if strings.TrimSpace(req.Resource) == "" {
			writeError(w, http.StatusBadRequest, "resource is empty; expected a primitive, group or clone id")
			return
		}
		resp, err := ab.Cleanup(r.Context(), req)
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}))
	s.mux.HandleFunc("/v1/nodes/standby", s.post(func(w http.ResponseWriter, r *http.Request, ab AdminBackend) {
		var req StandbyRequest
		if !decodeStrict(w, r, &req, `{"node": "NAME", "on": true}`) {
			return
		}
		if strings.TrimSpace(req.Node) == "" {
			writeError(w, http.StatusBadRequest, "node is empty; expected a node name")
			return
		}
		resp, err := ab.Standby(r.Context(), req)
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}))
}

// post wraps an administrative handler: POST with a JSON body, no query,
// and a backend that implements AdminBackend.
func (s *Server) post(h func(http.ResponseWriter, *http.Request, AdminBackend)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; expected POST", r.Method, r.URL.Path))
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q; expected application/json", clip(ct)))
			return
		}
		if r.URL.RawQuery != "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s takes no query parameters; got %q", r.URL.Path, clip(r.URL.RawQuery)))
			return
		}
		ab, ok := s.cfg.Backend.(AdminBackend)
		if !ok {
			writeError(w, http.StatusNotImplemented, fmt.Sprintf("%s is not served by this agent", r.URL.Path))
			return
		}
		h(w, r, ab)
	}
}

// decodeStrict decodes one JSON object with no unknown fields into v, or
// answers 400/413 and returns false.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxAdminBody))
			return false
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("request body does not decode (%v); expected %s", err, shape))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "request body holds more than one JSON value; expected one object")
		return false
	}
	return true
}
