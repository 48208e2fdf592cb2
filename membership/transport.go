package membership

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// boundTransport is memberlist's NetTransport with outgoing TCP connections
// bound to the link's own address. Without it the kernel picks the source
// address, so on loopback every stream appears to come from 127.0.0.1 and on
// a multi-homed host a link's traffic could leave by another link's
// address; peers' refusal logs would then name the wrong address.
type boundTransport struct {
	*memberlist.NetTransport
	local net.IP
}

func newBoundTransport(addr string, port int, c *memberlist.Config) (*boundTransport, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, fmt.Errorf("link address %q is not an IP address", addr)
	}
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{addr}, BindPort: port, Logger: c.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &boundTransport{NetTransport: nt, local: ip}, nil
}

// DialTimeout implements memberlist.Transport with the local address bound.
func (t *boundTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: t.local}}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *boundTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}
