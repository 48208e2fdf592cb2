package main

// idle.go is `go run ./test/bench idle` (issue 7: an idle agent uses at
// most 30 MB resident and 0.5% of a core):
//
//	go run ./test/bench idle [-duration 60s] [-profiles lan,fast] [-json FILE] [-v] [-env 'K=V ...'] [-keep-logs DIR]
//
// For each profile, on a fresh test/netns bed, it starts the failover
// bench's cluster (three `haven agent`s, a `vip` and an `exec` web server,
// test/e2e's rig), waits until the page is served through the VIP, lets the
// cluster settle for 5 s, then samples for -duration, touching nothing: no
// prober, no holder watch, no API call until the last CPU reading. Per
// node it finds the agent (the process started in the node's namespace, its
// command line checked), the agent's guard (its child `haven guard`) and
// the resource processes (the agent's other children: the web server on
// the VIP's node), and reads from /proc:
//
//   - memory, every second: VmRSS, RssAnon, RssFile and VmHWM from
//     /proc/PID/status; Pss, Pss_Anon, Pss_File and Private_* from
//     /proc/PID/smaps_rollup (Pss splits a shared page among the processes
//     that map it: on the bed three agents and three guards map the same
//     binary file, on a real node an agent and its guard);
//   - CPU: the run time of every thread of the process in nanoseconds
//     (/proc/PID/task/*/schedstat; utime+stime of /proc/PID/stat, in clock
//     ticks of 10 ms, only when that is unreadable: a tick is a tenth of an
//     agent's 20 s at 0.5 %) at the start and end of three consecutive
//     windows of duration/3, divided by the window's wall time: % of one core;
//   - context switches of all the process's threads (/proc/PID/task/*/status),
//     a measure of wake-ups; packets on the node's eth0 (/proc/PID/net/dev
//     of the agent, i.e. its namespace's counters).
//
// Roles come from the API before and after the window (a change is
// reported): the raft leader (the coordinator, as most nodes' status names
// it) and the VIP's holder (the bed's address listing); the third node is
// the idle member. It prints a table per profile and writes everything to
// a JSON file. HAVEN_BIN=/path runs a prebuilt haven (recorded in the JSON).
//
// Diagnostics: -env adds environment variables to the agents (and so to
// their guards and resources), e.g. -env GODEBUG=gctrace=1 logs every GC
// with its heap sizes in the agent's log, -env GOMAXPROCS=1; -keep-logs DIR
// copies every node's agent log there.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/test/e2e"
	"github.com/havenha/haven/test/harness"
	"github.com/havenha/haven/test/netns"
)

// IdleProc is one process's figures over the window.
type IdleProc struct {
	Kind    string `json:"kind"` // agent, guard or resource
	PID     int    `json:"pid"`
	Comm    string `json:"comm"`
	Threads int    `json:"threads"`
	// Memory, kB: the median and the maximum of the per-second samples
	// (VmHWM is the kernel's peak RSS since the process started).
	RSSMedianKB  int `json:"rss_median_kb"`
	RSSMaxKB     int `json:"rss_max_kb"`
	RSSAnonKB    int `json:"rss_anon_kb"` // last sample
	RSSFileKB    int `json:"rss_file_kb"` // last sample
	HWMKB        int `json:"hwm_kb"`
	PSSMedianKB  int `json:"pss_median_kb"`
	PSSMaxKB     int `json:"pss_max_kb"`
	PSSAnonKB    int `json:"pss_anon_kb"` // last sample
	PSSFileKB    int `json:"pss_file_kb"` // last sample
	PrivateKB    int `json:"private_kb"`  // Private_Clean+Private_Dirty, last sample
	MemSamples   int `json:"mem_samples"`
	memRSS, memP []int
	// CPU, % of one core: per window, and over the whole duration.
	CPUWindows []float64 `json:"cpu_pct_windows"`
	CPUMin     float64   `json:"cpu_pct_min"`
	CPUMedian  float64   `json:"cpu_pct_median"`
	CPUMax     float64   `json:"cpu_pct_max"`
	CPUTotal   float64   `json:"cpu_pct_total"`
	// Context switches per second, all threads (voluntary + not).
	CtxPerSec float64 `json:"ctx_switches_per_s"`
	Err       string  `json:"error,omitempty"`

	first, last cpuSnap
}

// IdleNode is one node: its role and processes.
type IdleNode struct {
	Node  string      `json:"node"`
	Role  string      `json:"role"`
	Procs []*IdleProc `json:"procs"`
	// Packets per second on the namespace's eth0 over the duration.
	TxPPS float64 `json:"eth0_tx_pps"`
	RxPPS float64 `json:"eth0_rx_pps"`
	TxBps float64 `json:"eth0_tx_bytes_per_s"`
	RxBps float64 `json:"eth0_rx_bytes_per_s"`

	net0, net1 netSnap
}

// IdleRun is one profile's measurement.
type IdleRun struct {
	Profile     string      `json:"profile"`
	Started     time.Time   `json:"started"`
	DurationS   float64     `json:"duration_s"`
	Coordinator string      `json:"coordinator"`
	Holder      string      `json:"vip_holder"`
	RolesNote   string      `json:"roles_note,omitempty"`
	LoadBefore  string      `json:"loadavg_before"`
	LoadAfter   string      `json:"loadavg_after"`
	MachineBusy float64     `json:"machine_busy_pct"` // /proc/stat, all cores, over the duration
	Nodes       []*IdleNode `json:"nodes"`
	Err         string      `json:"error,omitempty"`
}

// IdleReport is the JSON file.
type IdleReport struct {
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Command    string    `json:"command"`
	Commit     string    `json:"commit"`
	GoVersion  string    `json:"go_version"`
	CPUs       int       `json:"cpus"`
	ClockTicks int       `json:"clock_ticks"`
	Env        []string  `json:"agent_env,omitempty"`
	// HavenBin is $HAVEN_BIN when set: the agents ran that binary, not
	// one built from Commit.
	HavenBin string `json:"haven_bin,omitempty"`
	// WakeCost calibrates the machine (measureWakeCost), before the bed
	// exists: agent CPU is mostly wake-ups, whose cost varies by machine.
	WakeCost *WakeCost  `json:"wake_cost,omitempty"`
	Note     string     `json:"note"`
	Runs     []*IdleRun `json:"runs"`
}

const idleNote = "per node: the agent, its guard (haven guard, the agent's child) and its resource processes (the web server); memory in MB (1 MB = 1024 kB) max of per-second samples; CPU % of one core per window of duration/3 (min/median/max) from the threads' run time in ns (/proc/PID/task/*/schedstat; utime+stime in clock ticks when unreadable); nothing probes the cluster during the window"

func idleMain(args []string) {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	duration := fs.Duration("duration", 60*time.Second, "sampling time (three windows of a third each)")
	profiles := fs.String("profiles", "lan,fast", "timing profiles, comma-separated")
	out := fs.String("json", "idle.json", "JSON output file")
	verbose := fs.Bool("v", false, "log the test bed's messages")
	envFlag := fs.String("env", "", "extra environment for the agents, space-separated KEY=VALUE (diagnostics, e.g. GODEBUG=gctrace=1 GOMAXPROCS=1)")
	keepLogs := fs.String("keep-logs", "", "copy every node's agent log into this directory")
	_ = fs.Parse(args)
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces)")
		os.Exit(1)
	}
	if *duration < 3*time.Second || *duration > time.Hour {
		fmt.Fprintln(os.Stderr, "bench: -duration must be between 3s and 1h")
		os.Exit(2)
	}
	for _, p := range split(*profiles) {
		if !slices.Contains([]string{"lan", "fast", "wan"}, p) {
			fmt.Fprintf(os.Stderr, "bench: unknown profile %q\n", p)
			os.Exit(2)
		}
	}
	env := strings.Fields(*envFlag)
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			fmt.Fprintf(os.Stderr, "bench: -env: %q is not KEY=VALUE\n", kv)
			os.Exit(2)
		}
	}
	if *keepLogs != "" {
		if err := os.MkdirAll(*keepLogs, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}

	setup := newTB("setup", *verbose)
	defer setup.runCleanups()
	var serverBin string
	if why := run(setup, func() {
		harness.Binary(setup)
		serverBin = buildServer(setup)
	}); why != "" {
		fmt.Fprintln(os.Stderr, "bench: setup:", why)
		os.Exit(1)
	}

	rep := IdleReport{
		Started: time.Now(), Command: "go run ./test/bench idle " + strings.Join(args, " "),
		Commit: gitCommit(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		ClockTicks: clockTicks(), Env: env, HavenBin: os.Getenv("HAVEN_BIN"), Note: idleNote,
	}
	fmt.Println("note:", idleNote)
	if w, err := measureWakeCost(100, 2*time.Second); err != nil {
		fmt.Println("machine: wake-up cost not measured:", err)
	} else {
		rep.WakeCost = &w
		fmt.Println("machine:", w)
	}
	for _, prof := range split(*profiles) {
		r := idleRun(prof, *duration, serverBin, *verbose, env, *keepLogs, rep.ClockTicks)
		rep.Runs = append(rep.Runs, r)
		printIdle(r)
	}
	rep.Finished = time.Now()
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println("\nwrote", *out)
}

// idleRun measures one profile on a fresh bed.
func idleRun(prof string, d time.Duration, serverBin string, verbose bool, env []string, keepLogs string, hz int) (r *IdleRun) {
	r = &IdleRun{Profile: prof}
	t := newTB("idle/"+prof, verbose)
	defer t.runCleanups()
	if why := run(t, func() { idleMeasure(t, r, d, serverBin, env, keepLogs, hz) }); why != "" && r.Err == "" {
		r.Err = why
	}
	return r
}

func idleMeasure(t *tb, r *IdleRun, d time.Duration, serverBin string, env []string, keepLogs string, hz int) {
	const wait = 60 * time.Second
	rig := e2e.New(t, e2e.Options{Profile: r.Profile, ServerBin: serverBin})
	// rig.StartAll, with the environment: the bed starts the node's
	// argv with `ip netns exec`, which execs it, and sh execs haven, so
	// the process keeps its PID.
	agents := map[string]int{}
	for _, n := range rig.Bed.Nodes() {
		p := rig.Bed.StartEnv(n, env, rig.C.Node(n).ShellArgv(rig.C.ConfigPath)...)
		agents[n] = p.PID()
	}
	if keepLogs != "" {
		t.Cleanup(func() {
			for _, n := range rig.Bed.Nodes() {
				_ = os.WriteFile(filepath.Join(keepLogs, r.Profile+"-"+n+".log"), []byte(rig.C.Node(n).Log()), 0o644)
			}
		})
	}
	if _, err := rig.WaitServing(wait); err != nil {
		t.Fatalf("initial service: %v", err)
	}
	time.Sleep(5 * time.Second)
	holder, err := rig.WaitServing(wait)
	if err != nil {
		t.Fatalf("service after settling: %v", err)
	}
	coord := leader(rig)

	// Find the processes: the agent (argv checked), its children.
	for _, n := range rig.Bed.Nodes() {
		pid := agents[n]
		argv := cmdline(pid)
		sock := rig.C.Node(n).Socket
		if len(argv) < 2 || argv[1] != "agent" || !slices.Contains(argv, sock) {
			t.Fatalf("%s: process %d is not the agent: %q", n, pid, argv)
		}
		node := &IdleNode{Node: n}
		node.Procs = append(node.Procs, &IdleProc{Kind: "agent", PID: pid})
		kids := children(pid)
		for _, c := range kids {
			kind := "resource"
			if a := cmdline(c); len(a) > 1 && a[1] == "guard" {
				kind = "guard"
			}
			node.Procs = append(node.Procs, &IdleProc{Kind: kind, PID: c})
		}
		sort.SliceStable(node.Procs, func(i, j int) bool { return kindRank(node.Procs[i].Kind) < kindRank(node.Procs[j].Kind) })
		if !slices.ContainsFunc(node.Procs, func(p *IdleProc) bool { return p.Kind == "guard" }) {
			t.Logf("%s: no guard among the agent's children %v", n, kids)
		}
		for _, p := range node.Procs {
			p.Comm = comm(p.PID)
		}
		r.Nodes = append(r.Nodes, node)
	}

	var pids []string
	for _, nd := range r.Nodes {
		for _, p := range nd.Procs {
			pids = append(pids, fmt.Sprintf("%s %s=%d", nd.Node, p.Kind, p.PID))
		}
	}
	fmt.Printf("%s: coordinator %s, VIP on %s; sampling %v from %s UTC: %s\n", r.Profile, coord, holder, d, time.Now().UTC().Format("15:04:05"), strings.Join(pids, ", "))

	// The window: nothing but /proc reads from here to the last snapshot.
	r.Started = time.Now()
	r.LoadBefore = loadavg()
	busy0 := machineBusy()
	for _, nd := range r.Nodes {
		nd.net0, _ = readNetDev(nd.Procs[0].PID)
		for _, p := range nd.Procs {
			p.first, _ = snapCPU(p.PID)
			p.last = p.first
		}
	}
	win := d / 3
	start := time.Now()
	for w := 1; w <= 3; w++ {
		end := start.Add(time.Duration(w) * win)
		for i := 0; i < int(win/time.Second)+2 && time.Until(end) > 0; i++ {
			sampleMem(r)
			time.Sleep(min(time.Second, time.Until(end)))
		}
		for _, nd := range r.Nodes {
			for _, p := range nd.Procs {
				s, err := snapCPU(p.PID)
				if err != nil {
					if p.Err == "" {
						p.Err = err.Error()
					}
					continue
				}
				p.CPUWindows = append(p.CPUWindows, s.pct(p.last, hz))
				p.last = s
			}
		}
	}
	for _, nd := range r.Nodes {
		nd.net1, _ = readNetDev(nd.Procs[0].PID)
	}
	busy1 := machineBusy()
	r.LoadAfter = loadavg()
	r.DurationS = time.Since(start).Seconds()
	r.MachineBusy = busy1.pct(busy0)

	// Roles, now that the window is over.
	coord2 := leader(rig)
	holder2 := ""
	if hs, err := rig.Holders(); err == nil && len(hs) == 1 {
		holder2 = hs[0]
	}
	r.Coordinator, r.Holder = coord2, holder2
	if coord2 != coord || holder2 != holder {
		r.RolesNote = fmt.Sprintf("roles changed during the window: coordinator %s → %s, VIP %s → %s", coord, coord2, holder, holder2)
	}
	for _, nd := range r.Nodes {
		nd.Role = role(nd.Node, r.Coordinator, r.Holder)
		dt := nd.net1.at.Sub(nd.net0.at).Seconds()
		if dt > 0 {
			nd.TxPPS = float64(nd.net1.txPkts-nd.net0.txPkts) / dt
			nd.RxPPS = float64(nd.net1.rxPkts-nd.net0.rxPkts) / dt
			nd.TxBps = float64(nd.net1.txBytes-nd.net0.txBytes) / dt
			nd.RxBps = float64(nd.net1.rxBytes-nd.net0.rxBytes) / dt
		}
		for _, p := range nd.Procs {
			finish(p, hz)
		}
	}
	sort.SliceStable(r.Nodes, func(i, j int) bool { return roleRank(r.Nodes[i].Role) < roleRank(r.Nodes[j].Role) })
}

func kindRank(k string) int { return slices.Index([]string{"agent", "guard", "resource"}, k) }

func role(n, coord, holder string) string {
	switch {
	case n == coord && n == holder:
		return "coordinator+VIP"
	case n == coord:
		return "coordinator"
	case n == holder:
		return "VIP holder"
	}
	return "idle member"
}

func roleRank(r string) int {
	return slices.Index([]string{"coordinator+VIP", "coordinator", "VIP holder", "idle member"}, r)
}

// leader is the raft leader as the nodes report it: the one most of them
// name ("" when none answers).
func leader(rig *e2e.Rig) string {
	votes := map[string]int{}
	best := ""
	for _, n := range rig.Bed.Nodes() {
		st, err := rig.Status(n)
		if err != nil || st.Leader == "" {
			continue
		}
		votes[st.Leader]++
		if votes[st.Leader] > votes[best] {
			best = st.Leader
		}
	}
	return best
}

// finish computes a process's summary figures.
func finish(p *IdleProc, hz int) {
	if len(p.CPUWindows) > 0 {
		v := slices.Clone(p.CPUWindows)
		sort.Float64s(v)
		p.CPUMin, p.CPUMax, p.CPUMedian = v[0], v[len(v)-1], quantile(v, 0.5)
	}
	if dt := p.last.at.Sub(p.first.at).Seconds(); dt > 0 {
		p.CPUTotal = p.last.pct(p.first, hz)
		p.CtxPerSec = float64(p.last.ctx-p.first.ctx) / dt
	}
	p.MemSamples = len(p.memRSS)
	p.RSSMedianKB, p.RSSMaxKB = medMax(p.memRSS)
	p.PSSMedianKB, p.PSSMaxKB = medMax(p.memP)
}

func medMax(v []int) (int, int) {
	if len(v) == 0 {
		return 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// sampleMem reads every process's memory once.
func sampleMem(r *IdleRun) {
	for _, nd := range r.Nodes {
		for _, p := range nd.Procs {
			st, err := readKV("/proc/" + strconv.Itoa(p.PID) + "/status")
			if err != nil {
				if p.Err == "" {
					p.Err = err.Error()
				}
				continue
			}
			sm, err := readKV("/proc/" + strconv.Itoa(p.PID) + "/smaps_rollup")
			if err != nil {
				if p.Err == "" {
					p.Err = err.Error()
				}
				continue
			}
			p.memRSS = append(p.memRSS, st["VmRSS"])
			p.memP = append(p.memP, sm["Pss"])
			p.RSSAnonKB, p.RSSFileKB, p.HWMKB, p.Threads = st["RssAnon"], st["RssFile"], st["VmHWM"], st["Threads"]
			p.PSSAnonKB, p.PSSFileKB = sm["Pss_Anon"], sm["Pss_File"]
			p.PrivateKB = sm["Private_Clean"] + sm["Private_Dirty"]
		}
	}
}

// readKV reads "Key:   123 kB" lines into kB (or plain numbers).
func readKV(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		if n, err := strconv.Atoi(fs[0]); err == nil {
			m[k] = n
		}
	}
	return m, sc.Err()
}

// cpuSnap is a process's CPU time (clock ticks, all threads) and context
// switches at an instant.
type cpuSnap struct {
	at    time.Time
	ticks uint64
	ns    uint64 // the threads' run time in nanoseconds (schedstat), 0 if unreadable
	ctx   uint64
}

// pct is the CPU used between prev and s, % of one core: from the threads'
// nanosecond run times when both snapshots have them (utime+stime comes in
// clock ticks of 10 ms, a tenth of the whole reading for an agent at 0.5 %
// over 20 s), else from the ticks.
func (s cpuSnap) pct(prev cpuSnap, hz int) float64 {
	dt := s.at.Sub(prev.at).Seconds()
	if dt <= 0 || hz <= 0 {
		return 0
	}
	if s.ns > 0 && prev.ns > 0 && s.ns >= prev.ns {
		return 100 * float64(s.ns-prev.ns) / 1e9 / dt
	}
	return 100 * float64(s.ticks-prev.ticks) / float64(hz) / dt
}

func snapCPU(pid int) (cpuSnap, error) {
	s := cpuSnap{at: time.Now()}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	str := string(b)
	i := strings.LastIndexByte(str, ')')
	if i < 0 || i+2 >= len(str) {
		return s, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, str)
	}
	f := strings.Fields(str[i+2:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 || f[0] == "Z" {
		return s, fmt.Errorf("process %d is gone", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, err
	}
	s.ticks = ut + st
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, t := range tasks {
		dir := "/proc/" + strconv.Itoa(pid) + "/task/" + t.Name()
		kv, err := readKV(dir + "/status")
		if err == nil {
			s.ctx += uint64(kv["voluntary_ctxt_switches"] + kv["nonvoluntary_ctxt_switches"])
		}
		// schedstat's first field: time on the CPU, ns (a thread that exits
		// takes its share with it; an agent's threads live as long as it).
		if b, err := os.ReadFile(dir + "/schedstat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				if v, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					s.ns += v
				}
			}
		}
	}
	return s, nil
}

// netSnap is eth0's counters in a process's network namespace.
type netSnap struct {
	at                               time.Time
	rxBytes, rxPkts, txBytes, txPkts uint64
}

func readNetDev(pid int) (netSnap, error) {
	s := netSnap{at: time.Now()}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != netns.Dev {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 10 {
			break
		}
		s.rxBytes, _ = strconv.ParseUint(f[0], 10, 64)
		s.rxPkts, _ = strconv.ParseUint(f[1], 10, 64)
		s.txBytes, _ = strconv.ParseUint(f[8], 10, 64)
		s.txPkts, _ = strconv.ParseUint(f[9], 10, 64)
		return s, nil
	}
	return s, fmt.Errorf("no %s in /proc/%d/net/dev", netns.Dev, pid)
}

// machineSnap is /proc/stat's first line: busy and total ticks, all CPUs.
type machineSnap struct{ busy, total uint64 }

func (s machineSnap) pct(prev machineSnap) float64 {
	if s.total <= prev.total {
		return 0
	}
	return 100 * float64(s.busy-prev.busy) / float64(s.total-prev.total)
}

func machineBusy() machineSnap {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineSnap{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var s machineSnap
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	return s
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// children lists the processes whose parent is pid, by /proc.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		kv, err := readKV("/proc/" + e.Name() + "/status")
		if err == nil && kv["PPid"] == pid {
			out = append(out, c)
		}
	}
	sort.Ints(out)
	return out
}

func clockTicks() int {
	if b, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return 100 // USER_HZ on every Linux architecture haven targets
}

func gitCommit() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += "+dirty"
	}
	return s
}

func mb(kb int) float64 { return float64(kb) / 1024 }

func printIdle(r *IdleRun) {
	fmt.Printf("\nprofile %s: coordinator %s, VIP on %s; %.0f s; load average %s → %s; machine busy %.0f%% of %d cores\n",
		r.Profile, r.Coordinator, r.Holder, r.DurationS, r.LoadBefore, r.LoadAfter, r.MachineBusy, runtime.NumCPU())
	if r.RolesNote != "" {
		fmt.Println("  " + r.RolesNote)
	}
	if r.Err != "" {
		fmt.Println("  ERROR", r.Err)
	}
	fmt.Printf("%-16s %-4s %-9s %6s %7s %7s %7s %7s %-20s %6s %7s %11s\n",
		"role", "node", "process", "pid", "RSS", "PSS", "PSSanon", "PSSfile", "CPU% min/med/max", "total", "ctxsw/s", "eth0 pkt/s")
	for _, nd := range r.Nodes {
		for i, p := range nd.Procs {
			rl, nn, pk := "", "", ""
			if i == 0 {
				rl, nn = nd.Role, nd.Node
				pk = fmt.Sprintf("%.0f/%.0f", nd.TxPPS, nd.RxPPS)
			}
			name := p.Kind
			if p.Kind == "resource" {
				name = p.Comm
			}
			cpu := fmt.Sprintf("%.2f/%.2f/%.2f", p.CPUMin, p.CPUMedian, p.CPUMax)
			fmt.Printf("%-16s %-4s %-9s %6d %6.1fM %6.1fM %6.1fM %6.1fM %-20s %6.2f %7.0f %11s",
				rl, nn, name, p.PID, mb(p.RSSMaxKB), mb(p.PSSMaxKB), mb(p.PSSAnonKB), mb(p.PSSFileKB), cpu, p.CPUTotal, p.CtxPerSec, pk)
			if p.Err != "" {
				fmt.Printf("  (%s)", p.Err)
			}
			fmt.Println()
		}
	}
}
