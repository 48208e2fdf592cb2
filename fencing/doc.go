// Package fencing owns fence devices (IPMI over lanplus, fence-agents
// compatible programs, docker for the demo, a watchdog), fencing levels,
// verification of each result and the fencing history.
package fencing
