// Package cluster holds haven's multi-process tests of the replicated state:
// real `haven agent` and `haven witness` processes on loopback
// (test/harness), each with its own configuration file and data directory,
// driven through the CLI and the API: bootstrap with no manual step, config
// apply under a leader crash, whole-cluster restart, a wiped node catching
// up, two nodes plus a witness, concurrent applies, a node without the key,
// and changes that cannot happen live. `go test -short` skips them.
package cluster
