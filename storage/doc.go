// Package storage owns everything haven keeps on disk: the data directory
// layout and its identity, the raft-boltdb/v2 log and stable store, raft
// snapshots, and the backing stores of iSCSI LUNs.
//
// A node's data directory (default /var/lib/haven/NODE) looks like this:
//
//	meta.json          identity: cluster name, node name, cluster id, format version
//	pid                the pid of the process holding the directory (diagnostics only)
//	raft/raft.db       bbolt file: raft log and stable store (term, vote)
//	raft/snapshots/    raft.FileSnapshotStore (the newest two are retained)
//
// Open checks the identity before touching raft state, so a directory copied
// from another node or cluster is refused with both identities named instead of
// silently joining the wrong cluster. The bbolt file lock is the process lock:
// a second opener fails after LockTimeout with ErrInUse rather than blocking.
package storage
