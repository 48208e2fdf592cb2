package membership

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/model"
)

func TestMemberlistConfig_ProfileAndOverride(t *testing.T) {
	c := &model.Cluster{Cluster: model.Settings{Name: "x"}, Nodes: []model.Node{{Name: "a", Addresses: []string{"127.0.0.1"}}}}
	keys, _ := DeriveKeys([]byte("0123456789abcdef0123"))
	m, err := New(Config{Cluster: c, NodeName: "a", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	mc := m.memberlistConfig(&link{addr: "127.0.0.1", port: 7946})
	if mc.ProbeInterval != 500*time.Millisecond || mc.ProbeTimeout != 250*time.Millisecond || mc.GossipInterval != 500*time.Millisecond || mc.SuspicionMult != 2 {
		t.Fatalf("lan profile not applied: %v %v %v %d", mc.ProbeInterval, mc.ProbeTimeout, mc.GossipInterval, mc.SuspicionMult)
	}
	if mc.AwarenessMaxMultiplier < 2 || !mc.GossipVerifyIncoming || len(mc.SecretKey) != 32 || mc.Label != "haven/x" {
		t.Fatalf("lifeguard, key or label missing: %+v", mc)
	}
	c.Cluster.Profile = model.ProfileFast
	c.Cluster.Timing.ProbeInterval = model.Duration(333 * time.Millisecond)
	m, err = New(Config{Cluster: c, NodeName: "a", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	mc = m.memberlistConfig(&link{addr: "127.0.0.1", port: 7946})
	if mc.ProbeInterval != 333*time.Millisecond || mc.ProbeTimeout != 125*time.Millisecond {
		t.Fatalf("explicit timing does not override the fast profile: %v %v", mc.ProbeInterval, mc.ProbeTimeout)
	}
	c.Cluster.Timing.ProbeTimeout = model.Duration(time.Second)
	if _, err := New(Config{Cluster: c, NodeName: "a", Keys: keys}); err == nil || !strings.Contains(err.Error(), "probe_timeout") {
		t.Fatalf("contradictory timing accepted: %v", err)
	}
	if _, err := New(Config{Cluster: c, NodeName: "nope", Keys: keys}); err == nil {
		t.Fatal("unknown node accepted")
	}
	if _, err := New(Config{Cluster: c, NodeName: "a"}); err == nil {
		t.Fatal("missing key accepted")
	}
}

func TestLogBridge_RefusalsNameTheAddress(t *testing.T) {
	var lb logBuf
	var refused []string
	b := newLogBridge(slog.New(slog.NewTextHandler(&lb, nil)), 0, func(addr, reason string) { refused = append(refused, addr+" "+reason) })
	l := b.logger()
	l.Printf("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=10.1.2.3:7946")
	l.Printf("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=10.1.2.3:7946") // rate-limited
	l.Printf("[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted from=10.9.9.9:5555")
	l.Printf(`[ERR] memberlist: discarding packet with unacceptable label "haven/other": from=10.7.7.7:7946`)
	l.Printf("[INFO] memberlist: Suspect b has failed, no acks received")
	out := lb.String()
	if strings.Count(out, "gossip refused") != 3 || !strings.Contains(out, "remote=10.1.2.3:7946") || !strings.Contains(out, "remote=10.9.9.9:5555") || !strings.Contains(out, "remote=10.7.7.7:7946") {
		t.Fatalf("refusals not surfaced once per address:\n%s", out)
	}
	if len(refused) != 4 || !strings.Contains(out, "Suspect b has failed") || !strings.Contains(out, "component=memberlist") {
		t.Fatalf("bridge lost lines: %v\n%s", refused, out)
	}
}
