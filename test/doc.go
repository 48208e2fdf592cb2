// Package test holds haven's end-to-end machinery: the multi-process cluster
// harness, network-namespace topologies, scenario tests, benchmark drivers
// and the docker compose demo.
package test
