package consensus

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// InmemNetwork connects in-process nodes over raft's InmemTransport, with
// haven RPC delivered by direct calls, and can cut links to simulate
// partitions. For tests and the simulator; nothing leaves the process.
type InmemNetwork struct {
	mu    sync.Mutex
	links map[raft.ServerAddress]*InmemLink
	cut   map[[2]raft.ServerAddress]bool
}

// NewInmemNetwork returns an empty network.
func NewInmemNetwork() *InmemNetwork {
	return &InmemNetwork{links: map[raft.ServerAddress]*InmemLink{}, cut: map[[2]raft.ServerAddress]bool{}}
}

// Link creates the link of the node at addr and connects it to every other
// link not cut from it.
func (n *InmemNetwork) Link(addr raft.ServerAddress) *InmemLink {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, t := raft.NewInmemTransportWithTimeout(addr, 2*time.Second)
	l := &InmemLink{net: n, addr: addr, trans: t}
	for a, other := range n.links {
		if !n.cut[pair(a, addr)] {
			t.Connect(a, other.trans)
			other.trans.Connect(addr, t)
		}
	}
	n.links[addr] = l
	return l
}

func pair(a, b raft.ServerAddress) [2]raft.ServerAddress {
	if a > b {
		a, b = b, a
	}
	return [2]raft.ServerAddress{a, b}
}

// Partition cuts every link between a node in group and a node outside it.
func (n *InmemNetwork) Partition(group ...raft.ServerAddress) {
	n.mu.Lock()
	defer n.mu.Unlock()
	in := map[raft.ServerAddress]bool{}
	for _, a := range group {
		in[a] = true
	}
	for a, la := range n.links {
		for b, lb := range n.links {
			if a < b && in[a] != in[b] {
				n.cut[pair(a, b)] = true
				la.trans.Disconnect(b)
				lb.trans.Disconnect(a)
			}
		}
	}
}

// Heal reconnects every pair of links.
func (n *InmemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = map[[2]raft.ServerAddress]bool{}
	addrs := make([]raft.ServerAddress, 0, len(n.links))
	for a := range n.links {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	for _, a := range addrs {
		for _, b := range addrs {
			if a != b {
				n.links[a].trans.Connect(b, n.links[b].trans)
			}
		}
	}
}

func (n *InmemNetwork) reachable(from, to raft.ServerAddress) (*InmemLink, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.links[to]
	if !ok || l.closed || n.cut[pair(from, to)] {
		return nil, false
	}
	return l, true
}

// InmemLink is one node's Link on an InmemNetwork.
type InmemLink struct {
	net   *InmemNetwork
	addr  raft.ServerAddress
	trans *raft.InmemTransport

	mu      sync.Mutex
	handler Handler
	closed  bool
}

// Addr is the link's address.
func (l *InmemLink) Addr() raft.ServerAddress { return l.addr }

// Transport implements Link.
func (l *InmemLink) Transport() raft.Transport { return noCloseTransport{l.trans} }

// Serve implements Link.
func (l *InmemLink) Serve(h Handler) {
	l.mu.Lock()
	l.handler = h
	l.mu.Unlock()
}

// Call implements Link. Requests and responses go through JSON as on TCP.
func (l *InmemLink) Call(ctx context.Context, addr raft.ServerAddress, req Request) (Response, error) {
	peer, ok := l.net.reachable(l.addr, addr)
	if !ok {
		return Response{}, fmt.Errorf("connect to %s: %w: unreachable", addr, ErrNotDelivered)
	}
	peer.mu.Lock()
	h := peer.handler
	peer.mu.Unlock()
	if h == nil {
		return Response{Error: "node is not serving requests yet"}, nil
	}
	b, _ := json.Marshal(req)
	var in Request
	json.Unmarshal(b, &in)
	resp := h(ctx, in)
	if _, ok := l.net.reachable(l.addr, addr); !ok {
		return Response{}, fmt.Errorf("read %s reply from %s: connection lost", req.Op, addr)
	}
	b, _ = json.Marshal(resp)
	var out Response
	json.Unmarshal(b, &out)
	return out, nil
}

// Close implements Link.
func (l *InmemLink) Close() error {
	l.net.mu.Lock()
	l.closed = true
	l.net.mu.Unlock()
	l.trans.Close()
	return nil
}
