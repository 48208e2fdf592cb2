package vip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/havenha/haven/engine/model"
)

// TeardownKind is the guard's teardown kind for a VIP (engine/guard runs
// Teardown for it in the guard process, registered by cmd/haven).
const TeardownKind = "vip-address"

func (a *Agent) guardKey() string { return "vip " + a.p.IP.String() }

// hold asks the guard, if any, to delete the address from link if the
// agent process dies.
func (a *Agent) hold(link netlink.Link, ipn *net.IPNet) {
	if a.guard == nil || ipn == nil {
		return
	}
	a.guard.Hold(a.guardKey(), model.Teardown{Kind: TeardownKind, Args: map[string]string{
		"ip": a.p.IP.String(), "cidr": ipn.String(), "nic": link.Attrs().Name, "ifindex": strconv.Itoa(link.Attrs().Index),
	}})
}

// Teardown deletes a VIP as the guard does when the agent died: every
// entry of args["ip"] on the interface args["ifindex"] (when it still has
// the name args["nic"]; else the interface named nic). It acts in the
// calling process's network namespace, which for the guard is the
// agent's. An absent address or interface is success.
func Teardown(_ context.Context, args map[string]string) error {
	ip, err := netip.ParseAddr(args["ip"])
	if err != nil {
		return fmt.Errorf("vip teardown: ip %q: %w", args["ip"], err)
	}
	ip = ip.Unmap()
	nic := args["nic"]
	var link netlink.Link
	if idx, err := strconv.Atoi(args["ifindex"]); err == nil && idx > 0 {
		if l, err := netlink.LinkByIndex(idx); err == nil && (nic == "" || l.Attrs().Name == nic) {
			link = l
		}
	}
	if link == nil && nic != "" {
		l, err := netlink.LinkByName(nic)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil // the interface is gone, and the address with it
			}
			return fmt.Errorf("vip teardown %s: interface %s: %w", ip, nic, err)
		}
		link = l
	}
	if link == nil {
		return fmt.Errorf("vip teardown %s: no interface given (nic, ifindex)", ip)
	}
	addrs, err := addrList(link, family(ip))
	if err != nil {
		return fmt.Errorf("vip teardown %s on %s: %w", ip, link.Attrs().Name, err)
	}
	for _, ad := range addrs {
		got, ok := netip.AddrFromSlice(ad.IP)
		if !ok || got.Unmap() != ip {
			continue
		}
		if err := netlink.AddrDel(link, &netlink.Addr{IPNet: ad.IPNet}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("vip teardown: remove %s from %s: %w", ad.IPNet, link.Attrs().Name, err)
		}
	}
	return nil
}
