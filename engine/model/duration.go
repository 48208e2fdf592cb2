package model

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that also accepts Pacemaker/pcs forms:
// a bare number of seconds ("30"), "1min", "2mins", "1hr", "500msec", "10sec",
// and every Go form ("10s", "500ms", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String prints the Go form.
func (d Duration) String() string { return time.Duration(d).String() }

var pcsUnits = []struct {
	suffix string
	unit   time.Duration
}{
	// longest suffixes first so "msec" is not read as "sec"
	{"msec", time.Millisecond}, {"usec", time.Microsecond},
	{"mins", time.Minute}, {"min", time.Minute},
	{"hrs", time.Hour}, {"hr", time.Hour},
	{"sec", time.Second},
}

// ParseDuration parses Go and pcs duration forms. Negative durations are refused.
func ParseDuration(text string) (Duration, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return 0, fmt.Errorf("empty duration; expected a form like 10s, 500ms or 1min")
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("duration %q is negative; expected 0 or more", text)
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	for _, u := range pcsUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || n < 0 {
				break
			}
			return Duration(time.Duration(n * float64(u.unit))), nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("duration %q is not understood; expected a form like 10s, 500ms, 1min or 1h30m", text)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative; expected 0 or more", text)
	}
	return Duration(d), nil
}

// UnmarshalText decodes a duration from YAML, JSON or flags.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText writes the Go form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
