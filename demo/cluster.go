package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
)

// demoCluster is the demo's three agents: processes this command started and
// stops, each with its own data directory, socket and log in dir.
type demoCluster struct {
	bin, cfg, dir string
	names         []string
	procs         map[string]*exec.Cmd
	crashed       map[string]bool
}

func newDemoCluster(bin, cfg, dir string, names []string) *demoCluster {
	return &demoCluster{bin: bin, cfg: cfg, dir: dir, names: names,
		procs: map[string]*exec.Cmd{}, crashed: map[string]bool{}}
}

func (d *demoCluster) dataDir(n string) string { return filepath.Join(d.dir, n) }
func (d *demoCluster) socket(n string) string  { return filepath.Join(d.dir, n+".sock") }
func (d *demoCluster) logPath(n string) string { return filepath.Join(d.dir, n+".log") }

func (d *demoCluster) start() error {
	for _, n := range d.names {
		logf, err := os.Create(d.logPath(n))
		if err != nil {
			return fmt.Errorf("create the log of %s: %w", n, err)
		}
		cmd := exec.Command(d.bin, "agent", "-c", d.cfg, "--node", n,
			"--data-dir", d.dataDir(n), "--socket", d.socket(n))
		cmd.Stdout, cmd.Stderr = logf, logf
		// Own process group: a Ctrl-C on the demo reaches the demo, which
		// then stops the agents in order.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("start the agent of %s: %w", n, err)
		}
		logf.Close() // the child holds its own descriptor
		d.procs[n] = cmd
	}
	return nil
}

// demoState is what the demo shows of the cluster.
type demoState struct {
	view  api.StatusView
	node  string // where the web resource runs
	stamp string // what the web resource last wrote
}

// waitWeb polls the surviving agents until the web resource is started on a
// node other than avoid, and returns that view.
func (d *demoCluster) waitWeb(ctx context.Context, avoid string, limit time.Duration) (demoState, error) {
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		for _, n := range d.names {
			if d.crashed[n] {
				continue
			}
			if d.procs[n].ProcessState != nil {
				return demoState{}, fmt.Errorf("the agent of %s exited; its log %s ends with:\n%s", n, d.logPath(n), tail(d.logPath(n), 15))
			}
			c, cancel := context.WithTimeout(ctx, time.Second)
			v, err := client.Unix(d.socket(n)).Status(c)
			cancel()
			if err != nil {
				last = err.Error()
				continue
			}
			if node, ok := demoSettled(v, avoid, len(d.names)-len(d.crashed)); ok {
				return demoState{view: v, node: node, stamp: waitStamp(node, 5*time.Second)}, nil
			}
			last = "web is not started yet"
		}
		select {
		case <-ctx.Done():
			return demoState{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return demoState{}, fmt.Errorf("the web group did not start within %s (%s); logs are in %s", limit, last, d.dir)
}

// waitGone polls a surviving agent until its status shows node offline,
// and returns that view; false after limit.
func (d *demoCluster) waitGone(ctx context.Context, node string, limit time.Duration) (api.StatusView, bool) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, n := range d.names {
			if d.crashed[n] {
				continue
			}
			c, cancel := context.WithTimeout(ctx, time.Second)
			v, err := client.Unix(d.socket(n)).Status(c)
			cancel()
			if err != nil {
				continue
			}
			for _, nv := range v.Nodes {
				if nv.Name == node && nv.State == "offline" {
					return v, true
				}
			}
		}
		select {
		case <-ctx.Done():
			return api.StatusView{}, false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return api.StatusView{}, false
}

// demoSettled reports where web runs once it is started off avoid and the
// heartbeat clone runs on every live node.
func demoSettled(v api.StatusView, avoid string, live int) (string, bool) {
	web, clones := "", 0
	for _, r := range v.Resources {
		switch r.ID {
		case "web":
			if r.State == "started" && r.Node != avoid {
				web = r.Node
			}
		case "heartbeat":
			clones = len(r.Nodes)
		}
	}
	return web, web != "" && clones >= live
}

// waitStamp waits until the web resource's own stamp names node (it writes
// it every second), and returns the stamp, or what it says after limit.
func waitStamp(node string, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		b, _ := os.ReadFile("/tmp/haven-local3/web.stamp")
		s := strings.TrimSpace(string(b))
		if strings.HasSuffix(s, "served by "+node) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func printDemoStatus(out io.Writer, st demoState) {
	v := st.view
	fmt.Fprintf(out, "coordinator (raft leader): %s   config version: %d   quorum: %d of %d votes, quorate %v\n",
		v.Leader, v.ConfigVersion, v.Quorum.TotalVotes, v.Quorum.ExpectedVotes, v.Quorum.Quorate)
	for _, r := range v.Resources {
		where := strings.Join(r.Nodes, " ")
		if where == "" {
			where = r.Node
		}
		fmt.Fprintf(out, "  %-14s %-6s %-8s %s\n", r.ID, r.Type, r.State, where)
	}
	if st.stamp != "" {
		fmt.Fprintf(out, "web's own stamp (/tmp/haven-local3/web.stamp): %s\n", st.stamp)
	}
}

// crash SIGKILLs a node's agent. Its guard (engine/guard) then kills the
// resource processes the agent started, as a power loss would stop them.
func (d *demoCluster) crash(n string) {
	if p := d.procs[n]; p != nil && p.Process != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	d.crashed[n] = true
}

// shutdown stops every agent still running (SIGTERM, then SIGKILL after a
// grace period) and then any resource process left (a safety net: a
// graceful stop or the guard normally stops them).
func (d *demoCluster) shutdown(out io.Writer) {
	for _, n := range d.names {
		if p := d.procs[n]; p != nil && p.Process != nil && p.ProcessState == nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, n := range d.names {
		p := d.procs[n]
		if p == nil || p.Process == nil || p.ProcessState != nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			fmt.Fprintf(out, "agent of %s did not stop within 10s; killing it\n", n)
			_ = p.Process.Kill()
			<-done
		}
	}
	for _, n := range d.names {
		killResourceGroups(d.dataDir(n))
	}
}

// killResourceGroups SIGKILLs the process group of every exec resource
// recorded under dataDir/resources/*/exec.pid that still runs as recorded
// (same pid, same start time, its own group leader: never a reused pid).
func killResourceGroups(dataDir string) {
	files, _ := filepath.Glob(filepath.Join(dataDir, "resources", "*", "exec.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var rec struct {
			PID       int    `json:"pid"`
			StartTime uint64 `json:"start_time"`
		}
		if json.Unmarshal(b, &rec) != nil || rec.PID <= 1 {
			continue
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(rec.PID) + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			continue
		}
		fields := strings.Fields(s[i+2:])
		if len(fields) < 20 {
			continue
		}
		pgrp, _ := strconv.Atoi(fields[2])
		start, _ := strconv.ParseUint(fields[19], 10, 64)
		if pgrp == rec.PID && start == rec.StartTime {
			_ = syscall.Kill(-rec.PID, syscall.SIGKILL)
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Live starts the three agents of the example in cfg as processes of bin
// (logs and data under dir), waits until the web group runs, crashes the
// node running it (SIGKILL of its agent; its guard kills what it ran, as a
// power loss would) and prints the failover: the time until the group runs
// elsewhere, then when gossip declared the node dead. It stops every
// process it started before it returns.
func Live(ctx context.Context, out io.Writer, bin, cfg, dir string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cl := newDemoCluster(bin, cfg, dir, []string{"n1", "n2", "n3"})
	defer cl.shutdown(out)

	fmt.Fprintf(out, "\n=== 3. Live: starting n1, n2, n3 as 'haven agent' processes (logs in %s) ===\n\n", dir)
	if err := cl.start(); err != nil {
		return err
	}
	st, err := cl.waitWeb(ctx, "", 60*time.Second)
	if err != nil {
		return err
	}
	victim := st.node
	printDemoStatus(out, st)

	fmt.Fprintf(out, "\n=== 4. Crash of %s: its agent is SIGKILLed; its guard kills the processes it ran (power loss) ===\n\n", victim)
	t0 := time.Now()
	cl.crash(victim)
	st, err = cl.waitWeb(ctx, victim, 60*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "web group running again on %s, %.2f s after the crash of %s\n", st.node, time.Since(t0).Seconds(), victim)
	// Failover waits for the lease, not for gossip's failure detector,
	// which declares the node dead a little later: show both.
	if v, ok := cl.waitGone(ctx, victim, 15*time.Second); ok {
		st.view = v
		fmt.Fprintf(out, "gossip declared %s dead %.2f s after the crash (failover does not wait for it: the lease decides)\n", victim, time.Since(t0).Seconds())
	}
	fmt.Fprintln(out)
	printDemoStatus(out, st)
	return nil
}
