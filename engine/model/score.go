package model

import (
	"fmt"
	"strconv"
	"strings"
)

// Score is a Pacemaker placement score: an integer where Infinity (1,000,000)
// and -Infinity are absorbing. Sums saturate, and -INFINITY beats +INFINITY.
type Score int64

const (
	// Infinity is Pacemaker's INFINITY.
	Infinity Score = 1_000_000
	// NegInfinity is Pacemaker's -INFINITY: a ban that no preference overrides.
	NegInfinity Score = -1_000_000
)

// Add returns s+o with Pacemaker's rules: -INFINITY absorbs everything,
// then +INFINITY, and finite sums are clamped to [-INFINITY, +INFINITY].
func (s Score) Add(o Score) Score {
	switch {
	case s <= NegInfinity || o <= NegInfinity:
		return NegInfinity
	case s >= Infinity || o >= Infinity:
		return Infinity
	}
	sum := s + o
	if sum >= Infinity {
		return Infinity
	}
	if sum <= NegInfinity {
		return NegInfinity
	}
	return sum
}

// String prints INFINITY and -INFINITY by name, as crm_simulate does.
func (s Score) String() string {
	switch {
	case s >= Infinity:
		return "INFINITY"
	case s <= NegInfinity:
		return "-INFINITY"
	}
	return strconv.FormatInt(int64(s), 10)
}

// ParseScore accepts an integer, INFINITY, +INFINITY or -INFINITY (any case).
// Integers beyond ±1,000,000 are clamped, as Pacemaker does.
func ParseScore(text string) (Score, error) {
	t := strings.TrimSpace(text)
	switch strings.ToUpper(t) {
	case "INFINITY", "+INFINITY":
		return Infinity, nil
	case "-INFINITY":
		return NegInfinity, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("score %q is not an integer, INFINITY, +INFINITY or -INFINITY", text)
	}
	return Score(0).Add(Score(clamp(n))), nil
}

func clamp(n int64) int64 {
	if n > int64(Infinity) {
		return int64(Infinity)
	}
	if n < int64(NegInfinity) {
		return int64(NegInfinity)
	}
	return n
}

// UnmarshalText lets a Score be decoded from YAML, JSON or flags.
func (s *Score) UnmarshalText(b []byte) error {
	v, err := ParseScore(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON accepts a JSON number as well as the text forms, so
// hand-written state files may say "fail_count": 3.
func (s *Score) UnmarshalJSON(b []byte) error {
	t := string(b)
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		t = t[1 : len(t)-1]
	}
	return s.UnmarshalText([]byte(t))
}

// MarshalText writes INFINITY and -INFINITY by name.
func (s Score) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
