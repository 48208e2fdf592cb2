package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/havenha/haven/engine/model"
)

// TypeName is the resource type's name in the configuration file.
const TypeName = "vip"

// Type is the `vip` resource type (a model.AgentType).
type Type struct{}

var _ model.AgentType = Type{}

// Validate checks params without touching the system.
func (Type) Validate(params map[string]any) []model.ParamProblem {
	_, probs := ParseParams(params)
	return probs
}

// Defaults are IPaddr2's operation defaults (monitor every 10 s, 20 s
// timeouts).
func (Type) Defaults() model.OpDefaults {
	return model.OpDefaults{
		MonitorInterval: model.Duration(10 * time.Second),
		MonitorTimeout:  model.Duration(20 * time.Second),
		StartTimeout:    model.Duration(20 * time.Second),
		StopTimeout:     model.Duration(20 * time.Second),
	}
}

// New builds the agent for one vip resource (no I/O).
func (Type) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	p, probs := ParseParams(res.Params)
	if len(probs) > 0 {
		errs := make([]error, 0, len(probs))
		for _, pr := range probs {
			errs = append(errs, fmt.Errorf("%s: %s", pr.Key, pr.Msg))
		}
		return nil, fmt.Errorf("vip %s: %w", res.ID, errors.Join(errs...))
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := NewAgent(res.ID, p, log)
	a.guard = env.Guard
	return a, nil
}

// Agent holds one virtual IP on this node. All netlink calls act in the
// network namespace of the calling thread (the agent process's namespace);
// the agent never switches namespaces. Background announcements use only
// sockets opened by Start, so they stay in Start's namespace too.
type Agent struct {
	id  string
	p   Params
	log *slog.Logger

	mu  sync.Mutex
	ann *announcer // the running burst / re-announcer, if any

	// guard, when not nil, deletes the address if the agent process dies
	// (model.AgentEnv.Guard; see Teardown).
	guard model.Guard
}

// NewAgent builds an agent from already checked params.
func NewAgent(id string, p Params, log *slog.Logger) *Agent {
	return &Agent{id: id, p: p, log: log.With("resource", id, "vip", p.IP.String())}
}

// Params returns the agent's parameters.
func (a *Agent) Params() Params { return a.p }

// Start adds the address (idempotently) and announces it: the first frame
// is sent before Start returns, the rest of the burst (and the periodic
// re-announcement, if configured) continues in the background until Stop,
// the next Start, or Close. ctx bounds Start itself only: the caller's
// operation context is usually cancelled as soon as Start returns, and the
// burst must outlive it.
func (a *Agent) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start vip %s: %w", a.p.IP, err)
	}
	link, err := a.resolveLink()
	if err != nil {
		return fmt.Errorf("start vip %s: %w", a.p.IP, err)
	}
	nic := link.Attrs().Name
	if err := linkUsable(link); err != nil {
		// IPaddr2 would bring the interface up; haven does not override an
		// operator's (or a fault test's) decision, and a VIP on a dead
		// link serves nobody: fail so the cluster places it elsewhere.
		return fmt.Errorf("start vip %s: %w", a.p.IP, err)
	}
	if a.p.Label != "" && len(nic)+1+len(a.p.Label) > labelMax {
		return fmt.Errorf("start vip %s on %s: label %q is longer than %d characters", a.p.IP, nic, nic+":"+a.p.Label, labelMax)
	}
	want, err := a.wantedAddr(link)
	if err != nil {
		return fmt.Errorf("start vip %s on %s: %w", a.p.IP, nic, err)
	}
	if err := a.ensureAddr(link, want); err != nil {
		return fmt.Errorf("add vip %s on %s: %w", want.IPNet, nic, err)
	}
	a.hold(link, want.IPNet)
	if a.p.IP.Is6() {
		a.waitLocal(ctx, nic)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start vip %s on %s: %w", a.p.IP, nic, err)
	}
	a.announce(link)
	return nil
}

// maxLocalWait bounds how long Start waits for an IPv6 VIP to become local.
const maxLocalWait = time.Second

// waitLocal waits until the kernel routes the VIP locally. IPv4 addresses are
// ready when the netlink request is acknowledged; IPv6 ones, even with
// NODAD, are completed by a kernel work item that on a loaded host can run
// measurably later, and until then packets to the VIP are not delivered
// locally. It waits at most maxLocalWait (or ctx), then goes on with a
// warning: announcing late is worse than announcing a moment early.
func (a *Agent) waitLocal(ctx context.Context, nic string) {
	deadline := time.Now().Add(maxLocalWait)
	for tries := 0; ; tries++ {
		rs, err := netlink.RouteGet(a.p.IP.AsSlice())
		if err == nil && len(rs) > 0 && rs[0].Type == unix.RTN_LOCAL {
			if tries > 0 {
				a.log.Debug("vip became local", "nic", nic, "polls", tries)
			}
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			a.log.Warn("vip not yet routed locally; announcing anyway", "nic", nic, "waited", maxLocalWait, "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Millisecond):
		}
	}
}

// Stop stops announcing and removes the address; an absent address is
// success.
func (a *Agent) Stop(ctx context.Context) error {
	a.stopAnnouncing()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stop vip %s: %w", a.p.IP, err)
	}
	links, err := a.linksHolding()
	if err != nil {
		return fmt.Errorf("stop vip %s: %w", a.p.IP, err)
	}
	for _, h := range links {
		if a.p.NIC != "" && h.link.Attrs().Name != a.p.NIC {
			continue // ours is only on nic; leave other copies alone
		}
		for _, ad := range h.addrs {
			err := netlink.AddrDel(h.link, &netlink.Addr{IPNet: ad.IPNet})
			if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return fmt.Errorf("remove vip %s from %s: %w", ad.IPNet, h.link.Attrs().Name, err)
			}
			a.log.Info("vip removed", "nic", h.link.Attrs().Name, "addr", ad.IPNet.String())
		}
	}
	if a.guard != nil {
		a.guard.Release(a.guardKey())
	}
	return nil
}

// Monitor reports StatusRunning when the address is on the NIC and the link
// is up with carrier, StatusStopped when it is absent, and StatusFailed (with
// the reason) when it is present on a link that is down.
func (a *Agent) Monitor(ctx context.Context) (model.Status, error) {
	if err := ctx.Err(); err != nil {
		return model.StatusStopped, fmt.Errorf("monitor vip %s: %w", a.p.IP, err)
	}
	links, err := a.linksHolding()
	if err != nil {
		return model.StatusStopped, fmt.Errorf("monitor vip %s: %w", a.p.IP, err)
	}
	var held netlink.Link
	for _, h := range links {
		if a.p.NIC == "" || h.link.Attrs().Name == a.p.NIC {
			held = h.link
			a.hold(h.link, h.addrs[0].IPNet) // an address found again after a restart of haven
			break
		}
	}
	if held == nil {
		return model.StatusStopped, nil
	}
	if err := linkUsable(held); err != nil {
		return model.StatusFailed, fmt.Errorf("vip %s: %w", a.p.IP, err)
	}
	return model.StatusRunning, nil
}

// linkUsable reports why a link cannot carry traffic: administratively down
// or without carrier.
func linkUsable(link netlink.Link) error {
	attrs := link.Attrs()
	switch {
	case attrs.Flags&net.FlagUp == 0:
		return fmt.Errorf("interface %s is administratively down", attrs.Name)
	case attrs.RawFlags&unix.IFF_LOWER_UP == 0:
		return fmt.Errorf("interface %s has no carrier (operstate %s)", attrs.Name, attrs.OperState)
	}
	return nil
}

// Close stops any background announcing without touching the address (for
// an agent shutting down while its resources keep running).
func (a *Agent) Close() error {
	a.stopAnnouncing()
	return nil
}

type holding struct {
	link  netlink.Link
	addrs []netlink.Addr
}

// linksHolding lists the interfaces that carry the VIP, with the matching
// address entries (there can be more than one prefix length).
func (a *Agent) linksHolding() ([]holding, error) {
	all, err := addrList(nil, family(a.p.IP))
	if err != nil {
		return nil, err
	}
	byIndex := map[int]*holding{}
	var order []int
	for _, ad := range all {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok || ip.Unmap() != a.p.IP {
			continue
		}
		h := byIndex[ad.LinkIndex]
		if h == nil {
			link, err := netlink.LinkByIndex(ad.LinkIndex)
			if err != nil {
				var nf netlink.LinkNotFoundError
				if errors.As(err, &nf) {
					continue // vanished meanwhile
				}
				return nil, fmt.Errorf("interface %d: %w", ad.LinkIndex, err)
			}
			h = &holding{link: link}
			byIndex[ad.LinkIndex] = h
			order = append(order, ad.LinkIndex)
		}
		h.addrs = append(h.addrs, ad)
	}
	out := make([]holding, 0, len(order))
	for _, i := range order {
		out = append(out, *byIndex[i])
	}
	return out, nil
}

// resolveLink finds the NIC: the configured one, else the interface already
// holding the VIP, else the one interface whose subnet contains it.
func (a *Agent) resolveLink() (netlink.Link, error) {
	if a.p.NIC != "" {
		link, err := netlink.LinkByName(a.p.NIC)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", a.p.NIC, err)
		}
		return link, nil
	}
	held, err := a.linksHolding()
	if err != nil {
		return nil, err
	}
	if len(held) == 1 {
		return held[0].link, nil
	}
	all, err := addrList(nil, family(a.p.IP))
	if err != nil {
		return nil, err
	}
	var cands []int
	seen := map[int]bool{}
	for _, ad := range all {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok || ip.Unmap() == a.p.IP {
			continue
		}
		ones, _ := ad.Mask.Size()
		pfx := netip.PrefixFrom(ip.Unmap(), ones).Masked()
		if pfx.Contains(a.p.IP) && !seen[ad.LinkIndex] && !(a.p.IP.Is6() && ip.IsLinkLocalUnicast()) {
			seen[ad.LinkIndex] = true
			cands = append(cands, ad.LinkIndex)
		}
	}
	names := func() []string {
		var ns []string
		for _, i := range cands {
			if l, err := netlink.LinkByIndex(i); err == nil {
				ns = append(ns, l.Attrs().Name)
			}
		}
		return ns
	}
	switch len(cands) {
	case 0:
		return nil, fmt.Errorf("no interface has a subnet containing %s; set nic", a.p.IP)
	case 1:
		link, err := netlink.LinkByIndex(cands[0])
		if err != nil {
			return nil, fmt.Errorf("interface %d: %w", cands[0], err)
		}
		return link, nil
	}
	return nil, fmt.Errorf("several interfaces have a subnet containing %s (%v); set nic", a.p.IP, names())
}

// wantedAddr is the address entry Start installs.
func (a *Agent) wantedAddr(link netlink.Link) (*netlink.Addr, error) {
	bits := a.p.Bits
	if bits < 0 {
		bits = a.p.IP.BitLen()
		addrs, err := addrList(link, family(a.p.IP))
		if err != nil {
			return nil, err
		}
		for _, ad := range addrs {
			ip, ok := netip.AddrFromSlice(ad.IP)
			if !ok || ip.Unmap() == a.p.IP {
				continue
			}
			ones, _ := ad.Mask.Size()
			if netip.PrefixFrom(ip.Unmap(), ones).Masked().Contains(a.p.IP) {
				bits = ones
				break
			}
		}
	}
	ipn := &net.IPNet{IP: a.p.IP.AsSlice(), Mask: net.CIDRMask(bits, a.p.IP.BitLen())}
	ad := &netlink.Addr{IPNet: ipn}
	if a.p.IP.Is4() {
		if a.p.Label != "" {
			ad.Label = link.Attrs().Name + ":" + a.p.Label
		} else {
			ad.Label = link.Attrs().Name
		}
	} else {
		// No duplicate address detection: the address must answer at once
		// (failover), and the cluster guarantees a single owner.
		ad.Flags = unix.IFA_F_NODAD
	}
	return ad, nil
}

// ensureAddr makes the NIC carry exactly want for the VIP: present entries
// with another prefix length or label are replaced.
func (a *Agent) ensureAddr(link netlink.Link, want *netlink.Addr) error {
	nic := link.Attrs().Name
	wantBits, _ := want.Mask.Size()
	if a.p.IP.Is4() && wantBits < 32 {
		// A VIP in the subnet of the node's own address is a secondary
		// address, and the kernel deletes secondaries with their primary
		// unless promote_secondaries is on; if the VIP came first, the
		// node's own address would be the secondary. Turning it on (the
		// systemd default) keeps both safe whichever goes first.
		if err := setPromoteSecondaries(link.Attrs().Index); err != nil {
			a.log.Warn("cannot enable promote_secondaries; the vip is deleted if the primary address of its subnet is removed",
				"nic", nic, "err", err)
		}
	}
	present, err := addrList(link, family(a.p.IP))
	if err != nil {
		return err
	}
	ok := false
	for _, ad := range present {
		ip, _ := netip.AddrFromSlice(ad.IP)
		if ip.Unmap() != a.p.IP {
			continue
		}
		bits, _ := ad.Mask.Size()
		if bits == wantBits && (a.p.IP.Is6() || ad.Label == want.Label) && (a.p.IP.Is4() || ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0) {
			ok = true
			continue
		}
		// Wrong prefix or label (the kernel's replace keeps the old label
		// and treats another prefix as another address): delete it.
		a.log.Info("replacing vip entry", "nic", nic, "have", ad.String(), "want", want.String())
		if err := netlink.AddrDel(link, &netlink.Addr{IPNet: ad.IPNet}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove stale entry %s: %w", ad.IPNet, err)
		}
	}
	if ok {
		a.log.Debug("vip already present", "nic", nic)
		return nil
	}
	if err := netlink.AddrReplace(link, want); err != nil {
		return err
	}
	a.log.Info("vip added", "nic", nic, "addr", want.IPNet.String(), "label", want.Label)
	return nil
}

// addrList is netlink.AddrList retried when a concurrent change interrupts
// the dump.
func addrList(link netlink.Link, fam int) ([]netlink.Addr, error) {
	var err error
	for range 5 {
		var as []netlink.Addr
		as, err = netlink.AddrList(link, fam)
		if err == nil {
			return as, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, fmt.Errorf("list addresses: %w", err)
}

func family(ip netip.Addr) int {
	if ip.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}
