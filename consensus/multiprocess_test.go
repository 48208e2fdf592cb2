package consensus

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/state"
	"github.com/havenha/haven/internal/testenv"
)

// Multi-process tests: three testnode processes (consensus/internal/testnode)
// on loopback with fsync, driven over the authenticated RPC by this test,
// which holds the key. Processes are killed by PID only.

type mpCluster struct {
	t      *testing.T
	bin    string
	root   string
	names  []string
	addrs  map[string]string
	procs  map[string]*exec.Cmd
	client *TCPLink
	extra  []string
}

func buildTestnode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testnode")
	out, err := exec.Command("go", "build", "-o", bin, "./internal/testnode").CombinedOutput()
	if err != nil {
		t.Fatalf("build testnode: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newMP(t *testing.T, extra ...string) *mpCluster {
	return newMPNamed(t, []string{"a", "b", "c"}, extra...)
}

func newMPNamed(t *testing.T, names []string, extra ...string) *mpCluster {
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "multi-process test")
	}
	m := &mpCluster{t: t, bin: buildTestnode(t), root: t.TempDir(), names: names,
		addrs: map[string]string{}, procs: map[string]*exec.Cmd{}, extra: extra}
	for _, n := range m.names {
		m.addrs[n] = freePort(t)
	}
	cl, err := ListenTCP(TCPLinkConfig{Bind: "127.0.0.1:0", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	m.client = cl
	t.Cleanup(func() {
		for n := range m.procs {
			m.kill(n)
		}
		cl.Close()
	})
	return m
}

func (m *mpCluster) start(name string) {
	var nodes []string
	for _, n := range m.names {
		nodes = append(nodes, n+"="+m.addrs[n])
	}
	args := append([]string{"-name", name, "-dir", filepath.Join(m.root, name), "-nodes", strings.Join(nodes, ","),
		"-key", hex.EncodeToString(testKey)}, m.extra...)
	cmd := exec.Command(m.bin, args...)
	logf, err := os.OpenFile(filepath.Join(m.root, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	logf.Close()
	m.procs[name] = cmd
}

// kill sends SIGKILL to the process we started, by PID.
func (m *mpCluster) kill(name string) {
	if p := m.procs[name]; p != nil {
		p.Process.Kill()
		p.Wait()
		delete(m.procs, name)
	}
}

// term stops a node cleanly; it writes state.json.
func (m *mpCluster) term(name string) {
	p := m.procs[name]
	p.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			m.t.Fatalf("%s exited: %v\n%s", name, err, m.tail(name))
		}
	case <-time.After(waitFor):
		m.t.Fatalf("%s did not stop on SIGTERM", name)
	}
	delete(m.procs, name)
}

func (m *mpCluster) tail(name string) string {
	b, _ := os.ReadFile(filepath.Join(m.root, name+".log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func (m *mpCluster) status(name string) (*Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := m.client.Call(ctx, raft.ServerAddress(m.addrs[name]), Request{Op: OpStatus})
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, fmt.Errorf("%s: %s", name, resp.Error)
	}
	return resp.Status, nil
}

func (m *mpCluster) leader() string {
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		for n := range m.procs {
			if st, err := m.status(n); err == nil && st.State == "Leader" {
				return n
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatal("no leader")
	return ""
}

// apply sends one command to whichever node answers as leader. ok is true
// only when the result came back; unknown is true when it may have committed.
func (m *mpCluster) apply(cmd state.Command) (ok, unknown bool) {
	b, _ := cmd.Encode()
	for n := range m.procs {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := m.client.Call(ctx, raft.ServerAddress(m.addrs[n]), Request{Op: OpApply, Cmd: b})
		cancel()
		switch {
		case err != nil && isNotDelivered(err):
			continue
		case err != nil:
			return false, true
		case resp.NotLeader:
			continue
		case resp.Result != nil:
			return resp.Result.Err() == nil, false
		default:
			return false, true
		}
	}
	return false, false
}

func (m *mpCluster) converged() uint64 {
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		var idx []uint64
		for n := range m.procs {
			if st, err := m.status(n); err == nil {
				idx = append(idx, st.Applied)
			}
		}
		if len(idx) == len(m.procs) && idx[0] > 0 {
			same := true
			for _, i := range idx {
				same = same && i == idx[0]
			}
			if same {
				return idx[0]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatal("nodes did not converge")
	return 0
}

// stopAllAndRead stops every node with SIGTERM and returns each one's snapshot.
func (m *mpCluster) stopAllAndRead() map[string][]byte {
	out := map[string][]byte{}
	for _, n := range m.names {
		m.term(n)
		b, err := os.ReadFile(filepath.Join(m.root, n, "state.json"))
		if err != nil {
			m.t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func note(i int) state.Command {
	c, _ := state.NewCommand(state.CmdEvent, time.Now(), "mp", state.Note{Type: "mp", Message: fmt.Sprintf("apply-%d", i)})
	return c
}

func TestMultiProcess_KillLeaderDuringApplies(t *testing.T) {
	m := newMP(t)
	for _, n := range m.names {
		m.start(n)
	}
	m.leader()
	var success, unknown []int
	killed := ""
	deadline := time.Now().Add(2 * waitFor)
	for i := 0; len(success) < 150 && time.Now().Before(deadline); i++ {
		if i == 60 {
			// SIGKILL the leader from another goroutine while applies are in
			// flight (the delay only varies where in an apply it lands).
			killed = m.leader()
			p := m.procs[killed].Process
			go func() {
				time.Sleep(2 * time.Millisecond)
				p.Kill()
			}()
		}
		ok, unk := m.apply(note(i))
		switch {
		case ok:
			success = append(success, i)
		case unk:
			unknown = append(unknown, i)
		default:
			time.Sleep(20 * time.Millisecond) // no leader yet: nothing submitted
		}
	}
	if len(success) < 150 {
		t.Fatalf("only %d applies succeeded", len(success))
	}
	m.kill(killed) // reap it
	m.start(killed)
	m.converged()
	snaps := m.stopAllAndRead()
	for _, n := range m.names[1:] {
		if string(snaps[n]) != string(snaps[m.names[0]]) {
			t.Fatalf("state of %s differs from %s's after recovery", n, m.names[0])
		}
	}
	var snap struct {
		Data state.Data `json:"data"`
	}
	if err := json.Unmarshal(snaps["a"], &snap); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range snap.Data.Events {
		count[e.Message]++
	}
	for _, i := range success {
		if c := count[fmt.Sprintf("apply-%d", i)]; c != 1 {
			t.Errorf("successful apply %d present %d times; want exactly once", i, c)
		}
	}
	for _, i := range unknown {
		if c := count[fmt.Sprintf("apply-%d", i)]; c > 1 {
			t.Errorf("apply %d with an unknown outcome present %d times", i, c)
		}
	}
	t.Logf("killed leader %s: %d successes, %d unknown outcomes", killed, len(success), len(unknown))

	// Whole-cluster restart: state identical.
	for _, n := range m.names {
		m.start(n)
	}
	m.leader()
	m.converged()
	again := m.stopAllAndRead()
	for _, n := range m.names {
		if string(again[n]) != string(snaps[n]) {
			t.Fatalf("state of %s changed across a whole-cluster restart", n)
		}
	}
}

func TestMultiProcess_WipedNodeCatchesUp(t *testing.T) {
	m := newMP(t, "-snapshot-threshold", "16", "-snapshot-interval", "100ms")
	for _, n := range m.names {
		m.start(n)
	}
	m.leader()
	for i := 0; i < 80; i++ {
		if ok, _ := m.apply(note(i)); !ok {
			i-- // retry (a duplicate note would not matter here: only the replicas are compared)
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Wait until the leader has compacted its log into a snapshot.
	leader := m.leader()
	deadline := time.Now().Add(waitFor)
	for {
		if s, _ := os.ReadDir(filepath.Join(m.root, leader, "raft", "snapshots")); len(s) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("leader never snapshotted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	victim := "c"
	if victim == leader {
		victim = "b"
	}
	m.kill(victim)
	if err := os.RemoveAll(filepath.Join(m.root, victim)); err != nil {
		t.Fatal(err)
	}
	m.start(victim)
	m.converged()
	if s, _ := os.ReadDir(filepath.Join(m.root, victim, "raft", "snapshots")); len(s) == 0 {
		t.Fatal("the wiped node caught up without a snapshot")
	}
	snaps := m.stopAllAndRead()
	if string(snaps["c"]) != string(snaps["a"]) || string(snaps["b"]) != string(snaps["a"]) {
		t.Fatal("wiped node's state differs after catching up")
	}
}

func TestMultiProcess_TwoNodesAndWitness(t *testing.T) {
	m := newMPNamed(t, []string{"n1", "n2", "w"}, "-witness", "w")
	for _, n := range m.names {
		m.start(n)
	}
	m.leader()
	i := 0
	for _, down := range []string{"n1", "n2"} {
		m.kill(down)
		deadline := time.Now().Add(waitFor)
		for n := 0; n < 10; i++ {
			if ok, _ := m.apply(note(i)); ok {
				n++
			} else if time.Now().After(deadline) {
				t.Fatalf("no applies with %s down:\n%s", down, m.tail("w"))
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		m.start(down)
		m.converged()
	}
}

// A process with another key cannot join: every connection it makes is
// refused and logged with its address, and it never receives an entry.
func TestMultiProcess_IntruderWithoutKey(t *testing.T) {
	m := newMP(t)
	for _, n := range m.names {
		m.start(n)
	}
	m.leader()
	for i := 0; i < 5; {
		if ok, _ := m.apply(note(i)); ok {
			i++
		}
	}
	// The intruder claims to be a voter of a cluster made of itself and two
	// real nodes, with their real addresses but another key: it campaigns
	// and dials them.
	intruderAddr := freePort(t)
	dir := filepath.Join(m.root, "evil")
	nodes := []string{"evil=" + intruderAddr, "a=" + m.addrs["a"], "b=" + m.addrs["b"]}
	cmd := exec.Command(m.bin, "-name", "evil", "-dir", dir, "-nodes", strings.Join(nodes, ","),
		"-key", hex.EncodeToString([]byte("ffffffffffffffffffffffffffffffff")))
	logf, _ := os.Create(filepath.Join(m.root, "evil.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	refused := func() bool {
		for _, n := range []string{"a", "b"} {
			for _, line := range strings.Split(m.tail(n), "\n") {
				if strings.Contains(line, "refused connection without the cluster key") && strings.Contains(line, "remote=127.0.0.1:") {
					return true
				}
			}
		}
		return false
	}
	deadline := time.Now().Add(waitFor)
	for !refused() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("no refusal of the intruder logged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The cluster still works and the intruder learned nothing.
	for ok := false; !ok; {
		ok, _ = m.apply(note(99))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatalf("intruder state: %v\n%s", err, m.tail("evil"))
	}
	var snap struct {
		Data state.Data `json:"data"`
	}
	json.Unmarshal(b, &snap)
	if snap.Data.Index != 0 || len(snap.Data.Events) != 0 {
		t.Fatalf("intruder applied entries: index %d, %d events", snap.Data.Index, len(snap.Data.Events))
	}
}
