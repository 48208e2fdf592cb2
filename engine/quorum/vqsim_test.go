package quorum

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/internal/testenv"
)

// The tests in this file run corosync-vqsim (corosync's own votequorum code
// in a simulator) on each scenario and compare every live node's quorate
// answer with the Calculator's after each step. vqsim prints only q=0/1 per
// node, so quorum and total votes are checked by the unit tables in
// calculator_test.go. vqsim quirks handled here: `up` gives a new node the votes
// of the first configured node (so scenarios only `up` nodes whose votes
// equal the first node's), and a command returns before its effect is
// visible (so the driver polls `show` until the membership it expects is
// stable).

type vqNode struct {
	id    int
	votes int
}

type vqConf struct {
	nodes      []vqNode
	expected   int // 0: unset (sum of votes)
	twoNode    bool
	waitForAll bool
}

func (c vqConf) render() string {
	var b strings.Builder
	b.WriteString("totem {\n\tversion: 2\n\tcluster_name: oracle\n\ttransport: knet\n}\nnodelist {\n")
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "\tnode {\n\t\tring0_addr: 127.0.0.%d\n\t\tnodeid: %d\n\t\tquorum_votes: %d\n\t}\n", n.id, n.id, n.votes)
	}
	b.WriteString("}\nquorum {\n\tprovider: corosync_votequorum\n")
	if c.expected > 0 {
		fmt.Fprintf(&b, "\texpected_votes: %d\n", c.expected)
	}
	if c.twoNode {
		b.WriteString("\ttwo_node: 1\n")
	}
	if c.waitForAll {
		b.WriteString("\twait_for_all: 1\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (c vqConf) quorumConfig() Config {
	sum := 0
	for _, n := range c.nodes {
		sum += n.votes
	}
	exp := c.expected
	if exp == 0 {
		exp = sum
	}
	return Config{ExpectedVotes: exp, TwoNode: c.twoNode, WaitForAll: c.waitForAll || c.twoNode, ConfiguredNodes: len(c.nodes)}
}

// vqModel mirrors vqsim's world with one Calculator per running node.
type vqModel struct {
	conf  vqConf
	part  map[int]int // node id -> partition, for running nodes
	calcs map[int]*Calculator
	last  map[int]Result
}

func newVQModel(c vqConf) *vqModel {
	m := &vqModel{conf: c, part: map[int]int{}, calcs: map[int]*Calculator{}, last: map[int]Result{}}
	for _, n := range c.nodes {
		m.part[n.id] = 0
		m.calcs[n.id] = New(c.quorumConfig())
	}
	return m
}

// apply runs one vqsim command on the model.
func (m *vqModel) apply(cmd string) error {
	f := strings.Fields(cmd)
	switch f[0] {
	case "down":
		id, _ := strconv.Atoi(f[1])
		delete(m.part, id)
		delete(m.calcs, id)
		delete(m.last, id)
	case "up":
		id, _ := strconv.Atoi(f[1])
		m.part[id] = 0
		m.calcs[id] = New(m.conf.quorumConfig())
	case "split":
		for _, g := range f[1:] {
			p, ids, _ := strings.Cut(g, ":")
			pn, _ := strconv.Atoi(p)
			for _, s := range strings.Split(ids, ",") {
				id, _ := strconv.Atoi(s)
				m.part[id] = pn
			}
		}
	case "join":
		to, _ := strconv.Atoi(f[1])
		for id, p := range m.part {
			if slices.ContainsFunc(f[2:], func(s string) bool { return s == strconv.Itoa(p) }) {
				m.part[id] = to
			}
		}
	default:
		return fmt.Errorf("model does not know command %q", cmd)
	}
	// Recompute until stable: a peer's announcement (not waiting)
	// reaches the others on the next round, as nodeinfo messages do.
	for round := 0; round < 4; round++ {
		prev := map[int]Result{}
		for k, v := range m.last {
			prev[k] = v
		}
		for id, p := range m.part {
			var in []Vote
			peer := false
			for _, n := range m.conf.nodes {
				q, up := m.part[n.id]
				in = append(in, Vote{Name: strconv.Itoa(n.id), Votes: n.votes, Online: up && q == p})
				if r, ok := prev[n.id]; ok && up && q == p && n.id != id && !r.Waiting {
					peer = true
				}
			}
			m.last[id] = m.calcs[id].Update(in, peer)
		}
	}
	return nil
}

// members returns the sorted ids each running node should list.
func (m *vqModel) members(id int) []int {
	var out []int
	for other, p := range m.part {
		if p == m.part[id] {
			out = append(out, other)
		}
	}
	slices.Sort(out)
	return out
}

type vqState struct {
	quorate bool
	nodes   []int
}

var vqLine = regexp.MustCompile(`(\d+):(\d+): q=(\d) ring=\[[^\]]*\] nodes=\[([\d ]*)\]`)

// vqsim drives one corosync-vqsim process.
type vqsim struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startVQSim(t *testing.T, bin string, c vqConf) *vqsim {
	dir := t.TempDir()
	// vqsim refuses -c paths of 8 characters or more: run in the folder.
	if err := os.WriteFile(filepath.Join(dir, "v.cf"), []byte(c.render()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", "v.cf")
	cmd.Dir = dir
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start corosync-vqsim: %v", err)
	}
	v := &vqsim{t: t, cmd: cmd, in: in, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			v.lines <- sc.Text()
		}
		close(v.lines)
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "exit\n")
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return v
}

func (v *vqsim) send(cmd string) {
	if _, err := io.WriteString(v.in, cmd+"\n"); err != nil {
		v.t.Fatalf("write %q to vqsim: %v", cmd, err)
	}
}

// show asks for one status block and returns it (node id -> state).
func (v *vqsim) show(deadline time.Time) (map[int]vqState, error) {
	v.send("show")
	st := map[int]vqState{}
	for {
		select {
		case l, ok := <-v.lines:
			if !ok {
				return nil, fmt.Errorf("vqsim exited")
			}
			if strings.Contains(l, "#autofence:") {
				return st, nil
			}
			if m := vqLine.FindStringSubmatch(l); m != nil {
				id, _ := strconv.Atoi(m[2])
				var ns []int
				for _, f := range strings.Fields(m[4]) {
					n, _ := strconv.Atoi(f)
					ns = append(ns, n)
				}
				slices.Sort(ns)
				st[id] = vqState{quorate: m[3] == "1", nodes: ns}
			}
		case <-time.After(time.Until(deadline)):
			return nil, fmt.Errorf("no status block from vqsim before the deadline")
		}
	}
}

// settle polls `show` until vqsim's membership matches the model and two
// consecutive blocks agree, then returns the block.
func (v *vqsim) settle(m *vqModel) (map[int]vqState, error) {
	deadline := time.Now().Add(15 * time.Second)
	var prev map[int]vqState
	same := 0
	for i := 0; i < 200 && time.Now().Before(deadline); i++ {
		st, err := v.show(deadline)
		if err != nil {
			return nil, err
		}
		match := len(st) == len(m.part)
		for id := range m.part {
			if s, ok := st[id]; !ok || !slices.Equal(s.nodes, m.members(id)) {
				match = false
			}
		}
		switch {
		case !match:
			prev, same = nil, 0
		case prev != nil && vqEqual(prev, st):
			same++
		default:
			prev, same = st, 1
		}
		if same >= 10 { // stable for over a second: vqsim converges in steps
			return st, nil
		}
		time.Sleep(100 * time.Millisecond) // pacing between polls, not a wait for a result
	}
	return nil, fmt.Errorf("vqsim did not settle on the expected membership within 15s")
}

func vqEqual(a, b map[int]vqState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.quorate != y.quorate || !slices.Equal(x.nodes, y.nodes) {
			return false
		}
	}
	return true
}

type vqScenario struct {
	name  string
	conf  vqConf
	steps []string
}

var seed000Conf = vqConf{nodes: []vqNode{{1, 2}, {2, 2}, {3, 1}, {4, 1}}, expected: 8}

// vqScenarios is the table compared with corosync-vqsim. Node ids for seed
// 000: 1=sv1 (2 votes), 2=sv2 (2), 3=cl1 (1), 4=cl2 (1).
var vqScenarios = []vqScenario{
	{"seed000 all up 6/8, cl1 lost (5), cl1 back", seed000Conf, []string{"split 1:3", "join 0 1"}},
	{"seed000 sv2 down: 4 of 8 not quorate, sv2 back", seed000Conf, []string{"down 2", "up 2"}},
	{"seed000 split {sv1,cl1}|{sv2,cl2}: neither", seed000Conf, []string{"split 1:1,3 2:2,4", "join 0 1 2"}},
	{"seed000 (expected 8) split {sv1,sv2}|{cl1,cl2}: neither, 4 < 5", seed000Conf, []string{"split 1:1,2 2:3,4", "join 0 1 2"}},
	{"seed000 as vqsim-4node.conf (expected unset: 6, quorum 4): split {sv1,sv2}|{cl1,cl2} only the sv side", vqConf{nodes: seed000Conf.nodes}, []string{"split 1:1,2 2:3,4", "join 0 1 2", "down 2"}},
	{"expected_votes below the sum is raised and stays", vqConf{nodes: []vqNode{{1, 1}, {2, 1}, {3, 1}, {4, 1}}, expected: 3}, []string{"down 4", "down 3"}},
	{"two_node: survivor keeps quorum; cold start alone waits", vqConf{nodes: []vqNode{{1, 1}, {2, 1}}, twoNode: true}, []string{"down 2", "down 1", "up 1", "up 2", "split 1:1 2:2", "join 1 2"}},
	// Not in the table: under wait_for_all, a partition that lost quorum
	// and regains it without every node (by a merge, or by a freshly
	// started node). vqsim answers differently from run to run, and even
	// node to node within one partition (a message-order race in
	// votequorum's re-arm of wait_for_all); see Calculator.
	{"wait_for_all: cold start of a subset waits for all", vqConf{nodes: []vqNode{{1, 1}, {2, 1}, {3, 1}}, waitForAll: true}, []string{"down 3", "down 2", "down 1", "up 1", "up 2", "up 3", "down 3"}},
	{"three nodes, one vote each", vqConf{nodes: []vqNode{{1, 1}, {2, 1}, {3, 1}}}, []string{"split 1:1", "join 0 1", "down 3", "down 2"}},
}

func TestQuorum_MatchesVQSim(t *testing.T) {
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "the corosync-vqsim comparison takes about 45 s")
	}
	bin, err := exec.LookPath("corosync-vqsim")
	if err != nil {
		testenv.MissingPackage(t, "corosync-vqsim", "corosync-vqsim is not installed: the votequorum comparison did not run")
	}
	for _, sc := range vqScenarios {
		t.Run(sc.name, func(t *testing.T) {
			v := startVQSim(t, bin, sc.conf)
			m := newVQModel(sc.conf)
			if err := m.apply("join 0"); err != nil { // initial computation, nothing moves
				t.Fatal(err)
			}
			check := func(step string) {
				st, err := v.settle(m)
				if err != nil {
					t.Fatalf("after %q: %v", step, err)
				}
				for id := range m.part {
					want := m.last[id]
					if st[id].quorate != want.Quorate {
						t.Errorf("after %q: node %d: vqsim quorate=%v, calculator quorate=%v (total %d, quorum %d, highest %d, waiting %v)",
							step, id, st[id].quorate, want.Quorate, want.TotalVotes, want.Quorum, want.HighestExpected, want.Waiting)
					}
				}
			}
			check("start")
			for _, step := range sc.steps {
				v.send(step)
				if err := m.apply(step); err != nil {
					t.Fatal(err)
				}
				check(step)
			}
		})
	}
}
