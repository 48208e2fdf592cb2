// Package config reads haven's one configuration file: a strict YAML decode
// into engine/model types that records where each item was written, then
// defaults and validation that report every problem at once, each as
// FILE:LINE:COL: what is wrong; what is expected. It also renders a JSON
// Schema of the file for editors.
package config
