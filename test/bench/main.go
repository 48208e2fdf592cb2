// Command bench is haven's failover benchmark (issue 7):
//
//	go run ./test/bench failover [-trials 10] [-profiles lan,fast] [-scenarios crash,cut,silent,planned] [-json FILE]
//
// Every trial builds a fresh test/netns bed (three node namespaces, a
// client namespace, a bridge, no route out), starts one `haven agent` per
// node namespace with a `vip` resource and an `exec` web server colocated
// with it and ordered after it (the cluster of test/e2e), waits until the
// page is served through the VIP and the cluster has settled, and applies
// the scenario's fault to the node holding the VIP:
//
//   - crash: SIGKILL its agent (its process group: not its guard nor its
//     resources). The agent's guard (engine/guard) kills that node's web
//     server and deletes its VIP; the benchmark touches nothing else.
//   - cut: nftables drops everything on its link, both ways (netns.Cut).
//   - silent: its switch port is detached from the bridge, carrier up
//     (netns.SilentPartition).
//   - planned: `haven resource move ip NODE` to another node, through that
//     node's socket (the server follows the VIP by its colocation).
//
// The client namespace probes the VIP with TCP connections every 5 ms
// (netns.ProbeTCP), each an HTTP GET answered with the serving node's
// name; a trial's figure is the time from the fault to the end of the first
// successful exchange that started after the fault and was answered by
// another node. The fault comes after a random pause of up to half a
// lease, so it lands at any phase of the lease rounds. Every trial also gives a cold-start figure: from starting
// the three agents at once to the first page served through the VIP. A
// holder watch samples every node's addresses every 2 ms throughout and
// counts instants with two holders of the VIP.
//
// It prints min/median/p95/max per scenario and profile and writes every
// trial to a JSON file. Needs root, iproute2, nftables and the Go
// toolchain (it builds haven and the web server).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/test/e2e"
	"github.com/havenha/haven/test/harness"
	"github.com/havenha/haven/test/netns"
)

// Trial is one trial's outcome.
type Trial struct {
	Profile  string `json:"profile"`
	Scenario string `json:"scenario"`
	N        int    `json:"n"`
	// ColdStartMS: agents started → first page through the VIP.
	ColdStartMS float64 `json:"cold_start_ms"`
	// FailoverMS: fault → first page from another node (0 when Err).
	FailoverMS float64 `json:"failover_ms"`
	From       string  `json:"from"`
	To         string  `json:"to"`
	// Coordinator is the raft leader before the fault, as the holder's
	// agent reported it (when the holder also coordinates, the fault costs
	// an election too).
	Coordinator string `json:"coordinator"`
	// CommandMS (planned): how long `haven resource move` took to return,
	// process start included; part of FailoverMS.
	CommandMS float64 `json:"command_ms,omitempty"`
	// TwoHolders counts sampled instants with two nodes holding the VIP.
	TwoHolders int    `json:"two_holders"`
	Samples    int    `json:"holder_samples"`
	Err        string `json:"error,omitempty"`
}

// Summary is one scenario and profile's figures, in milliseconds.
type Summary struct {
	Profile    string  `json:"profile"`
	Scenario   string  `json:"scenario"`
	Trials     int     `json:"trials"`
	OK         int     `json:"ok"`
	Min        float64 `json:"min_ms"`
	Median     float64 `json:"median_ms"`
	P95        float64 `json:"p95_ms"`
	Max        float64 `json:"max_ms"`
	TwoHolders int     `json:"trials_with_two_holders"`
}

// Report is the JSON file.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Command  string    `json:"command"`
	Note     string    `json:"note"`
	Trials   []Trial   `json:"trials"`
	Summary  []Summary `json:"summary"`
}

const note = "crash: SIGKILL of the holder's agent only; its guard kills that node's web server and deletes its VIP; planned: `haven resource move ip OTHER` (the server follows by colocation; the figure includes starting the CLI); cold: every trial's start of the three agents at once to the first page through the VIP"

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "idle" {
		idleMain(os.Args[2:])
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "failover" {
		fmt.Fprintln(os.Stderr, "usage: go run ./test/bench failover [-trials N] [-profiles lan,fast] [-scenarios crash,cut,silent,planned] [-json FILE] [-v]")
		fmt.Fprintln(os.Stderr, "       go run ./test/bench idle [-duration 60s] [-profiles lan,fast] [-json FILE] [-v]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("failover", flag.ExitOnError)
	trials := fs.Int("trials", 10, "trials per scenario and profile")
	profiles := fs.String("profiles", "lan,fast", "timing profiles, comma-separated")
	scenarios := fs.String("scenarios", "crash,cut,silent,planned", "scenarios, comma-separated (cold start is measured in every trial)")
	out := fs.String("json", "failover.json", "JSON output file")
	verbose := fs.Bool("v", false, "log the test bed's messages")
	_ = fs.Parse(os.Args[2:])
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces)")
		os.Exit(1)
	}
	for _, s := range split(*scenarios) {
		if !slices.Contains([]string{"crash", "cut", "silent", "planned"}, s) {
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q\n", s)
			os.Exit(2)
		}
	}

	setup := newTB("setup", *verbose)
	defer setup.runCleanups()
	var serverBin string
	ok := run(setup, func() {
		harness.Binary(setup) // build haven once, before the first trial
		serverBin = buildServer(setup)
	})
	if ok != "" {
		fmt.Fprintln(os.Stderr, "bench: setup:", ok)
		os.Exit(1)
	}

	rep := Report{Started: time.Now(), Command: "go run ./test/bench " + strings.Join(os.Args[1:], " "), Note: note}
	fmt.Println("note:", note)
	for _, prof := range split(*profiles) {
		for _, sc := range split(*scenarios) {
			for i := 1; i <= *trials; i++ {
				tr := trial(prof, sc, i, serverBin, *verbose)
				rep.Trials = append(rep.Trials, tr)
				status := fmt.Sprintf("%s (coordinator %s) → %s in %.0f ms", tr.From, tr.Coordinator, tr.To, tr.FailoverMS)
				if tr.Err != "" {
					status = "ERROR " + tr.Err
				}
				if tr.CommandMS > 0 {
					status += fmt.Sprintf(" (the command returned after %.0f ms)", tr.CommandMS)
				}
				fmt.Printf("%-5s %-8s #%-2d cold %6.0f ms  %s  two-holder samples %d/%d\n",
					prof, sc, i, tr.ColdStartMS, status, tr.TwoHolders, tr.Samples)
			}
		}
	}
	rep.Finished = time.Now()
	rep.Summary = summarize(rep.Trials, split(*profiles), split(*scenarios))
	fmt.Printf("\n%-5s %-8s %6s %9s %9s %9s %9s %s\n", "prof", "scenario", "ok/n", "min", "median", "p95", "max", "trials with two holders")
	for _, s := range rep.Summary {
		fmt.Printf("%-5s %-8s %3d/%-2d %7.0fms %7.0fms %7.0fms %7.0fms %d\n",
			s.Profile, s.Scenario, s.OK, s.Trials, s.Min, s.Median, s.P95, s.Max, s.TwoHolders)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println("\nwrote", *out)
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run calls f and returns "" or why it aborted (Fatal, Skip or a panic).
func run(t *tb, f func()) (why string) {
	defer func() {
		if r := recover(); r != nil {
			var a abort
			if x, ok := r.(abort); ok {
				a = x
			} else {
				a = abort{fmt.Sprint(r)}
			}
			why = a.msg
		}
	}()
	f()
	return ""
}

func buildServer(t *tb) string {
	bin, err := e2e.BuildServer(t.TempDir())
	if err != nil {
		t.Fatalf("%v", err)
	}
	return bin
}

// trial runs one trial on a fresh bed and cluster.
func trial(prof, sc string, n int, serverBin string, verbose bool) (tr Trial) {
	tr = Trial{Profile: prof, Scenario: sc, N: n}
	t := newTB(fmt.Sprintf("%s/%s/%d", prof, sc, n), verbose)
	defer t.runCleanups()
	why := run(t, func() { measure(t, &tr, serverBin) })
	if why != "" && tr.Err == "" {
		tr.Err = why
	}
	return tr
}

func measure(t *tb, tr *Trial, serverBin string) {
	const wait = 60 * time.Second
	r := e2e.New(t, e2e.Options{Profile: tr.Profile, ServerBin: serverBin})
	w := r.Bed.WatchHolders(r.VIP.Addr(), 2*time.Millisecond)
	probe := r.Bed.ProbeTCP(netns.ClientName, r.VIPPort(), netns.ProbeOptions{Interval: 5 * time.Millisecond, Timeout: time.Second, Exchange: e2e.Exchange})
	defer probe.Stop()
	defer w.Stop()

	startAt := time.Now()
	r.StartAll()
	first, err := firstAfter(probe, startAt, "", wait)
	if err != nil {
		t.Fatalf("cold start: %v", err)
	}
	tr.ColdStartMS = ms(first.End.Sub(startAt))
	if _, err := r.WaitServing(wait); err != nil {
		t.Fatalf("initial service: %v", err)
	}
	// Settle: leases renewed, the initial placement done; then look again.
	time.Sleep(2 * time.Second)
	old, err := r.WaitServing(wait)
	if err != nil {
		t.Fatalf("initial service after settling: %v", err)
	}
	tr.From = old
	if st, err := r.Status(old); err == nil {
		tr.Coordinator = st.Leader
	}

	// A random pause of up to half a lease, so the fault lands at any phase
	// of the coordinator's lease rounds: the settle above is fixed, and
	// without it the fault fell at nearly the same phase in every trial,
	// which skews the figures (failover is the lease bound minus the age of
	// the node's last answer at the fault).
	time.Sleep(rand.N(model.Profiles[tr.Profile].Lease.D() / 2))
	fault := time.Now()
	switch tr.Scenario {
	case "crash":
		r.Kill(old)
	case "cut":
		if err := r.Bed.Cut(old, netns.Both); err != nil {
			t.Fatalf("%v", err)
		}
	case "silent":
		if err := r.Bed.SilentPartition(old); err != nil {
			t.Fatalf("%v", err)
		}
	case "planned":
		other := ""
		for _, n := range r.Bed.Nodes() {
			if n != old {
				other = n
				break
			}
		}
		if out, errOut, err := r.C.CLI("resource", "move", "ip", other, "--socket", r.C.Node(other).Socket); err != nil {
			t.Fatalf("haven resource move ip %s: %v\n%s%s", other, err, out, errOut)
		}
		tr.CommandMS = ms(time.Since(fault))
	}
	res, err := firstAfter(probe, fault, old, wait)
	if err != nil {
		tr.Err = fmt.Sprintf("after the fault: %v", err)
	} else {
		tr.FailoverMS = ms(res.End.Sub(fault))
		tr.To = res.Reply
	}
	// Watch a little longer: a late second holder counts too.
	time.Sleep(time.Second)
	w.Stop()
	tr.Samples = w.Samples()
	tr.TwoHolders = len(w.Violations())
	if err := w.Err(); err != nil && tr.Err == "" {
		tr.Err = fmt.Sprintf("holder sampling: %v", err)
	}
}

// firstAfter polls the prober until a successful exchange that started at
// or after from was answered by a node other than not (any node when not
// is "").
func firstAfter(p *netns.Prober, from time.Time, not string, wait time.Duration) (netns.ProbeResult, error) {
	var res netns.ProbeResult
	err := netns.Poll(wait, 20*time.Millisecond, func() error {
		var ok bool
		res, ok = p.FirstSuccessAfter(from, func(reply string) bool { return reply != "" && reply != not })
		if !ok {
			return errors.New("no page from another node yet")
		}
		return nil
	})
	if err == nil {
		// Results only lists finished attempts; give slower ones that
		// started earlier their timeout to finish, then take the best.
		time.Sleep(time.Second + 100*time.Millisecond)
		res, _ = p.FirstSuccessAfter(from, func(reply string) bool { return reply != "" && reply != not })
	}
	return res, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarize(trials []Trial, profiles, scenarios []string) []Summary {
	var out []Summary
	for _, prof := range profiles {
		for _, sc := range append(slices.Clone(scenarios), "cold") {
			s := Summary{Profile: prof, Scenario: sc}
			var v []float64
			for _, tr := range trials {
				if tr.Profile != prof || (sc != "cold" && tr.Scenario != sc) {
					continue
				}
				s.Trials++
				if sc == "cold" {
					if tr.ColdStartMS > 0 {
						v = append(v, tr.ColdStartMS)
					}
					continue
				}
				if tr.TwoHolders > 0 {
					s.TwoHolders++
				}
				if tr.Err == "" {
					v = append(v, tr.FailoverMS)
				}
			}
			s.OK = len(v)
			if len(v) > 0 {
				sort.Float64s(v)
				s.Min, s.Max = v[0], v[len(v)-1]
				s.Median = quantile(v, 0.5)
				s.P95 = quantile(v, 0.95)
			}
			out = append(out, s)
		}
	}
	return out
}

// quantile of sorted v with linear interpolation between closest ranks.
func quantile(v []float64, q float64) float64 {
	if len(v) == 1 {
		return v[0]
	}
	pos := q * float64(len(v)-1)
	i := int(pos)
	if i+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[i] + (pos-float64(i))*(v[i+1]-v[i])
}
