package vip

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
)

// Defaults of the announcement burst: IPaddr2's own pattern (its send_arp
// sends a request and a reply every 200 ms, five times: 10 frames 100 ms
// apart).
const (
	DefaultArpCount    = 10
	DefaultArpInterval = 100 * time.Millisecond
	// MaxArpCount bounds a burst (a typo must not flood a LAN for hours).
	MaxArpCount = 1000
	// MinArpInterval and MinReannounce keep announcements from flooding.
	MinArpInterval = 1 * time.Millisecond
	MinReannounce  = 100 * time.Millisecond
	// labelMax is IFNAMSIZ-1: the kernel's limit for "<nic>:<label>".
	labelMax = 15
)

// Params are a vip resource's decoded parameters.
type Params struct {
	// IP is the address; Bits its prefix length, or -1 when neither ip
	// nor cidr_netmask gave one (Start then takes the prefix of the subnet
	// on the NIC that contains the address, or a host prefix).
	IP   netip.Addr
	Bits int
	// NIC is the interface ("" = the one whose subnet contains IP).
	NIC string
	// Label is the tag after "<nic>:" (IPv4 only).
	Label string
	// ArpCount frames are sent, ArpInterval apart, first one at once.
	ArpCount    int
	ArpInterval time.Duration
	// Reannounce, when non-zero, re-sends one announcement round at this
	// interval while the address is held.
	Reannounce time.Duration
}

// known lists the accepted keys, with what each expects (for messages).
var known = map[string]string{
	"ip":           "the address, IPv4 or IPv6, optionally with /prefix (10.0.0.5/24, fd00::5/64)",
	"cidr_netmask": "prefix length (24) or IPv4 netmask (255.255.255.0)",
	"nic":          "interface name (default: the interface whose subnet contains ip)",
	"label":        "address label tag; the address is labelled <nic>:<label>, 15 characters at most (IPv4 only)",
	"iflabel":      "IPaddr2's name for label",
	"arp_count":    "number of gratuitous ARP / neighbour advertisement frames (default 10; 0 = none)",
	"arp_interval": "time between frames: a duration (100ms) or, as in IPaddr2, a number of milliseconds (default 100ms)",
	"reannounce":   "re-announce periodically at this interval while running (a duration such as 30s; default off)",
}

func knownKeys() string {
	ks := make([]string, 0, len(known))
	for k := range known {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// ParseParams decodes and checks params; it returns every problem found,
// keyed by parameter. It touches nothing on the system.
func ParseParams(raw map[string]any) (Params, []model.ParamProblem) {
	p := Params{Bits: -1, ArpCount: DefaultArpCount, ArpInterval: DefaultArpInterval}
	var probs []model.ParamProblem
	bad := func(key, format string, a ...any) {
		probs = append(probs, model.ParamProblem{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			bad(k, "unknown parameter %q; expected one of %s", k, knownKeys())
		}
	}

	// ip and prefix
	ipText, ok := stringParam(raw, "ip")
	switch {
	case !ok && raw["ip"] != nil:
		bad("ip", "must be a string: %s", known["ip"])
	case ipText == "":
		bad("ip", "is required: %s", known["ip"])
	default:
		if strings.Contains(ipText, "/") {
			pfx, err := netip.ParsePrefix(ipText)
			if err != nil {
				bad("ip", "%q is not an address with prefix: %s", ipText, known["ip"])
			} else {
				p.IP, p.Bits = pfx.Addr(), pfx.Bits()
			}
		} else {
			a, err := netip.ParseAddr(ipText)
			if err != nil {
				bad("ip", "%q is not an IP address: %s", ipText, known["ip"])
			} else {
				p.IP = a
			}
		}
		if p.IP.IsValid() {
			if p.IP.Zone() != "" {
				bad("ip", "%q: a zone is not allowed; name the interface with nic", ipText)
			}
			p.IP = p.IP.Unmap()
			if p.IP.IsUnspecified() || p.IP.IsMulticast() || p.IP.IsLoopback() || p.IP == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				bad("ip", "%s cannot be a virtual IP (unspecified, multicast, broadcast or loopback)", p.IP)
			}
			if p.IP.Is6() && p.IP.IsLinkLocalUnicast() {
				bad("ip", "%s is link-local; a virtual IP must be routable", p.IP)
			}
		}
	}
	if v, present := raw["cidr_netmask"]; present {
		bits, err := parseNetmask(v, p.IP)
		switch {
		case err != nil:
			bad("cidr_netmask", "%v; expected %s", err, known["cidr_netmask"])
		case p.Bits >= 0 && p.Bits != bits:
			bad("cidr_netmask", "/%d contradicts the prefix /%d given in ip", bits, p.Bits)
		default:
			p.Bits = bits
		}
	}

	// nic
	if v, present := raw["nic"]; present {
		s, ok := v.(string)
		switch {
		case !ok:
			bad("nic", "must be a string: %s", known["nic"])
		case s == "" || len(s) > labelMax || strings.ContainsAny(s, " /:\t\n"):
			bad("nic", "%q is not an interface name (1-15 characters, no spaces, '/' or ':')", s)
		default:
			p.NIC = s
		}
	}

	// label / iflabel
	if _, both := raw["iflabel"]; both && raw["label"] != nil {
		bad("iflabel", "give label or iflabel, not both")
	}
	for _, key := range []string{"label", "iflabel"} {
		v, present := raw[key]
		if !present {
			continue
		}
		s, ok := v.(string)
		switch {
		case !ok:
			bad(key, "must be a string: %s", known["label"])
		case s == "":
		case strings.ContainsAny(s, " :/\t\n"):
			bad(key, "%q: use only the tag after \"<nic>:\", without spaces, ':' or '/'", s)
		case p.IP.Is6():
			bad(key, "labels apply to IPv4 addresses only; %s is IPv6", p.IP)
		case p.NIC != "" && len(p.NIC)+1+len(s) > labelMax:
			bad(key, "%q makes the label %q of %d characters; the kernel allows %d", s, p.NIC+":"+s, len(p.NIC)+1+len(s), labelMax)
		case len(s) > labelMax-2:
			bad(key, "%q is too long: \"<nic>:<label>\" must fit in %d characters", s, labelMax)
		default:
			p.Label = s
		}
	}

	// announcements
	if v, present := raw["arp_count"]; present {
		n, err := intParam(v)
		switch {
		case err != nil:
			bad("arp_count", "%v; expected %s", err, known["arp_count"])
		case n < 0 || n > MaxArpCount:
			bad("arp_count", "%d is out of range; expected 0 to %d", n, MaxArpCount)
		default:
			p.ArpCount = n
		}
	}
	if v, present := raw["arp_interval"]; present {
		d, err := msDuration(v)
		switch {
		case err != nil:
			bad("arp_interval", "%v; expected %s", err, known["arp_interval"])
		case d < MinArpInterval || d > time.Minute:
			bad("arp_interval", "%v is out of range; expected %v to 1m", d, MinArpInterval)
		default:
			p.ArpInterval = d
		}
	}
	if v, present := raw["reannounce"]; present {
		d, err := durationParam(v)
		switch {
		case err != nil:
			bad("reannounce", "%v; expected %s", err, known["reannounce"])
		case d != 0 && d < MinReannounce:
			bad("reannounce", "%v is too short; expected 0 (off) or at least %v", d, MinReannounce)
		default:
			p.Reannounce = d
		}
	}
	return p, probs
}

func stringParam(raw map[string]any, key string) (string, bool) {
	s, ok := raw[key].(string)
	return strings.TrimSpace(s), ok
}

// intParam accepts YAML/JSON integers and decimal strings.
func intParam(v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case uint64:
		if n > math.MaxInt32 {
			return 0, fmt.Errorf("%d is too large", n)
		}
		return int(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
			return 0, fmt.Errorf("%v is not an integer", n)
		}
		return int(n), nil
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", n)
		}
		return i, nil
	}
	return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
}

// parseNetmask reads a prefix length or a dotted IPv4 netmask.
func parseNetmask(v any, ip netip.Addr) (int, error) {
	max := 128
	if ip.Is4() {
		max = 32
	}
	if s, ok := v.(string); ok && strings.Contains(s, ".") {
		m, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !m.Is4() {
			return 0, fmt.Errorf("%q is not a netmask", s)
		}
		b := m.As4()
		bits := 0
		val := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		for val&0x80000000 != 0 {
			bits++
			val <<= 1
		}
		if val != 0 {
			return 0, fmt.Errorf("%q is not a contiguous netmask", s)
		}
		if !ip.Is4() && ip.IsValid() {
			return 0, fmt.Errorf("a dotted netmask needs an IPv4 ip")
		}
		return bits, nil
	}
	n, err := intParam(v)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > max {
		return 0, fmt.Errorf("/%d is out of range 1-%d", n, max)
	}
	return n, nil
}

// msDuration reads IPaddr2's arp_interval: a bare number is milliseconds;
// a string with a unit is a duration.
func msDuration(v any) (time.Duration, error) {
	if s, ok := v.(string); ok {
		t := strings.TrimSpace(s)
		if _, err := strconv.ParseFloat(t, 64); err != nil {
			d, err := model.ParseDuration(t)
			return d.D(), err
		}
		v = t
	}
	switch n := v.(type) {
	case string:
		f, _ := strconv.ParseFloat(n, 64)
		return time.Duration(f * float64(time.Millisecond)), nil
	case int, int64, uint64, float64:
		i, err := intParam(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(i) * time.Millisecond, nil
	}
	return 0, fmt.Errorf("%v (%T) is not a duration", v, v)
}

// durationParam reads a haven duration (a bare number is seconds, as
// everywhere in the file).
func durationParam(v any) (time.Duration, error) {
	switch n := v.(type) {
	case string:
		d, err := model.ParseDuration(n)
		return d.D(), err
	case int, int64, uint64, float64:
		i, err := intParam(n)
		if err != nil {
			return 0, err
		}
		if i < 0 {
			return 0, fmt.Errorf("%d is negative", i)
		}
		return time.Duration(i) * time.Second, nil
	}
	return 0, fmt.Errorf("%v (%T) is not a duration", v, v)
}
