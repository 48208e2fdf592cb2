package consensus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/havenha/haven/engine/model"
)

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTCPCluster builds a cluster whose nodes talk real TLS over loopback.
func newTCPCluster(t testing.TB, logs *syncBuffer, mutate func(*model.Cluster), names ...string) *tcluster {
	c := newCluster(t, mutate, names...)
	c.logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c.addrs = map[string]raft.ServerAddress{}
	links := map[string]*TCPLink{}
	for _, n := range names {
		l, err := ListenTCP(TCPLinkConfig{Bind: "127.0.0.1:0", Key: testKey, Logger: c.logger.With("link", n)})
		if err != nil {
			t.Fatal(err)
		}
		links[n] = l
		c.addrs[n] = l.Addr()
	}
	c.mkLink = func(name string) Link {
		if l := links[name]; l != nil {
			delete(links, name)
			return l
		}
		l, err := ListenTCP(TCPLinkConfig{Bind: string(c.addrs[name]), Key: testKey, Logger: c.logger.With("link", name)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	return c
}

func TestTCP_ClusterForwardsOverTLS(t *testing.T) {
	logs := &syncBuffer{}
	c := newTCPCluster(t, logs, nil, "a", "b", "c")
	c.startAll()
	leader := c.leader()
	var last uint64
	for _, from := range []string{"a", "b", "c"} {
		last = c.mustApply(from, attr(t, "a", "from", from)).Index
	}
	c.converged(last)
	// Restart the leader on the same port: it rejoins over TLS.
	c.stop(leader)
	r := c.mustApply(c.leader(), attr(t, "a", "after", "restart"))
	c.start(leader)
	c.converged(r.Index)
	if strings.Contains(logs.String(), "refused connection") {
		t.Fatalf("a peer holding the key was refused:\n%s", logs.String())
	}
}

func TestTCP_PeerWithoutKeyCannotJoinOrRead(t *testing.T) {
	logs := &syncBuffer{}
	c := newTCPCluster(t, logs, nil, "a", "b", "c")
	c.startAll()
	leader := c.leader()
	const marker = "SECRET-MARKER-7f3a"
	r := c.mustApply(leader, attr(t, "a", "secret", marker))
	c.converged(r.Index)
	target := string(c.addrs[leader])

	// 1. A raw TCP client speaking plaintext raft: a stream-kind byte and an
	// AppendEntries-looking request. Nothing readable may come back.
	raw, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	attacker := raw.LocalAddr().String()
	raw.Write([]byte{'R', 0x00})
	raw.Write(bytes.Repeat([]byte{0x85, 0xa4, 'T', 'e', 'r', 'm'}, 50))
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := raw.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	raw.Close()
	if bytes.Contains(got.Bytes(), []byte(marker)) || bytes.Contains(got.Bytes(), []byte("secret")) {
		t.Fatalf("plaintext client read log content: %q", got.Bytes())
	}
	if got.Len() > 0 && got.Bytes()[0] != 0x15 { // only a TLS alert record may come back
		t.Fatalf("plaintext client got %d bytes that are not a TLS alert: %q", got.Len(), got.Bytes())
	}

	// 2. A haven peer with another key: the TLS handshake fails both ways.
	wrongKey := []byte("ffffffffffffffffffffffffffffffff")
	wrong, err := ListenTCP(TCPLinkConfig{Bind: "127.0.0.1:0", Key: wrongKey})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := wrong.Call(ctx, raft.ServerAddress(target), Request{Op: OpStatus})
	if err == nil || !errors.Is(err, ErrNotDelivered) || resp.Status != nil {
		t.Fatalf("wrong-key status call = %+v, %v; want a refused handshake", resp, err)
	}
	b, _ := json.Marshal(resp)
	if bytes.Contains(b, []byte(marker)) {
		t.Fatal("wrong-key peer read state")
	}
	// ... nor can it speak raft: an AppendEntries that would make it a
	// leader, and a vote request, both fail at the transport.
	ae := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("evil"), Addr: []byte(wrong.Addr())}, Term: 1 << 40, Entries: []*raft.Log{{Index: 1 << 40, Term: 1 << 40, Type: raft.LogCommand, Data: []byte(`{}`)}}}
	if err := wrong.Transport().AppendEntries(raft.ServerID(leader), raft.ServerAddress(target), ae, &raft.AppendEntriesResponse{}); err == nil {
		t.Fatal("wrong-key peer delivered AppendEntries")
	}
	if err := wrong.Transport().RequestVote(raft.ServerID(leader), raft.ServerAddress(target), &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte("evil")}, Term: 1 << 40}, &raft.RequestVoteResponse{}); err == nil {
		t.Fatal("wrong-key peer delivered RequestVote")
	}
	// The cluster is untouched: same leader, term not inflated, writes work.
	r = c.mustApply(leader, attr(t, "a", "still", "fine"))
	c.converged(r.Index)
	if st := c.nodes[leader].node.Status(); st.Term >= 1<<40 || st.Leader != leader {
		t.Fatalf("status after attack: %+v", st)
	}
	t.Logf("plaintext client received %d bytes (first %x)", got.Len(), first(got.Bytes()))
	// 3. Each refusal is logged with the peer's address.
	c.eventually("the refusal of the plaintext client logged with its address", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "refused connection without the cluster key") && strings.Contains(line, attacker) {
				return true
			}
		}
		return false
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "refused") {
			t.Log(line)
		}
	}
	// Four refused attempts from one IP within seconds: logged once (rate limit).
	if n := strings.Count(logs.String(), "refused connection without the cluster key"); n != 1 {
		t.Fatalf("%d refusals logged; want 1 (the others from the same IP are counted, not logged)", n)
	}
}

func TestTCP_KeyTooShortRefused(t *testing.T) {
	if _, err := ListenTCP(TCPLinkConfig{Bind: "127.0.0.1:0", Key: []byte("short")}); err == nil || !strings.Contains(err.Error(), "haven keygen") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ListenTCP(TCPLinkConfig{Bind: "0.0.0.0:0", Key: testKey}); err == nil || !strings.Contains(err.Error(), "not advertisable") {
		t.Fatalf("unspecified advertise address: err = %v", err)
	}
}

func first(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}

func TestRefusalLog_RateLimitsPerIP(t *testing.T) {
	var r refusalLog
	t0 := time.Unix(1000, 0)
	if _, ok := r.allow("10.0.0.9:1000", t0); !ok {
		t.Fatal("first refusal not logged")
	}
	for i := 0; i < 5; i++ {
		if _, ok := r.allow("10.0.0.9:1001", t0.Add(time.Second)); ok {
			t.Fatal("repeated refusal from the same IP logged")
		}
	}
	if _, ok := r.allow("10.0.0.8:1000", t0.Add(time.Second)); !ok {
		t.Fatal("refusal from another IP not logged")
	}
	n, ok := r.allow("10.0.0.9:2000", t0.Add(refusalInterval+time.Second))
	if !ok || n != 5 {
		t.Fatalf("after the interval: logged %v with %d suppressed; want true, 5", ok, n)
	}
}
