// Package examples holds haven's example configurations, one per seed
// scenario plus a local three-node cluster on loopback, and embeds the local
// one so `haven demo` runs without any file on disk.
package examples

import "embed"

// Local3 holds local3.yaml and the demo key it names, for `haven demo`.
//
//go:embed local3.yaml demo.key
var Local3 embed.FS
