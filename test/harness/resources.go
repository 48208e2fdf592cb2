package harness

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ResourceProcess is an exec resource process an agent started, as its pid
// file (DATA_DIR/resources/INSTANCE/exec.pid) records it.
type ResourceProcess struct {
	Node     string
	Instance string
	PID      int
}

// ResourceProcesses lists the exec resource processes recorded in the
// node's data directory that still run (same pid and start time as
// recorded, so a reused pid is never taken for one).
func (n *Node) ResourceProcesses() []ResourceProcess {
	var out []ResourceProcess
	_ = filepath.WalkDir(n.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "exec.pid" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		var rec struct {
			PID       int    `json:"pid"`
			StartTime uint64 `json:"start_time"`
		}
		if json.Unmarshal(b, &rec) != nil || rec.PID <= 1 {
			return nil
		}
		st, pgrp, ok := procStart(rec.PID)
		if !ok || st != rec.StartTime || pgrp != rec.PID {
			return nil
		}
		out = append(out, ResourceProcess{Node: n.Name, Instance: filepath.Base(filepath.Dir(p)), PID: rec.PID})
		return nil
	})
	return out
}

// KillResources SIGKILLs the process group of every exec resource process
// the node's agent started and that still runs (cleanup: an agent started
// with --guard=false leaves them running when it is killed).
func (n *Node) KillResources() {
	for _, rp := range n.ResourceProcesses() {
		_ = syscall.Kill(-rp.PID, syscall.SIGKILL)
	}
}

// KillAllResources kills every node's resource processes (cleanup; the
// agents should be stopped first, or they restart them).
func (c *Cluster) KillAllResources() {
	for _, n := range c.Nodes {
		n.KillResources()
	}
}

// procStart returns a process's start time (/proc/PID/stat field 22) and
// process group, ok false when it is gone or a zombie.
func procStart(pid int) (start uint64, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 20 || f[0] == "Z" {
		return 0, 0, false
	}
	pg, err1 := strconv.Atoi(f[2])
	st, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return st, pg, true
}
