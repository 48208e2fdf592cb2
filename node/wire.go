package node

// wire.go builds the real seams: gossip membership, raft over TCP, and the
// lease wire over UDP, each on the node's first address.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/havenha/haven/consensus"
	"github.com/havenha/haven/leasewire"
	"github.com/havenha/haven/membership"
)

func (n *Node) gossip() (Membership, error) {
	return membership.New(membership.Config{Cluster: n.cfg.Cluster, NodeName: n.cfg.Name, Keys: n.cfg.Keys,
		Version: n.cfg.Version, Logger: n.log})
}

// raftBind is the raft listener's host:port.
func (n *Node) raftBind() string {
	_, raftPort, _ := n.self.Ports()
	return net.JoinHostPort(n.self.Addresses[0], strconv.Itoa(raftPort))
}

// apiBind is the TCP API's (and, in UDP, the lease wire's) host:port.
func (n *Node) apiBind() string {
	_, _, apiPort := n.self.Ports()
	return net.JoinHostPort(n.self.Addresses[0], strconv.Itoa(apiPort))
}

func (n *Node) tcpLink() (consensus.Link, error) {
	return consensus.ListenTCP(consensus.TCPLinkConfig{Bind: n.raftBind(), Key: n.cfg.Keys.Raft, Logger: n.log})
}

// udpLeaseWire binds this node's lease wire: UDP on its first address and
// the API's port number (the API itself is TCP). Each node's address comes
// from the committed configuration (the startup file until one is
// committed). Datagrams are authenticated with the key derived from the
// cluster key.
func (n *Node) udpLeaseWire() (LeaseTransport, error) {
	_, _, apiPort := n.self.Ports()
	conn, err := net.ListenPacket("udp", n.apiBind())
	if err != nil {
		return nil, fmt.Errorf("lease renewals use UDP on the API port: %w; is another agent using api_port %d on this host?", err, apiPort)
	}
	w, err := leasewire.New(leasewire.Config{
		Conn: conn, Key: n.cfg.Keys.Lease, Name: n.cfg.Name, Logger: n.log,
		// No resend: a lost datagram is retried by the next round, a lease
		// round later (lease.Sender.Run).
		Addr: func(node string) (net.Addr, error) {
			c, _, err := n.st.Cluster()
			if err != nil || c == nil {
				c = n.cfg.Cluster
			}
			nd, ok := c.Node(node)
			if !ok {
				return nil, fmt.Errorf("node %s is not in the configuration", node)
			}
			_, _, port := nd.Ports()
			if ip, err := netip.ParseAddr(nd.Addresses[0]); err == nil {
				// The usual case, without the resolver's allocations on every renewal.
				return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), nil
			}
			return net.ResolveUDPAddr("udp", net.JoinHostPort(nd.Addresses[0], strconv.Itoa(port)))
		},
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}
