package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
)

// AdminBackend is the optional part of a Backend that commits administrative
// changes to the replicated state (`haven resource cleanup`, `haven node
// standby|maintenance`). A Backend without it answers these endpoints with 501.
type AdminBackend interface {
	// Cleanup forgets the failures of a resource (a group or clone id is
	// expanded to its member primitives), on one node or everywhere.
	// Refusals are *Error (404 unknown resource or node, 503 no leader).
	Cleanup(ctx context.Context, req CleanupRequest) (CleanupResponse, error)
	// Standby puts a node in standby (On) or takes it out.
	Standby(ctx context.Context, req StandbyRequest) (StandbyResponse, error)
	// Maintenance puts a node in maintenance (On) or takes it out.
	Maintenance(ctx context.Context, req MaintenanceRequest) (MaintenanceResponse, error)
}

// PlacementBackend is the optional part of a Backend that moves resources
// by runtime preferences and target roles (`haven resource
// move|ban|clear|enable|disable|restart|where`). A Backend without it
// answers these endpoints with 501. Every refusal is an *Error (400 bad
// input, 404 unknown resource or node, 422 a request that cannot be
// honoured, 503 no leader) and changes nothing.
type PlacementBackend interface {
	// Move prefers req.Node with INFINITY for the resource (clearing a ban
	// there first), or without a node bans the node it runs on now.
	Move(ctx context.Context, req MoveRequest) (MoveResponse, error)
	// Ban keeps the resource off req.Node (default: where it runs now).
	Ban(ctx context.Context, req MoveRequest) (MoveResponse, error)
	// Clear removes the resource's move and ban preferences (on req.Node).
	Clear(ctx context.Context, req ClearRequest) (ClearResponse, error)
	// SetTargetRole sets the resource's runtime target role.
	SetTargetRole(ctx context.Context, req TargetRoleRequest) (TargetRoleResponse, error)
	// Where locates a resource, with its runtime preferences (local read).
	Where(ctx context.Context, resource string) (WhereView, error)
	// Constraints lists the runtime preferences and target roles in force.
	Constraints(ctx context.Context) (ConstraintsView, error)
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
	s.mux.HandleFunc("/v1/nodes/maintenance", s.post(func(w http.ResponseWriter, r *http.Request, ab AdminBackend) {
		var req MaintenanceRequest
		if !decodeStrict(w, r, &req, `{"node": "NAME", "on": true}`) {
			return
		}
		if strings.TrimSpace(req.Node) == "" {
			writeError(w, http.StatusBadRequest, "node is empty; expected a node name")
			return
		}
		resp, err := ab.Maintenance(r.Context(), req)
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}))
	s.mountPlacement()
}

func (s *Server) mountPlacement() {
	for _, kind := range []string{"move", "ban"} {
		s.mux.HandleFunc("/v1/resources/"+kind, postAs(s, func(w http.ResponseWriter, r *http.Request, pb PlacementBackend) {
			var req MoveRequest
			if !decodeStrict(w, r, &req, `{"resource": "ID", "node": "NAME", "lifetime": "30m"}`) {
				return
			}
			if !needResource(w, req.Resource) {
				return
			}
			if req.Lifetime != "" {
				if _, err := ParseLifetime(req.Lifetime); err != nil {
					writeError(w, http.StatusBadRequest, err.Error())
					return
				}
			}
			do := pb.Move
			if kind == "ban" {
				do = pb.Ban
			}
			resp, err := do(r.Context(), req)
			if err != nil {
				s.writeBackendError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, resp)
		}))
	}
	s.mux.HandleFunc("/v1/resources/clear", postAs(s, func(w http.ResponseWriter, r *http.Request, pb PlacementBackend) {
		var req ClearRequest
		if !decodeStrict(w, r, &req, `{"resource": "ID", "node": "NAME"}`) || !needResource(w, req.Resource) {
			return
		}
		resp, err := pb.Clear(r.Context(), req)
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}))
	s.mux.HandleFunc("/v1/resources/target-role", postAs(s, func(w http.ResponseWriter, r *http.Request, pb PlacementBackend) {
		var req TargetRoleRequest
		if !decodeStrict(w, r, &req, `{"resource": "ID", "role": "Started|Stopped|"}`) || !needResource(w, req.Resource) {
			return
		}
		switch req.Role {
		case "", "Started", "Stopped":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("role %q; expected Started, Stopped or empty (follow the configuration file)", clip(req.Role)))
			return
		}
		resp, err := pb.SetTargetRole(r.Context(), req)
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}))
	s.mux.HandleFunc("/v1/resources/where", s.getQuery([]string{"resource"}, func(w http.ResponseWriter, r *http.Request, q url.Values) {
		id := q.Get("resource")
		if !needResource(w, id) {
			return
		}
		pb, ok := s.cfg.Backend.(PlacementBackend)
		if !ok {
			writeError(w, http.StatusNotImplemented, fmt.Sprintf("%s is not served by this agent", r.URL.Path))
			return
		}
		v, err := pb.Where(r.Context(), id)
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
	s.mux.HandleFunc("/v1/resources/constraints", s.get(func(w http.ResponseWriter, r *http.Request) {
		pb, ok := s.cfg.Backend.(PlacementBackend)
		if !ok {
			writeError(w, http.StatusNotImplemented, fmt.Sprintf("%s is not served by this agent", r.URL.Path))
			return
		}
		v, err := pb.Constraints(r.Context())
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
}

func needResource(w http.ResponseWriter, id string) bool {
	if strings.TrimSpace(id) == "" {
		writeError(w, http.StatusBadRequest, "resource is empty; expected a primitive, group or clone id")
		return false
	}
	return true
}

// getQuery wraps a read-only handler that takes query parameters: GET or
// HEAD, no body, only the allowed parameters, each at most once.
func (s *Server) getQuery(allowed []string, h func(http.ResponseWriter, *http.Request, url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; expected GET", r.Method, r.URL.Path))
			return
		}
		if r.ContentLength > 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s takes no request body", r.URL.Path))
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query %q does not parse (%v); expected %s=VALUE", clip(r.URL.RawQuery), err, strings.Join(allowed, "=…&")))
			return
		}
		for k, v := range q {
			known := false
			for _, a := range allowed {
				known = known || a == k
			}
			if !known {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s takes no query parameter %q; expected %s", r.URL.Path, clip(k), strings.Join(allowed, ", ")))
				return
			}
			if len(v) > 1 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter %q given %d times; expected once", clip(k), len(v)))
				return
			}
		}
		h(w, r, q)
	}
}

// post wraps an administrative handler: POST with a JSON body, no query,
// and a backend that implements AdminBackend.
func (s *Server) post(h func(http.ResponseWriter, *http.Request, AdminBackend)) http.HandlerFunc {
	return postAs(s, h)
}

// postAs wraps a handler for POST with a JSON body, no query, and a backend
// that implements B (else 501).
func postAs[B any](s *Server, h func(http.ResponseWriter, *http.Request, B)) http.HandlerFunc {
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
		ab, ok := s.cfg.Backend.(B)
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

// Preference is one move or ban preference in force (crm_resource's
// cli-prefer and cli-ban location constraints).
type PreferenceView struct {
	// Resource is the primitive, group or clone id it was given for.
	Resource string `json:"resource"`
	// Kind is "move" (INFINITY on Node) or "ban" (-INFINITY on Node).
	Kind string `json:"kind"`
	Node string `json:"node"`
	// Score is INFINITY or -INFINITY, as Pacemaker writes them.
	Score   string     `json:"score"`
	Since   time.Time  `json:"since,omitzero"`
	Expires *time.Time `json:"expires,omitempty"`
}

// TargetRoleView is a runtime target role set by enable/disable.
type TargetRoleView struct {
	Resource string `json:"resource"`
	Role     string `json:"role"`
}

// ConstraintsView is GET /v1/resources/constraints: the runtime location
// preferences and target roles in force, sorted by resource.
type ConstraintsView struct {
	Preferences []PreferenceView `json:"preferences"`
	TargetRoles []TargetRoleView `json:"target_roles"`
}

// MoveRequest is the body of POST /v1/resources/move and
// POST /v1/resources/ban.
type MoveRequest struct {
	// Resource is a primitive, group or clone id (move refuses clones).
	Resource string `json:"resource"`
	// Node is the node to move to (move) or to ban (ban). Empty: the node
	// the resource runs on now, which move then bans (crm_resource --move
	// without --node).
	Node string `json:"node,omitempty"`
	// Lifetime bounds the preference (ParseLifetime's forms); empty: until
	// `haven resource clear`.
	Lifetime string `json:"lifetime,omitempty"`
	// Force commits a move even when the scheduler says the resource cannot
	// run on Node (a witness or an unknown node is refused regardless).
	Force bool   `json:"force,omitempty"`
	By    string `json:"by,omitempty"`
}

// MoveResponse answers POST /v1/resources/move and /ban.
type MoveResponse struct {
	Resource string `json:"resource"`
	// Kind is what was committed: "move" (prefer Node) or "ban" (keep off
	// Node; a move without a node is a ban of the current node).
	Kind string `json:"kind"`
	Node string `json:"node"`
	// From is where the resource ran when the request arrived.
	From    []string   `json:"from"`
	Expires *time.Time `json:"expires,omitempty"`
	// Cleared are preferences removed on the way: a move to a node clears
	// the resource's ban there first, as crm_resource --move does.
	Cleared []PreferenceView `json:"cleared,omitempty"`
	// Placement is what the scheduler will do, computed on the answering
	// node's state with the new preference.
	Placement []PlacementChange `json:"placement_changes"`
	// Warnings say what the operator should know (it will not run, …).
	Warnings []string `json:"warnings,omitempty"`
	Index    uint64   `json:"index"`
}

// ClearRequest is the body of POST /v1/resources/clear.
type ClearRequest struct {
	Resource string `json:"resource"`
	// Node limits the clear to the preferences naming it ("" = all).
	Node string `json:"node,omitempty"`
	By   string `json:"by,omitempty"`
}

// ClearResponse answers POST /v1/resources/clear.
type ClearResponse struct {
	Resource string           `json:"resource"`
	Node     string           `json:"node,omitempty"`
	Cleared  []PreferenceView `json:"cleared"`
	// Placement is what the scheduler will do without them.
	Placement []PlacementChange `json:"placement_changes"`
	// Index is 0 when there was nothing to clear (nothing committed).
	Index uint64 `json:"index"`
}

// TargetRoleRequest is the body of POST /v1/resources/target-role
// (`haven resource enable|disable`).
type TargetRoleRequest struct {
	Resource string `json:"resource"`
	// Role is Started, Stopped, or "" to follow the configuration file.
	Role string `json:"role"`
	By   string `json:"by,omitempty"`
}

// TargetRoleResponse answers POST /v1/resources/target-role.
type TargetRoleResponse struct {
	Resource string `json:"resource"`
	Role     string `json:"role"`
	// Previous is the runtime role before ("" = none: the file's).
	Previous  string            `json:"previous"`
	Placement []PlacementChange `json:"placement_changes"`
	// Index is 0 when the role was already Role (nothing committed).
	Index uint64 `json:"index"`
}

// WhereView is GET /v1/resources/where?resource=ID (crm_resource --locate).
type WhereView struct {
	Resource string `json:"resource"`
	// Kind is primitive, group or clone.
	Kind string `json:"kind"`
	// Nodes are where it runs (any member primitive observed started), sorted.
	Nodes []string `json:"nodes"`
	// Placed are the nodes the coordinator's last plan put it on.
	Placed []string `json:"placed"`
	// Primitives are its member primitives, each with what nodes report.
	Primitives []PrimitiveWhere `json:"primitives"`
	// TargetRole is the runtime target role ("" = the file's).
	TargetRole  string           `json:"target_role,omitempty"`
	Preferences []PreferenceView `json:"preferences"`
}

// PrimitiveWhere is one primitive in a WhereView.
type PrimitiveWhere struct {
	ID string `json:"id"`
	// Started are the nodes reporting it started.
	Started []string `json:"started"`
	// Active are the nodes where it may be active: started, starting,
	// stopping, failed or blocked (empty: stopped everywhere).
	Active []string `json:"active"`
}

// MaintenanceRequest is the body of POST /v1/nodes/maintenance.
type MaintenanceRequest struct {
	Node string `json:"node"`
	On   bool   `json:"on"`
	By   string `json:"by,omitempty"`
}

// MaintenanceResponse answers POST /v1/nodes/maintenance.
type MaintenanceResponse struct {
	Node  string `json:"node"`
	On    bool   `json:"on"`
	Index uint64 `json:"index"`
}

// ParseLifetime parses a move or ban lifetime: Go and pcs forms (30m,
// 1h30m, 90s, 10min) or ISO 8601 as crm_resource --lifetime takes it
// (PT30M, P1D, P1W, P1DT12H). It must be positive; years and months are
// refused (their length varies).
func ParseLifetime(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToUpper(t), "P") {
		return parseISODuration(s, strings.ToUpper(t))
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("lifetime %q is negative; expected a duration like 30m (omit --lifetime to keep it until 'haven resource clear')", s)
	}
	d, err := model.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("lifetime %q is not a duration; expected a form like 30m, 2h, 1h30m or ISO 8601 PT30M, P1D", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("lifetime %q is not positive; expected a duration like 30m (omit --lifetime to keep it until 'haven resource clear')", s)
	}
	return d.D(), nil
}

func parseISODuration(orig, t string) (time.Duration, error) {
	bad := fmt.Errorf("lifetime %q is not an ISO 8601 duration; expected a form like PT30M, PT2H, P1D or P1DT12H (weeks, days, hours, minutes, seconds)", orig)
	rest := t[1:]
	if rest == "" || rest == "T" {
		return 0, bad
	}
	var total time.Duration
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime, rest = true, rest[1:]
			if rest == "" {
				return 0, bad
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, bad
		}
		var unit time.Duration
		switch u := rest[i]; {
		case !inTime && u == 'W':
			unit = 7 * 24 * time.Hour
		case !inTime && u == 'D':
			unit = 24 * time.Hour
		case !inTime && (u == 'Y' || u == 'M'):
			return 0, fmt.Errorf("lifetime %q counts years or months, whose length varies; expected weeks, days, hours, minutes or seconds (P30D, PT12H)", orig)
		case inTime && u == 'H':
			unit = time.Hour
		case inTime && u == 'M':
			unit = time.Minute
		case inTime && u == 'S':
			unit = time.Second
		default:
			return 0, bad
		}
		if n > float64(100*365*24*time.Hour/unit) {
			return 0, fmt.Errorf("lifetime %q is over 100 years; expected a shorter duration (omit --lifetime to keep it until cleared)", orig)
		}
		total += time.Duration(n * float64(unit))
		if total > 100*365*24*time.Hour {
			return 0, fmt.Errorf("lifetime %q is over 100 years; expected a shorter duration (omit --lifetime to keep it until cleared)", orig)
		}
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("lifetime %q is not positive; expected a duration like PT30M", orig)
	}
	return total, nil
}
