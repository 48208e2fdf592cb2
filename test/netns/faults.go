package netns

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Direction is the traffic Cut drops, seen from the node.
type Direction int

const (
	// In drops every frame arriving at the node's eth0.
	In Direction = iota + 1
	// Out drops every frame leaving the node's eth0 (ARP and raw frames too).
	Out
	// Both drops both ways.
	Both
)

func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// cutTable is the nftables table Cut installs inside a node namespace.
const cutTable = "havenbed_cut"

// Cut drops traffic on a node's eth0 with nftables inside the node's
// namespace, in the netdev family (ingress and egress hooks), so every
// ethertype is dropped: IP, ARP, neighbour discovery, frames from packet
// sockets. The link and its carrier stay up. A second Cut replaces the first.
func (b *Bed) Cut(node string, d Direction) error {
	if d < In || d > Both {
		return fmt.Errorf("cut %s: direction %v: want In, Out or Both", node, d)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("cut %s: nft(8) is needed: %w", node, err)
	}
	var rules strings.Builder
	fmt.Fprintf(&rules, "table netdev %s {\n", cutTable)
	if d == In || d == Both {
		fmt.Fprintf(&rules, "  chain in { type filter hook ingress device %q priority -500; policy drop; }\n", Dev)
	}
	if d == Out || d == Both {
		fmt.Fprintf(&rules, "  chain out { type filter hook egress device %q priority -500; policy drop; }\n", Dev)
	}
	rules.WriteString("}\n")
	_ = b.uncut(node)
	cmd := b.Command(context.Background(), node, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cut %s %v: nft: %w: %s", node, d, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// udpTable is the nftables table DropUDP installs inside a node namespace.
const udpTable = "havenbed_udp"

// DropUDP drops, inside the node's namespace, every UDP datagram to or
// from port in both directions (a firewall that lets the node's gossip and
// TCP through but not one UDP service). Heal removes it.
func (b *Bed) DropUDP(node string, port int) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("drop udp on %s: port %d is not a port number", node, port)
	}
	rules := fmt.Sprintf(`table inet %s {
  chain in { type filter hook input priority -500; udp dport %d drop; udp sport %d drop; }
  chain out { type filter hook output priority -500; udp dport %d drop; udp sport %d drop; }
}
`, udpTable, port, port, port, port)
	_, _ = b.Exec(node, "nft", "delete", "table", "inet", udpTable)
	cmd := b.Command(context.Background(), node, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("drop udp %d on %s: nft: %w: %s", port, node, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// uncut removes Cut's and DropUDP's tables if present.
func (b *Bed) uncut(node string) error {
	out, err := b.Exec(node, "nft", "list", "tables")
	if err != nil {
		return err
	}
	for _, t := range []struct{ family, name string }{{"netdev", cutTable}, {"inet", udpTable}} {
		if !strings.Contains(out, "table "+t.family+" "+t.name) {
			continue
		}
		if _, err := b.Exec(node, "nft", "delete", "table", t.family, t.name); err != nil {
			return err
		}
	}
	return nil
}

// LinkDown sets the node's eth0 administratively down (the node sees its own
// link down; the kernel drops its IPv6 addresses unless keep_addr_on_down).
func (b *Bed) LinkDown(node string) error {
	_, err := b.ip("-n", b.NS(node), "link", "set", Dev, "down")
	return err
}

// LinkUp sets the node's eth0 up again and re-adds the bed's own addresses
// if the kernel dropped them (IPv6 on link down).
func (b *Bed) LinkUp(node string) error {
	ns := b.NS(node)
	if _, err := b.ip("-n", ns, "link", "set", Dev, "up"); err != nil {
		return err
	}
	if _, err := b.ip("-n", ns, "addr", "replace", b.addr4[node].String(), "dev", Dev); err != nil {
		return err
	}
	if b.opts.IPv6 {
		if _, err := b.ip("-n", ns, "addr", "replace", b.addr6[node].String(), "dev", Dev, "nodad"); err != nil {
			return err
		}
		return b.waitV6Ready([]string{node})
	}
	return nil
}

// PortDown sets the node's switch-side port down: the node sees its carrier
// go away (NO-CARRIER) but keeps its addresses.
func (b *Bed) PortDown(node string) error {
	_, err := b.ip("-n", b.NS(SwitchName), "link", "set", portName(node), "down")
	return err
}

// PortUp undoes PortDown.
func (b *Bed) PortUp(node string) error {
	_, err := b.ip("-n", b.NS(SwitchName), "link", "set", portName(node), "up")
	return err
}

// SilentPartition detaches the node's switch-side port from the bridge: the
// port and the node's carrier stay up, but nothing it sends reaches anyone
// and nothing reaches it (a dead switch port, a bad VLAN change).
func (b *Bed) SilentPartition(node string) error {
	_, err := b.ip("-n", b.NS(SwitchName), "link", "set", portName(node), "nomaster")
	return err
}

// Heal undoes every fault on a node: removes Cut's drops, re-attaches its
// port to the bridge, sets the port and the node's link up (re-adding the
// bed's addresses). Healing a healthy node is a no-op.
func (b *Bed) Heal(node string) error {
	var errs []string
	if err := b.uncut(node); err != nil {
		errs = append(errs, err.Error())
	}
	sw := b.NS(SwitchName)
	if _, err := b.ip("-n", sw, "link", "set", portName(node), "master", Bridge); err != nil {
		errs = append(errs, err.Error())
	}
	if err := b.PortUp(node); err != nil {
		errs = append(errs, err.Error())
	}
	if err := b.LinkUp(node); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("heal %s: %s", node, strings.Join(errs, "; "))
	}
	return nil
}
