// Package storage owns everything haven keeps on disk: the data directory
// layout and its identity, the raft-boltdb/v2 log and stable store, raft
// snapshots, and the backing stores of iSCSI LUNs.
package storage
