package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// FormatVersion is the layout version written to meta.json. A directory with a
// higher version was written by a newer haven and is refused.
const FormatVersion = 1

// DefaultRoot is the parent of every node's data directory.
const DefaultRoot = "/var/lib/haven"

// DefaultLockTimeout bounds how long Open waits for the bbolt file lock.
const DefaultLockTimeout = 2 * time.Second

// ErrInUse is returned (wrapped) when another process holds the data directory.
var ErrInUse = errors.New("data directory in use by another process")

// ErrIdentity is returned (wrapped) when the directory belongs to another cluster or node.
var ErrIdentity = errors.New("data directory belongs to another cluster or node")

// Identity is what meta.json records about the owner of a data directory.
type Identity struct {
	Cluster   string `json:"cluster"`
	Node      string `json:"node"`
	ClusterID string `json:"cluster_id"` // derived from the cluster key; see consensus.ClusterID
	Format    int    `json:"format"`
	// Joined is set after a node was wiped to rejoin an existing cluster:
	// such a node never bootstraps, it waits for the leader to add it.
	Joined bool `json:"joined,omitempty"`
}

// Options configures Open.
type Options struct {
	// Path is the node's data directory; empty means DefaultRoot/NODE.
	Path string
	// Identity is who is opening the directory. Cluster, Node and ClusterID are required.
	Identity Identity
	// LockTimeout bounds the wait for another process's lock (default DefaultLockTimeout).
	LockTimeout time.Duration
	// NoSync disables fsync of the raft log. Benchmarks and tests only; never in production.
	NoSync bool
	// SnapshotRetain is how many snapshots are kept (default 2).
	SnapshotRetain int
	// LogOutput receives the snapshot store's log lines (default io.Discard).
	LogOutput io.Writer
}

// PathFor returns the default data directory of a node under root (DefaultRoot when empty).
func PathFor(root, node string) string {
	if root == "" {
		root = DefaultRoot
	}
	return filepath.Join(root, node)
}

// Dir is an open data directory. It owns the raft stores; Close releases them.
type Dir struct {
	path  string
	opts  Options
	id    Identity
	bolt  *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
}

// Open creates or opens a node's data directory, checks its identity and opens
// the raft stores. It fails with ErrIdentity when the directory belongs to
// another cluster or node and with ErrInUse when another process holds it.
func Open(opts Options) (*Dir, error) {
	want := opts.Identity
	if want.Cluster == "" || want.Node == "" || want.ClusterID == "" {
		return nil, fmt.Errorf("open data directory: identity needs cluster, node and cluster id (got %+v)", want)
	}
	if opts.Path == "" {
		opts.Path = PathFor("", want.Node)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.SnapshotRetain <= 0 {
		opts.SnapshotRetain = 2
	}
	if opts.LogOutput == nil {
		opts.LogOutput = io.Discard
	}
	if err := os.MkdirAll(opts.Path, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", opts.Path, err)
	}
	id, err := checkIdentity(opts.Path, want)
	if err != nil {
		return nil, err
	}
	d := &Dir{path: opts.Path, opts: opts, id: id}
	if err := d.openStores(); err != nil {
		return nil, err
	}
	return d, nil
}

func metaPath(dir string) string { return filepath.Join(dir, "meta.json") }

// ReadIdentity reads meta.json of a data directory (os.ErrNotExist when fresh).
func ReadIdentity(dir string) (Identity, error) {
	var id Identity
	b, err := os.ReadFile(metaPath(dir))
	if err != nil {
		return id, err
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("read %s: %v; expected the JSON identity file haven writes", metaPath(dir), err)
	}
	return id, nil
}

func checkIdentity(dir string, want Identity) (Identity, error) {
	have, err := ReadIdentity(dir)
	if errors.Is(err, os.ErrNotExist) {
		// A directory that already holds raft state but no identity was not
		// made by haven (or meta.json was deleted): refuse rather than guess.
		if _, serr := os.Stat(filepath.Join(dir, "raft", "raft.db")); serr == nil {
			return Identity{}, fmt.Errorf("%w: %s holds raft state but no meta.json; restore meta.json or remove the directory to rejoin from the cluster", ErrIdentity, dir)
		}
		want.Format = FormatVersion
		return want, writeIdentity(dir, want)
	}
	if err != nil {
		return Identity{}, err
	}
	if have.Format > FormatVersion {
		return Identity{}, fmt.Errorf("data directory %s has format %d, this haven understands up to %d; upgrade haven on this node", dir, have.Format, FormatVersion)
	}
	if have.Cluster != want.Cluster || have.Node != want.Node || have.ClusterID != want.ClusterID {
		what := "cluster key"
		switch {
		case have.Cluster != want.Cluster:
			what = "cluster name"
		case have.Node != want.Node:
			what = "node name"
		}
		return Identity{}, fmt.Errorf("%w: %s belongs to cluster %q node %q (cluster id %s), but this agent is cluster %q node %q (cluster id %s): the %s differs; "+
			"point cluster.data_dir elsewhere, or, if that state is no longer wanted, remove the directory and the node will rejoin and catch up from the cluster",
			ErrIdentity, dir, have.Cluster, have.Node, have.ClusterID, want.Cluster, want.Node, want.ClusterID, what)
	}
	return have, nil
}

func writeIdentity(dir string, id Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	tmp := metaPath(dir) + ".tmp"
	if err := writeSync(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, metaPath(dir)); err != nil {
		return fmt.Errorf("write %s: %w", metaPath(dir), err)
	}
	return syncDir(dir)
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d *Dir) raftDir() string { return filepath.Join(d.path, "raft") }

func (d *Dir) pidPath() string { return filepath.Join(d.path, "pid") }

func (d *Dir) openStores() error {
	if err := os.MkdirAll(d.raftDir(), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", d.raftDir(), err)
	}
	dbPath := filepath.Join(d.raftDir(), "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        dbPath,
		BoltOptions: &bbolt.Options{Timeout: d.opts.LockTimeout, NoFreelistSync: true},
		NoSync:      d.opts.NoSync,
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			holder := "unknown pid"
			if b, rerr := os.ReadFile(d.pidPath()); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = "pid " + strconv.Itoa(pid)
				}
			}
			return fmt.Errorf("%w (%s) after waiting %s for the lock on %s; stop the other haven agent for node %q or choose another data directory",
				ErrInUse, holder, d.opts.LockTimeout, dbPath, d.id.Node)
		}
		return fmt.Errorf("open raft store %s: %w", dbPath, err)
	}
	snaps, err := raft.NewFileSnapshotStore(d.raftDir(), d.opts.SnapshotRetain, d.opts.LogOutput)
	if err != nil {
		bolt.Close()
		return fmt.Errorf("open snapshot store in %s: %w", d.raftDir(), err)
	}
	// Diagnostics only: the lock is bbolt's flock, not this file.
	_ = os.WriteFile(d.pidPath(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	d.bolt, d.snaps = bolt, snaps
	return nil
}

// Path returns the data directory.
func (d *Dir) Path() string { return d.path }

// Identity returns the identity recorded in meta.json.
func (d *Dir) Identity() Identity { return d.id }

// LogStore returns the raft log store (nil after Close).
func (d *Dir) LogStore() raft.LogStore { return d.bolt }

// StableStore returns the raft stable store (the same bbolt file).
func (d *Dir) StableStore() raft.StableStore { return d.bolt }

// SnapshotStore returns the raft snapshot store.
func (d *Dir) SnapshotStore() raft.SnapshotStore { return d.snaps }

// HasState reports whether the directory holds any raft state (log, term or snapshot).
func (d *Dir) HasState() (bool, error) {
	if d.bolt == nil {
		return false, errors.New("data directory is closed")
	}
	return raft.HasExistingState(d.bolt, d.bolt, d.snaps)
}

// Wipe discards all raft state (log, term, vote, snapshots) and reopens empty
// stores, keeping the identity but marking it Joined so the node does not
// bootstrap again: it waits for the leader to add it and catches up from a
// snapshot. The caller must have shut down raft first. Used by divergent-log
// recovery (consensus) and by operators after a corrupted log.
func (d *Dir) Wipe() error {
	if err := d.closeStores(); err != nil {
		return err
	}
	if err := os.RemoveAll(d.raftDir()); err != nil {
		return fmt.Errorf("wipe raft state in %s: %w", d.raftDir(), err)
	}
	d.id.Joined = true
	if err := writeIdentity(d.path, d.id); err != nil {
		return err
	}
	return d.openStores()
}

// MarkBootstrapped records that this node has raft state belonging to a live
// cluster, so a later wipe of only the raft folder never re-bootstraps it.
func (d *Dir) MarkBootstrapped() error {
	if d.id.Joined {
		return nil
	}
	d.id.Joined = true
	return writeIdentity(d.path, d.id)
}

func (d *Dir) closeStores() error {
	var err error
	if d.bolt != nil {
		err = d.bolt.Close()
		d.bolt = nil
	}
	d.snaps = nil
	return err
}

// Close releases the stores and the lock. Safe to call twice.
func (d *Dir) Close() error {
	if d.bolt == nil {
		return nil
	}
	_ = os.Remove(d.pidPath())
	return d.closeStores()
}

// Rekey records a new cluster id (after the cluster key was changed on every
// node) in a stopped node's data directory, keeping its raft state. The
// directory must belong to the same cluster and node, and no agent may hold it.
// It backs an offline command such as `haven data rekey`.
func Rekey(path string, want Identity, lockTimeout time.Duration) error {
	have, err := ReadIdentity(path)
	if err != nil {
		return fmt.Errorf("rekey %s: %w", path, err)
	}
	if have.Cluster != want.Cluster || have.Node != want.Node {
		return fmt.Errorf("%w: %s belongs to cluster %q node %q, not cluster %q node %q; refusing to rekey it",
			ErrIdentity, path, have.Cluster, have.Node, want.Cluster, want.Node)
	}
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	// Take the lock the agent takes, so a running agent is not rekeyed under it.
	d := &Dir{path: path, opts: Options{LockTimeout: lockTimeout, SnapshotRetain: 2, LogOutput: io.Discard}, id: have}
	if err := d.openStores(); err != nil {
		return err
	}
	defer d.Close()
	have.ClusterID = want.ClusterID
	d.id = have
	return writeIdentity(path, have)
}
