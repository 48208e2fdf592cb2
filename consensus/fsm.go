package consensus

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/state"
)

// fsm adapts engine/state to raft.FSM.
type fsm struct{ s *state.State }

func (f fsm) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return nil
	}
	return f.s.Apply(l.Index, l.Data)
}

func (f fsm) Snapshot() (raft.FSMSnapshot, error) {
	b, err := f.s.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("snapshot state: %w", err)
	}
	return fsmSnapshot(b), nil
}

func (f fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read state snapshot: %w", err)
	}
	return f.s.Restore(b)
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("write state snapshot: %w", err)
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}
