package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/havenha/haven/engine/model"
)

// SnapshotFormat is the version of the snapshot encoding written by Snapshot.
const SnapshotFormat = 1

// Result is what applying one command returns. A rejected command changed
// nothing; Error says why (the same text on every replica).
type Result struct {
	Index uint64          `json:"index"`
	Error string          `json:"error,omitempty"`
	Stale bool            `json:"stale,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Err returns the refusal as an error wrapping ErrRejected (and ErrStale), or nil.
func (r Result) Err() error {
	if r.Error == "" {
		return nil
	}
	if r.Stale {
		return &rejected{msg: r.Error, stale: true}
	}
	return &rejected{msg: r.Error}
}

type rejected struct {
	msg   string
	stale bool
}

func (e *rejected) Error() string { return e.msg }
func (e *rejected) Is(target error) bool {
	return target == ErrRejected || (e.stale && target == ErrStale)
}

// ParseFunc parses a committed configuration (engine/config.Parse in production).
type ParseFunc func(yaml []byte) (*model.Cluster, error)

// Options configures a State.
type Options struct {
	// Parse turns the committed YAML into a model; used by Cluster only,
	// never by Apply.
	Parse ParseFunc
}

// State is the replicated state machine. Apply, Snapshot and Restore are
// called by one goroutine (raft's FSM goroutine); every other method may be
// called concurrently from anywhere.
type State struct {
	opts Options

	mu      sync.RWMutex
	d       Data
	changed chan struct{} // closed and replaced after every Apply/Restore

	parseMu   sync.Mutex
	parsedVer uint64
	parsed    *model.Cluster
	parseErr  error
}

// New returns an empty state.
func New(opts Options) *State {
	return &State{opts: opts, changed: make(chan struct{})}
}

// Apply applies one committed log entry at raft index idx. It panics when the
// entry is not a command this binary can apply (unknown type or newer
// version): the proposer refuses such commands before commit (Validate), so
// finding one means a newer haven wrote it, and skipping it would silently
// diverge this replica from the others.
func (s *State) Apply(idx uint64, entry []byte) Result {
	c, err := Decode(entry)
	if err != nil {
		panic(fmt.Sprintf("haven state: log entry %d is not a command (%v); refusing to continue so this replica does not diverge — upgrade haven on this node", idx, err))
	}
	sp, ok := table[c.Type]
	if !ok || c.Version < 1 || c.Version > sp.version {
		panic(fmt.Sprintf("haven state: log entry %d holds command %q version %d that this haven cannot apply; refusing to continue so this replica does not diverge — upgrade haven on this node to the version of the others", idx, c.Type, c.Version))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := Result{Index: idx}
	if idx <= s.d.Index {
		// Already applied (replayed after a restore); idempotent by index.
		res.Error = fmt.Sprintf("entry %d already applied (state index %d)", idx, s.d.Index)
		return res
	}
	// Apply to a copy of the touched structures? Appliers only mutate on success
	// paths after all checks, so a refusal leaves d untouched.
	v, aerr := sp.apply(&s.d, &c, idx, c.Body)
	s.d.Index = idx
	switch {
	case aerr != nil:
		res.Error = aerr.Error()
		res.Stale = errors.Is(aerr, ErrStale)
		if !errors.Is(aerr, ErrRejected) {
			res.Error = fmt.Sprintf("%s: %s: %v", ErrRejected, c.Type, aerr)
		}
	default:
		nc, same := v.(noChange)
		if !same && sp.placement {
			s.d.InputIndex = idx
		}
		if same {
			v = nc.value
		}
		if v != nil {
			res.Value, _ = json.Marshal(v)
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return res
}

type snapshot struct {
	Format int  `json:"format"`
	Data   Data `json:"data"`
}

// Snapshot encodes the whole state with its format version. The bytes are a
// deterministic function of the applied log.
func (s *State) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(snapshot{Format: SnapshotFormat, Data: s.d})
}

// Restore replaces the state with a snapshot. An unknown format is an error
// and leaves the state unchanged.
func (s *State) Restore(b []byte) error {
	var hdr struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		return fmt.Errorf("restore state snapshot: %v; expected haven's JSON snapshot", err)
	}
	if hdr.Format != SnapshotFormat {
		return fmt.Errorf("restore state snapshot: format %d is not supported by this haven (it reads format %d); upgrade haven on this node", hdr.Format, SnapshotFormat)
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("restore state snapshot: %v", err)
	}
	s.mu.Lock()
	s.d = snap.Data
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// View returns a deep copy of the whole state.
func (s *State) View() Data {
	s.mu.RLock()
	b, err := json.Marshal(s.d)
	s.mu.RUnlock()
	if err != nil {
		panic(fmt.Sprintf("haven state: cannot copy state: %v", err)) // plain data always encodes
	}
	var d Data
	if err := json.Unmarshal(b, &d); err != nil {
		panic(fmt.Sprintf("haven state: cannot copy state: %v", err))
	}
	return d
}

// Index returns the index of the last applied command.
func (s *State) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Index
}

// Watch returns the current index and a channel closed at the next change.
func (s *State) Watch() (uint64, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Index, s.changed
}

// WaitIndex blocks until the state has applied idx or ctx ends.
func (s *State) WaitIndex(ctx context.Context, idx uint64) error {
	for {
		cur, ch := s.Watch()
		if cur >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for state index %d (at %d): %w", idx, cur, ctx.Err())
		}
	}
}

// ConfigVersion returns the committed configuration's version and bytes (a copy).
func (s *State) ConfigVersion() (uint64, []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Config.Version, append([]byte(nil), s.d.Config.YAML...)
}

// Cluster returns the committed configuration parsed with Options.Parse
// (cached per version) and its version. Version 0 means none is committed.
func (s *State) Cluster() (*model.Cluster, uint64, error) {
	ver, yaml := s.ConfigVersion()
	if ver == 0 {
		return nil, 0, errors.New("no configuration committed yet; run haven config apply")
	}
	if s.opts.Parse == nil {
		return nil, ver, errors.New("state has no configuration parser (Options.Parse)")
	}
	s.parseMu.Lock()
	defer s.parseMu.Unlock()
	if s.parsedVer != ver {
		s.parsed, s.parseErr = s.opts.Parse(yaml)
		s.parsedVer = ver
	}
	return s.parsed, ver, s.parseErr
}

// Reset empties the state (index 0). Used when a node discards its raft state
// to rejoin from another node's log: entries it applied before must not be
// mistaken for the new history's.
func (s *State) Reset() {
	s.mu.Lock()
	s.d = Data{}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}
