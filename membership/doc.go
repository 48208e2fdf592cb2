// Package membership owns who is alive: hashicorp/memberlist wiring with the
// cluster key, node metadata (votes, role, raft and API addresses, version),
// failure-detection timing profiles, redundant links, and the votequorum
// calculator that says whether this partition may act.
package membership
