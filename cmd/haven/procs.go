package main

import (
	"os"
	"runtime"
)

// oneProc runs the agent (and its guard and the witness) on one Go
// processor unless the GOMAXPROCS environment variable says otherwise. An
// agent's work is small bursts on timers and datagrams — a probe, a
// renewal, a heartbeat — and with more than one processor the Go scheduler
// wakes a second thread to look for work after nearly every one of them
// (on a many-core host, more): on two cores that is twice the context
// switches and a third more CPU on the idle bench (docs/bench/idle.md).
// One processor still preempts a long computation every 10 ms, and
// blocking system calls hand it over as usual. Corosync and keepalived are
// single-threaded event loops for the same reason. GOMAXPROCS=N in the
// unit's environment restores N.
func oneProc() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
