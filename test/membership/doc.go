// Package membership holds haven's multi-process membership tests: real
// `haven agent` processes on loopback (test/harness), killed and restarted
// by PID, checked through their quorum API; and the failure-detection
// benchmark (BenchmarkDetection, see docs/bench/membership.md).
package membership
