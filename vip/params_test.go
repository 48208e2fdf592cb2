package vip

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

func TestParams_Valid(t *testing.T) {
	cases := []struct {
		name string
		in   map[string]any
		want Params
	}{
		{"v4 with prefix", map[string]any{"ip": "192.168.1.75/24", "nic": "eth1", "label": "ethcl1"},
			Params{addr("192.168.1.75"), 24, "eth1", "ethcl1", 10, 100 * time.Millisecond, 0}},
		{"ipaddr2 names", map[string]any{"ip": "10.0.0.5", "cidr_netmask": "24", "iflabel": "x", "arp_count": 5, "arp_interval": 200},
			Params{addr("10.0.0.5"), 24, "", "x", 5, 200 * time.Millisecond, 0}},
		{"dotted netmask, interval string ms", map[string]any{"ip": "10.0.0.5", "cidr_netmask": "255.255.0.0", "arp_interval": "250"},
			Params{addr("10.0.0.5"), 16, "", "", 10, 250 * time.Millisecond, 0}},
		{"durations", map[string]any{"ip": "10.0.0.5", "arp_interval": "50ms", "reannounce": "30s", "arp_count": float64(0)},
			Params{addr("10.0.0.5"), -1, "", "", 0, 50 * time.Millisecond, 30 * time.Second}},
		{"v6", map[string]any{"ip": "fd00::5/64"},
			Params{addr("fd00::5"), 64, "", "", 10, 100 * time.Millisecond, 0}},
		{"v6 netmask", map[string]any{"ip": "fd00::5", "cidr_netmask": 64, "reannounce": 10},
			Params{addr("fd00::5"), 64, "", "", 10, 100 * time.Millisecond, 10 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, probs := ParseParams(c.in)
			if len(probs) > 0 {
				t.Fatalf("problems: %v", probs)
			}
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParams_Problems(t *testing.T) {
	cases := []struct {
		in      map[string]any
		key     string
		contain string
	}{
		{map[string]any{}, "ip", "required"},
		{map[string]any{"ip": 5}, "ip", "must be a string"},
		{map[string]any{"ip": "10.0.0.300/24"}, "ip", "not an address"},
		{map[string]any{"ip": "not-an-ip"}, "ip", "not an IP"},
		{map[string]any{"ip": "224.0.0.1"}, "ip", "cannot be a virtual IP"},
		{map[string]any{"ip": "fe80::1/64"}, "ip", "link-local"},
		{map[string]any{"ip": "10.0.0.5/24", "cidr_netmask": 16}, "cidr_netmask", "contradicts"},
		{map[string]any{"ip": "10.0.0.5", "cidr_netmask": 33}, "cidr_netmask", "out of range"},
		{map[string]any{"ip": "10.0.0.5", "cidr_netmask": "255.0.255.0"}, "cidr_netmask", "contiguous"},
		{map[string]any{"ip": "10.0.0.5", "nic": "a very long interface"}, "nic", "not an interface name"},
		{map[string]any{"ip": "10.0.0.5", "nic": "eth1", "label": "waytoolongx"}, "label", "15"},
		{map[string]any{"ip": "10.0.0.5", "label": "a:b"}, "label", "tag after"},
		{map[string]any{"ip": "fd00::5/64", "label": "x"}, "label", "IPv4 addresses only"},
		{map[string]any{"ip": "10.0.0.5", "label": "a", "iflabel": "b"}, "iflabel", "not both"},
		{map[string]any{"ip": "10.0.0.5", "arp_count": -1}, "arp_count", "out of range"},
		{map[string]any{"ip": "10.0.0.5", "arp_count": "many"}, "arp_count", "not an integer"},
		{map[string]any{"ip": "10.0.0.5", "arp_interval": "soon"}, "arp_interval", "not understood"},
		{map[string]any{"ip": "10.0.0.5", "arp_interval": 0}, "arp_interval", "out of range"},
		{map[string]any{"ip": "10.0.0.5", "reannounce": "10ms"}, "reannounce", "too short"},
		{map[string]any{"ip": "10.0.0.5", "broadcast": "x"}, "broadcast", "unknown parameter"},
	}
	for _, c := range cases {
		probs := Type{}.Validate(c.in)
		found := false
		for _, p := range probs {
			if p.Key == c.key && strings.Contains(p.Msg, c.contain) {
				found = true
			}
		}
		if !found {
			t.Errorf("Validate(%v) = %v; want a problem on %q containing %q", c.in, probs, c.key, c.contain)
		}
	}
}

func TestParams_AllProblemsAtOnce(t *testing.T) {
	probs := Type{}.Validate(map[string]any{"ip": "bad", "arp_count": -3, "nope": 1})
	keys := map[string]bool{}
	for _, p := range probs {
		keys[p.Key] = true
	}
	for _, k := range []string{"ip", "arp_count", "nope"} {
		if !keys[k] {
			t.Errorf("no problem reported for %q in %v", k, probs)
		}
	}
}

func TestType_NewRejectsBadParams(t *testing.T) {
	_, err := Type{}.New(model.Resource{ID: "v", Params: map[string]any{"ip": "x"}}, model.AgentEnv{})
	if err == nil || !strings.Contains(err.Error(), "ip:") {
		t.Fatalf("New with a bad ip: %v", err)
	}
	if d := (Type{}).Defaults(); d.MonitorInterval.D() != 10*time.Second || d.StartTimeout.D() != 20*time.Second {
		t.Fatalf("defaults %+v", d)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
