package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/config"
	"github.com/havenha/haven/engine/quorum"
	"github.com/havenha/haven/engine/simulate"
	"github.com/havenha/haven/membership"
)

// quorumCase is one configuration and the nodes a what-if takes down.
type quorumCase struct {
	name     string
	settings []string // extra lines of the cluster section
	nodes    []string // "NAME VOTES" or "NAME VOTES witness"
	down     []string
	want     quorum.Result
}

var quorumCases = []quorumCase{
	{name: "seed000 sv2 down: 4 of 8 votes, quorum 5", settings: []string{"expected_votes: 8"},
		nodes: []string{"sv1 2", "sv2 2", "cl1 1", "cl2 1"}, down: []string{"sv2"},
		want: quorum.Result{Quorate: false, ExpectedVotes: 8, HighestExpected: 8, TotalVotes: 4, Quorum: 5, Flags: []string{}}},
	{name: "seed000 cl1 down: 5 of 8 votes, quorate", settings: []string{"expected_votes: 8"},
		nodes: []string{"sv1 2", "sv2 2", "cl1 1", "cl2 1"}, down: []string{"cl1"},
		want: quorum.Result{Quorate: true, ExpectedVotes: 8, HighestExpected: 8, TotalVotes: 5, Quorum: 5, Flags: []string{quorum.FlagQuorate}}},
	{name: "seed000 without expected_votes: the servers alone hold 4 of 6",
		nodes: []string{"sv1 2", "sv2 2", "cl1 1", "cl2 1"}, down: []string{"cl1", "cl2"},
		want: quorum.Result{Quorate: true, ExpectedVotes: 6, HighestExpected: 6, TotalVotes: 4, Quorum: 4, Flags: []string{quorum.FlagQuorate}}},
	{name: "two_node, one down: the survivor keeps quorum 1", settings: []string{"two_node: true"},
		nodes: []string{"a 1", "b 1"}, down: []string{"b"},
		want: quorum.Result{Quorate: true, ExpectedVotes: 2, HighestExpected: 2, TotalVotes: 1, Quorum: 1,
			Flags: []string{quorum.FlagQuorate, quorum.FlagWaitForAll, quorum.FlagTwoNode}}},
	{name: "expected_votes 3 below the sum 4: raised to 4 once all were seen, 2 left are not enough", settings: []string{"expected_votes: 3"},
		nodes: []string{"a 1", "b 1", "c 1", "d 1"}, down: []string{"c", "d"},
		want: quorum.Result{Quorate: false, ExpectedVotes: 3, HighestExpected: 4, TotalVotes: 2, Quorum: 3, Flags: []string{}}},
	{name: "wait_for_all, one of three down: the wait ended when all were seen", settings: []string{"wait_for_all: true"},
		nodes: []string{"a 1", "b 1", "c 1"}, down: []string{"c"},
		want: quorum.Result{Quorate: true, ExpectedVotes: 3, HighestExpected: 3, TotalVotes: 2, Quorum: 2,
			Flags: []string{quorum.FlagQuorate, quorum.FlagWaitForAll}}},
	{name: "two nodes and a witness, one node down", settings: []string{"expected_votes: 3"},
		nodes: []string{"a 1", "b 1", "w 1 witness"}, down: []string{"a"},
		want: quorum.Result{Quorate: true, ExpectedVotes: 3, HighestExpected: 3, TotalVotes: 2, Quorum: 2, Flags: []string{quorum.FlagQuorate}}},
}

// TestSimulate_QuorumAgreesWithMembership: for each configuration, the
// quorum `haven simulate --down` prints and the quorum that live
// memberships on loopback report once the same nodes have stopped are one
// votequorum answer, field for field, and it is the answer the table
// expects. The memberships first see every node at once, which is the
// running cluster simulate's what-if assumes.
func TestSimulate_QuorumAgreesWithMembership(t *testing.T) {
	for i, qc := range quorumCases {
		t.Run(qc.name, func(t *testing.T) {
			path := writeQuorumConfig(t, qc, 51+10*i)

			var out bytes.Buffer
			if err := runSimulate(&out, simulateFlags{configFile: path, down: qc.down, asJSON: true}, time.Now()); err != nil {
				t.Fatalf("simulate: %v", err)
			}
			var doc struct {
				Quorate bool           `json:"quorate"`
				Votes   simulate.Votes `json:"votes"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatalf("simulate --json: %v\n%s", err, out.String())
			}
			if !sameQuorum(doc.Votes.Result, qc.want) || doc.Quorate != qc.want.Quorate || doc.Votes.From != simulate.FromVotes {
				t.Errorf("simulate: quorate %v, votes %+v; want %+v from the votes", doc.Quorate, doc.Votes, qc.want)
			}

			live := liveQuorum(t, path, qc)
			for name, q := range live {
				if !sameQuorum(q, doc.Votes.Result) {
					t.Errorf("membership on %s: %+v; simulate: %+v", name, q, doc.Votes.Result)
				}
			}
		})
	}
}

func sameQuorum(a, b quorum.Result) bool {
	return a.Quorate == b.Quorate && a.ExpectedVotes == b.ExpectedVotes && a.HighestExpected == b.HighestExpected &&
		a.TotalVotes == b.TotalVotes && a.Quorum == b.Quorum && a.Waiting == b.Waiting && slices.Equal(a.Flags, b.Flags)
}

// writeQuorumConfig writes qc as a configuration file whose nodes gossip
// on 127.0.0.base, base+1, ... (ports found free) with a fresh key.
func writeQuorumConfig(t *testing.T, qc quorumCase, base int) string {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(base + 7*i)
	}
	if err := os.WriteFile(filepath.Join(dir, "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("cluster:\n  name: q\n  key_file: key\n  profile: fast\n  stonith: false\n")
	for _, s := range qc.settings {
		b.WriteString("  " + s + "\n")
	}
	b.WriteString("nodes:\n")
	for i, n := range qc.nodes {
		f := strings.Fields(n)
		ip := fmt.Sprintf("127.0.0.%d", base+i)
		fmt.Fprintf(&b, "  - {name: %s, addresses: [%s], gossip_port: %d, votes: %s", f[0], ip, freeGossipPort(t, ip), f[1])
		if len(f) > 2 {
			b.WriteString(", role: " + f[2])
		}
		b.WriteString("}\n")
	}
	path := filepath.Join(dir, "haven.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeGossipPort finds a port free for both TCP and UDP on ip (memberlist
// binds both on the same port).
func freeGossipPort(t *testing.T, ip string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// liveQuorum runs one membership per node of the file until each sees every
// node, stops the nodes qc takes down, and returns the quorum every
// survivor reports once it has seen them go.
func liveQuorum(t *testing.T, path string, qc quorumCase) map[string]quorum.Result {
	t.Helper()
	c, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := membership.LoadKeyFile(filepath.Join(filepath.Dir(path), "key"))
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		m      *membership.Membership
		cancel context.CancelFunc
		done   chan error
		once   sync.Once
	}
	runs := map[string]*run{}
	stop := func(r *run) {
		r.once.Do(func() {
			r.cancel()
			select {
			case <-r.done:
			case <-time.After(15 * time.Second):
				t.Errorf("membership did not stop")
			}
		})
	}
	for _, n := range c.Nodes {
		m, err := membership.New(membership.Config{Cluster: c, NodeName: n.Name, Keys: keys, Version: "test", JoinInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &run{m: m, cancel: cancel, done: make(chan error, 1)}
		go func() { r.done <- m.Run(ctx) }()
		runs[n.Name] = r
		t.Cleanup(func() { stop(r) })
		select {
		case <-m.Ready():
		case err := <-r.done:
			t.Fatalf("%s: %v", n.Name, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not ready", n.Name)
		}
	}
	all := c.TotalVotes()
	waitUntil(t, "every node sees every vote", 30*time.Second, func() bool {
		for _, r := range runs {
			if r.m.Quorum().TotalVotes != all {
				return false
			}
		}
		return true
	})
	for _, n := range qc.down {
		stop(runs[n])
		delete(runs, n)
	}
	waitUntil(t, "the survivors see the nodes taken down go", 30*time.Second, func() bool {
		for _, r := range runs {
			for _, n := range qc.down {
				if r.m.Online(n) {
					return false
				}
			}
		}
		return true
	})
	got := map[string]quorum.Result{}
	for name, r := range runs {
		got[name] = r.m.Quorum()
	}
	return got
}

func waitUntil(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSimulate_VotesLine: the human output prints the votes on each
// quorum line, as haven status does, and says so when the quorate the scheduler used is not the
// votes' answer (--no-quorum, or a state file's own quorate).
func TestSimulate_VotesLine(t *testing.T) {
	sim := func(f simulateFlags) string {
		t.Helper()
		var out bytes.Buffer
		if err := runSimulate(&out, f, time.Now()); err != nil {
			t.Fatalf("simulate %+v: %v", f, err)
		}
		return out.String()
	}
	cfg := "../../examples/seed000-tgtd.yaml"
	out := sim(simulateFlags{configFile: cfg, down: []string{"sv2"}})
	for _, want := range []string{
		"  * Quorum: partition with quorum (6 votes of 8 expected, quorum 5)\n\n",
		"  * Quorum: partition WITHOUT quorum (4 votes of 8 expected, quorum 5): no_quorum_policy stop\n\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--down sv2: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "quorum as given by") {
		t.Errorf("--down sv2: a note on an override that did not happen:\n%s", out)
	}
	out = sim(simulateFlags{configFile: cfg, noQuorum: true})
	if !strings.Contains(out, "  * Quorum: partition WITHOUT quorum (6 votes of 8 expected, quorum 5): no_quorum_policy stop\n"+
		"    (quorum as given by --no-quorum; the votes alone are quorate)\n") {
		t.Errorf("--no-quorum: the revised status should show the votes and the override:\n%s", out)
	}

	// A state file that says quorate with sv2 offline keeps its word until
	// --down or --up changes the nodes; then the votes decide.
	state := filepath.Join(t.TempDir(), "state.json")
	doc := `{"nodes": {"sv1": {"online": true}, "sv2": {"online": false}, "cl1": {"online": true}, "cl2": {"online": true}}, "quorate": true}`
	if err := os.WriteFile(state, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out = sim(simulateFlags{configFile: cfg, stateFile: state})
	if !strings.Contains(out, "  * Quorum: partition with quorum (4 votes of 8 expected, quorum 5)\n"+
		"    (quorum as given by the state file; the votes alone are not quorate)\n") {
		t.Errorf("state file: want its quorate kept and the disagreement shown:\n%s", out)
	}
	var js bytes.Buffer
	if err := runSimulate(&js, simulateFlags{configFile: cfg, stateFile: state, down: []string{"cl1"}, asJSON: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Quorate bool           `json:"quorate"`
		Votes   simulate.Votes `json:"votes"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Quorate || got.Votes.TotalVotes != 3 || got.Votes.From != simulate.FromVotes {
		t.Errorf("state file then --down cl1: quorate %v, votes %+v; want the votes' answer, 3 of 8, not quorate", got.Quorate, got.Votes)
	}
}
