// Package resources holds multi-process tests of haven running resources:
// real `haven agent` processes (test/harness) with `exec` resources whose
// processes stamp their own start and stop times, node and pid into a
// shared events file. The scenarios are test/inproc's, with real processes,
// the real API (lease renewals over TCP with the token) and the real CLI.
//
// Every resource script ends by itself once the test process is gone, and
// the harness kills the process groups recorded in the agents' pid files at
// cleanup, so no resource process outlives a test.
package resources
