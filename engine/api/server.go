package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/havenha/haven/engine/config"
)

// Backend is what the API serves. It grows with the agent (status,
// resources, configuration, ...); each method must be cheap and safe for
// concurrent use.
type Backend interface {
	// Quorum returns the node's current membership and quorum view.
	Quorum() QuorumView
	// Status returns the node's view of the whole cluster (local reads, no
	// round trip to the leader).
	Status(ctx context.Context) (StatusView, error)
	// Config returns the committed configuration.
	Config(ctx context.Context) (ConfigView, error)
	// ApplyConfig checks a new configuration against the committed one and,
	// unless req.DryRun, commits it if req.BaseVersion is still current.
	// Refusals are *Error (400 bad file, 409 stale base, 422 a change that
	// cannot happen live, 503 no leader); nothing changes on a refusal.
	ApplyConfig(ctx context.Context, req ConfigRequest) (ConfigResponse, error)
}

// maxConfigBody bounds POST /v1/config: a configuration file of the largest
// accepted size, escaped in JSON.
const maxConfigBody = 2*config.MaxFileSize + 64<<10

// Config configures a Server.
type Config struct {
	Backend Backend
	Logger  *slog.Logger
	// SocketPath is the unix socket to serve the local CLI on ("" = none).
	SocketPath string
	// TCPAddr is host:port for remote clients ("" = none).
	TCPAddr string
	// Token is the bearer token TCP clients must present (required with TCPAddr).
	Token string
	// Handlers are extra endpoints (path -> handler) served on both
	// listeners, behind the token on TCP (node-to-node extensions).
	Handlers map[string]http.Handler
}

// Server serves the API. New does no I/O; Run listens and blocks.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	readyCh  chan struct{}
	mu       sync.Mutex
	servers  []*http.Server
	tcpAddr  net.Addr
	closeErr error
	closed   bool
}

// New validates cfg and builds the handlers.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("api: no backend")
	}
	if cfg.SocketPath == "" && cfg.TCPAddr == "" {
		return nil, errors.New("api: neither a socket path nor a TCP address; expected at least one")
	}
	if cfg.TCPAddr != "" && len(cfg.Token) < 16 {
		return nil, errors.New("api: TCP listener without a token; expected a token derived from the cluster key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "api"), mux: http.NewServeMux(), readyCh: make(chan struct{})}
	s.mux.HandleFunc("/v1/quorum", s.get(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.cfg.Backend.Quorum())
	}))
	s.mux.HandleFunc("/v1/status", s.get(func(w http.ResponseWriter, r *http.Request) {
		v, err := s.cfg.Backend.Status(r.Context())
		if err != nil {
			s.writeBackendError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
	s.mux.HandleFunc("/v1/config", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			s.applyConfig(w, r)
			return
		case http.MethodGet, http.MethodHead:
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; expected GET (read) or POST (apply)", r.Method, r.URL.Path))
			return
		}
		s.get(func(w http.ResponseWriter, r *http.Request) {
			v, err := s.cfg.Backend.Config(r.Context())
			if err != nil {
				s.writeBackendError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})(w, r)
	})
	s.mountAdmin()
	for p, h := range cfg.Handlers {
		s.mux.Handle(p, h)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; expected one of /v1/quorum, /v1/status, /v1/config, /v1/resources/{cleanup,move,ban,clear,target-role,where,constraints}, /v1/nodes/{standby,maintenance}, /v1/lease", r.URL.Path))
	})
	return s, nil
}

// Handler returns the handler with TCP authentication (for tests).
func (s *Server) Handler() http.Handler { return s.auth(s.mux) }

// Ready is closed once every listener is open.
func (s *Server) Ready() <-chan struct{} { return s.readyCh }

// TCPAddr returns the bound TCP address (after Ready), or nil.
func (s *Server) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// Run opens the listeners and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	var lns []net.Listener
	var handlers []http.Handler
	if p := s.cfg.SocketPath; p != "" {
		ln, err := listenUnix(p)
		if err != nil {
			return err
		}
		lns, handlers = append(lns, ln), append(handlers, s.mux)
	}
	if a := s.cfg.TCPAddr; a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("api: listen on %s: %w", a, err)
		}
		s.mu.Lock()
		s.tcpAddr = ln.Addr()
		s.mu.Unlock()
		lns, handlers = append(lns, ln), append(handlers, s.auth(s.mux))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		for _, l := range lns {
			l.Close()
		}
		return nil
	}
	errCh := make(chan error, len(lns))
	for i, ln := range lns {
		hs := &http.Server{Handler: handlers[i], ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		s.servers = append(s.servers, hs)
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errCh <- err
			}
		}()
	}
	s.mu.Unlock()
	close(s.readyCh)
	s.log.Info("api listening", "socket", s.cfg.SocketPath, "tcp", s.cfg.TCPAddr)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errCh:
		err = fmt.Errorf("api: serve: %w", err)
	}
	_ = s.Close()
	return err
}

// Close stops the listeners (waiting up to 2 s for requests in flight) and
// removes the socket file. Safe twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if p := s.cfg.SocketPath; p != "" && len(servers) > 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	s.closeErr = errors.Join(errs...)
	s.mu.Unlock()
	return s.closeErr
}

// listenUnix opens the socket, replacing a stale file but never a socket
// another agent still answers on.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("api: create socket folder: %w", err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("api: %s exists and is not a socket; expected a free path for the agent's socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("api: another process answers on %s; expected one agent per socket (use --socket)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("api: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: chmod %s: %w", path, err)
	}
	return ln, nil
}

// auth requires the bearer token (TCP listener only).
func (s *Server) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if s.cfg.Token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			reason := "missing Authorization header"
			if len(got) > 0 {
				reason = "wrong token"
			}
			s.log.Warn("api request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason)
			w.Header().Set("WWW-Authenticate", `Bearer realm="haven"`)
			writeError(w, http.StatusUnauthorized, reason+"; expected \"Authorization: Bearer TOKEN\" with the token derived from the cluster key (use haven -c FILE --node NAME)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// get wraps a read-only handler: GET or HEAD only, no body, no query.
func (s *Server) get(h http.HandlerFunc) http.HandlerFunc {
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
		if r.URL.RawQuery != "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s takes no query parameters; got %q", r.URL.Path, clip(r.URL.RawQuery)))
			return
		}
		h(w, r)
	}
}

// applyConfig is POST /v1/config: a strict JSON body, then the backend.
func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q; expected application/json", clip(ct)))
		return
	}
	if r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s takes no query parameters; got %q", r.URL.Path, clip(r.URL.RawQuery)))
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxConfigBody))
	dec.DisallowUnknownFields()
	var req ConfigRequest
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes; expected a configuration file of at most %d bytes", maxConfigBody, config.MaxFileSize))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("request body is not a configuration request (%v); expected {\"yaml\": \"...\", \"base_version\": N, \"dry_run\": false}", err))
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "request body holds more than one JSON value; expected one configuration request")
		return
	}
	if req.BaseVersion == nil {
		writeError(w, http.StatusBadRequest, "base_version is missing; expected the committed version the file was edited from (GET /v1/config), 0 when nothing is committed")
		return
	}
	if strings.TrimSpace(req.YAML) == "" {
		writeError(w, http.StatusBadRequest, "yaml is empty; expected the whole configuration file")
		return
	}
	resp, err := s.cfg.Backend.ApplyConfig(r.Context(), req)
	if err != nil {
		s.writeBackendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// writeBackendError answers a backend's refusal (*Error) with its status, and
// anything else as 500.
func (s *Server) writeBackendError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if errors.As(err, &e) && e.Status >= 400 && e.Status < 600 {
		writeJSON(w, e.Status, ErrorBody{Error: e.Message, BaseVersion: e.BaseVersion, CurrentVersion: e.CurrentVersion})
		return
	}
	s.log.Warn("api request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}
