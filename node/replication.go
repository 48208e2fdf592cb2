package node

// replication.go adapts membership and the node's file to consensus: the
// seed of a fresh cluster's configuration, the keeper that installs each
// committed configuration and writes it back to this node's file, and the
// consumer of membership events.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/engine/controller"
	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/membership"
)

// seedConfig runs when this node becomes raft leader: on a fresh cluster
// (config version 0) it commits this node's file as version 1, so the first
// `haven config show` has something to show. Every node's file is the same
// at bootstrap; whichever leader comes first wins and the others' seeds are
// refused as stale (base 0 is no longer current).
func seedConfig(ctx context.Context, log *slog.Logger, n *consensus.Node, st *state.State, file []byte, self string) {
	for {
		if v, _ := st.ConfigVersion(); v != 0 {
			return
		}
		cmd, err := state.NewCommand(state.CmdSetConfig, time.Now(), "haven-agent@"+self, state.SetConfig{Base: 0, YAML: file})
		if err != nil {
			log.Error("seed configuration: build command", "err", err)
			return
		}
		_, err = n.Apply(ctx, cmd)
		switch {
		case err == nil:
			log.Info("committed this node's configuration file as version 1 (fresh cluster)")
			return
		case errors.Is(err, state.ErrStale):
			return // another leader seeded first
		case ctx.Err() != nil:
			return // leadership lost; the next leader seeds
		}
		log.Warn("seed configuration failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// fileKeeper installs every committed configuration into raft's voter plan
// (consensus.Node.UpdateCluster) and writes it back to this node's
// configuration file, so files never drift. It acts only once this node has
// joined: a barrier through the leader proves its state holds everything
// committed, so an old log replayed at startup never overwrites a newer file.
// Once joined, the committed configuration wins over the file on disk; a
// difference is logged.
type fileKeeper struct {
	path string
	node *consensus.Node
	st   *state.State
	log  *slog.Logger
}

// Run blocks until ctx ends.
func (k *fileKeeper) Run(ctx context.Context) error {
	for {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := k.node.Barrier(bctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	var done uint64 // the version last handled
	first := true
	for {
		_, changed := k.st.Watch()
		if v, yaml := k.st.ConfigVersion(); v != 0 && v != done {
			k.install(v, yaml, first)
			done, first = v, false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func (k *fileKeeper) install(version uint64, yaml []byte, atStartup bool) {
	if c, v, err := k.st.Cluster(); err != nil {
		k.log.Error("committed configuration does not parse with this haven; keeping the previous voter plan", "version", v, "err", err)
	} else if err := k.node.UpdateCluster(c); err != nil {
		k.log.Error("committed configuration refused by consensus; keeping the previous voter plan", "version", v, "err", err)
	}
	old, err := os.ReadFile(k.path)
	if err == nil && bytes.Equal(old, yaml) {
		return
	}
	if atStartup && err == nil {
		k.log.Warn("configuration file differs from the committed configuration; the committed one wins (use 'haven config apply' to change it)",
			"file", k.path, "version", version)
	}
	if err := writeFileAtomic(k.path, yaml); err != nil {
		k.log.Error("write the committed configuration back to the file", "file", k.path, "version", version, "err", err)
		return
	}
	k.log.Info("configuration file updated from the committed configuration", "file", k.path, "version", version)
}

// writeFileAtomic replaces path with data: a temporary file in the same
// folder, fsynced, given the old file's mode (0600 for a new one), renamed
// over path, then the folder fsynced. Readers see the old or the new file,
// never a mix.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// consumeEvents feeds membership's view to consensus: a peer declared dead
// or gone may start fence-to-win (consensus decides whether it applies), a
// peer seen again is re-added. Other events are logged at debug level.
func consumeEvents(ctx context.Context, log *slog.Logger, mem Membership, n *consensus.Node, ctl *controller.Node) error {
	for {
		var e membership.Event
		select {
		case <-ctx.Done():
			return nil
		case e = <-mem.EventCh():
		}
		log.Debug("membership event", "kind", e.Kind, "node", e.Node, "link", e.Link, "quorate", e.Quorum.Quorate)
		if ctl != nil {
			ctl.MembershipChanged()
		}
		switch e.Kind {
		case membership.EventDead, membership.EventLeave:
			if err := n.PeerDown(ctx, e.Node); err != nil {
				log.Warn("peer down: raft continues without it only when consensus allows", "peer", e.Node, "err", err)
			}
		case membership.EventJoin:
			if err := n.PeerUp(ctx, e.Node); err != nil {
				log.Warn("peer up: re-adding it to raft failed; the leader retries", "peer", e.Node, "err", err)
			}
		}
	}
}
