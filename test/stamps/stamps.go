// Package stamps reads the event logs that test resource processes write
// about themselves — lines "start|stop|kill NS NODE PID [RESOURCE]" — into
// run intervals, so tests can prove from the processes' own clocks that a
// resource never ran on two nodes at once.
package stamps

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Interval is one run of one process: from its start stamp to its stop or
// kill stamp (Stop 0: none yet — running, or killed without a stamp).
type Interval struct {
	Resource, Node string
	PID            int
	Start, Stop    int64  // unix nanoseconds
	How            string // "stop" or "kill"; "" while open
}

// Read parses the log at path, in start order; a missing file is no runs.
// Lines of another shape are skipped (a process may be writing one).
func Read(path string) []Interval {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []Interval
	idx := map[int]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 4 && len(fl) != 5 {
			continue
		}
		ns, _ := strconv.ParseInt(fl[1], 10, 64)
		pid, _ := strconv.Atoi(fl[3])
		switch fl[0] {
		case "start":
			iv := Interval{Node: fl[2], PID: pid, Start: ns}
			if len(fl) == 5 {
				iv.Resource = fl[4]
			}
			idx[pid] = len(out)
			out = append(out, iv)
		case "stop", "kill":
			if i, ok := idx[pid]; ok && out[i].Stop == 0 {
				out[i].Stop, out[i].How = ns, fl[0]
				delete(idx, pid)
			}
		}
	}
	return out
}
