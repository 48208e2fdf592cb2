package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
)

// logBridge turns memberlist's *log.Logger lines ("[ERR] memberlist: ...
// from=ADDR") into slog records, and recognises the lines that mean a peer
// was refused for its key or its cluster so they surface as one clear
// warning per remote address and interval instead of a flood of errors.
//
// memberlist v0.6.0 reports them as (net.go):
//   - "[ERR] memberlist: Decrypt packet failed: <err> from=ADDR" (UDP, wrong
//     key, or no key: plaintext fails authentication);
//   - "[ERR] memberlist: failed to receive: <err> from=ADDR" where err is
//     "no installed keys could decrypt the message", "encryption is
//     configured but remote state is not encrypted" (TCP);
//   - "discarding packet|stream with unacceptable label" (a peer of another
//     cluster: the label carries the cluster name).
type logBridge struct {
	log      *slog.Logger
	link     int
	interval time.Duration
	onRefuse func(addr, reason string)

	mu   sync.Mutex
	last map[string]time.Time
	seen map[string]int
}

func newLogBridge(l *slog.Logger, link int, onRefuse func(addr, reason string)) *logBridge {
	return &logBridge{log: l, link: link, interval: 10 * time.Second, onRefuse: onRefuse,
		last: map[string]time.Time{}, seen: map[string]int{}}
}

func (b *logBridge) logger() *log.Logger { return log.New(b, "", 0) }

var fromAddr = regexp.MustCompile(`from=(\S+)`)

// Reasons a peer's traffic is refused (refusal log attribute "reason").
const (
	ReasonKey     = "wrong or missing cluster key"
	ReasonCluster = "unexpected gossip label: another cluster, or not a haven node"
)

func classify(msg string) string {
	switch {
	case strings.Contains(msg, "Decrypt packet failed"),
		strings.Contains(msg, "no installed keys could decrypt"),
		strings.Contains(msg, "remote state is not encrypted"),
		strings.Contains(msg, "remote state is encrypted and encryption is not configured"),
		strings.Contains(msg, "message authentication failed"):
		return ReasonKey
	case strings.Contains(msg, "unacceptable label"):
		return ReasonCluster
	}
	return ""
}

// Write receives one formatted line from log.Logger.
func (b *logBridge) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(bytes.TrimRight(p, "\n")))
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag string
		l   slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}} {
		if rest, ok := strings.CutPrefix(line, lv.tag); ok {
			level, line = lv.l, strings.TrimSpace(rest)
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	addr := ""
	if m := fromAddr.FindStringSubmatch(line); m != nil {
		addr = m[1]
	}
	if reason := classify(line); reason != "" {
		b.refused(addr, reason, line)
		return len(p), nil
	}
	// memberlist logs a failed join or probe of a peer that is down as an
	// error; for a cluster that is normal while nodes are away.
	if level == slog.LevelError && (strings.Contains(line, "connection refused") || strings.Contains(line, "Failed to join")) {
		level = slog.LevelDebug
	}
	// A failed probe is what failure detection is for, not an error.
	if level == slog.LevelError && strings.Contains(line, "Failed fallback TCP ping") {
		level = slog.LevelInfo
	}
	// Refused alive messages are logged once per address by Membership.
	if strings.Contains(line, "ignoring alive message") || strings.Contains(line, "merge canceled") || strings.Contains(line, "merge refused") {
		level = slog.LevelDebug
	}
	if !b.log.Enabled(context.Background(), level) {
		return len(p), nil
	}
	b.log.Log(context.Background(), level, line, "component", "memberlist", "link", b.link)
	return len(p), nil
}

func (b *logBridge) refused(addr, reason, detail string) {
	host := addr
	if i := strings.LastIndex(addr, ":"); i > 0 {
		host = strings.Trim(addr[:i], "[]")
	}
	b.mu.Lock()
	key := host + "|" + reason
	b.seen[key]++
	n := b.seen[key]
	now := time.Now()
	emit := now.Sub(b.last[key]) >= b.interval
	if emit {
		b.last[key] = now
		b.seen[key] = 0
	}
	if len(b.last) > 4096 { // bound memory against address floods
		b.last, b.seen = map[string]time.Time{}, map[string]int{}
	}
	b.mu.Unlock()
	if b.onRefuse != nil {
		b.onRefuse(addr, reason)
	}
	if emit {
		b.log.Warn("gossip refused: peer does not hold this cluster's key or belongs to another cluster",
			"remote", addr, "reason", reason, "link", b.link, "count", n, "detail", detail)
	}
}
