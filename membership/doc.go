// Package membership owns who is alive: hashicorp/memberlist wiring with the
// cluster key, node metadata (votes, role, raft and API addresses, version),
// failure-detection timing profiles and redundant links. It feeds the live
// members to engine/quorum's votequorum calculator, which says whether this
// partition may act.
package membership
