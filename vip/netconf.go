package vip

import (
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ipv4DevconfPromoteSecondaries is IPV4_DEVCONF_PROMOTE_SECONDARIES from
// <linux/ip.h> (the 1-based index in IFLA_INET_CONF); x/sys does not export
// the IPV4_DEVCONF_* enum.
const ipv4DevconfPromoteSecondaries = 20

// setPromoteSecondaries sets net.ipv4.conf.<ifindex>.promote_secondaries=1
// over rtnetlink (RTM_SETLINK, IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF) rather
// than /proc/sys, which is read-only in containers that still hold
// CAP_NET_ADMIN. It acts in the calling thread's network namespace.
func setPromoteSecondaries(ifindex int) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	af := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	inet := af.AddRtAttr(unix.AF_INET, nil)
	conf := inet.AddRtAttr(unix.IFLA_INET_CONF, nil)
	conf.AddRtAttr(ipv4DevconfPromoteSecondaries, nl.Uint32Attr(1))
	req.AddData(af)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set promote_secondaries on interface %d: %w", ifindex, err)
	}
	return nil
}
