// Package config reads haven's one configuration file: a strict YAML decode
// into engine/model types that records where each item was written, then
// defaults and validation that report every problem at once, each as
// FILE:LINE:COL: what is wrong; what is expected. It also renders a JSON
// Schema of the file for editors.
//
// How it works: yaml.v3 parses the text into a yaml.Node tree (one document
// only); a reflective walker (decode.go) fills the model structs by their
// yaml tags, checking unknown keys (with the nearest known key as a hint),
// duplicate keys, types, durations, scores and `enum` tags, and records the
// position of every value and key. Anchors, aliases and merge keys are
// followed under a budget of YAML nodes, so an alias bomb or a self-
// referencing alias is an error, not a hang. The validator (validate*.go,
// graph.go) then checks what needs the whole file: required fields, the
// shared id namespace, references, groups and clones, order cycles and
// impossible colocations, addresses and ports, quorum settings, timing, and
// each resource type's own params validator (Options.Types).
//
// Nothing is accepted that the binary cannot carry out (runnable.go): a
// resource or fencing device type that the registries in Options do not
// resolve is an error naming why (the iSCSI target and fencing devices are
// not built yet), stonith needs a usable fencing device for every member
// node, and settings that no node implements (optional and serialize orders,
// symmetrical: false, clone node_max above 1, a failed stop's on_fail other
// than block or standby) are refused. The schema advertises the same.
//
// Decisions worth knowing (docs/configuration.md has the full reference):
//   - a location or colocation without a score gets INFINITY, as in pcs;
//   - enum values match in any case and are stored in canonical spelling;
//   - a validation error at the exact position of a decode error is not
//     repeated, so one mistake is reported once;
//   - Parse recovers from a panic and reports it as an error; FuzzParse
//     exercises the inner parse without that net.
package config
