package model

import (
	"testing"
	"time"
)

func TestScore_AddSaturates(t *testing.T) {
	cases := []struct {
		a, b, want Score
	}{
		{1, 2, 3},
		{Infinity, NegInfinity, NegInfinity},
		{NegInfinity, Infinity, NegInfinity},
		{Infinity, 5, Infinity},
		{999_999, 5, Infinity},
		{-999_999, -5, NegInfinity},
		{Infinity, Infinity, Infinity},
		{100, -100, 0},
	}
	for _, c := range cases {
		if got := c.a.Add(c.b); got != c.want {
			t.Errorf("%v + %v = %v; want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestParseScore(t *testing.T) {
	good := map[string]Score{"INFINITY": Infinity, "+INFINITY": Infinity, "-INFINITY": NegInfinity,
		"inf": 0, "100": 100, "-5": -5, "2000000": Infinity, "-2000000": NegInfinity, "+infinity": Infinity}
	for in, want := range good {
		got, err := ParseScore(in)
		if in == "inf" {
			if err == nil {
				t.Errorf("ParseScore(%q) accepted", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseScore(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if Infinity.String() != "INFINITY" || NegInfinity.String() != "-INFINITY" || Score(7).String() != "7" {
		t.Error("Score.String")
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"10s": 10 * time.Second, "500ms": 500 * time.Millisecond,
		"1min": time.Minute, "2mins": 2 * time.Minute, "30": 30 * time.Second, "1h30m": 90 * time.Minute,
		"500msec": 500 * time.Millisecond, "10sec": 10 * time.Second, "1hr": time.Hour, "0": 0}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "-5s", "ten seconds", "1 fortnight", "min"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestRule_ParseAndEval(t *testing.T) {
	cases := []struct {
		rule  string
		attrs map[string]string
		want  bool
	}{
		{"pingd lt 1 or not_defined pingd", map[string]string{}, true},
		{"pingd lt 1 or not_defined pingd", map[string]string{"pingd": "0"}, true},
		{"pingd lt 1 or not_defined pingd", map[string]string{"pingd": "100"}, false},
		{"pingd lt 1 or not_defined pingd", map[string]string{"pingd": "abc"}, false},
		{"#uname eq n1", nil, true},
		{"#uname ne n1", nil, false},
		{"a gt 5 and b eq x", map[string]string{"a": "10", "b": "x"}, true},
		{"a gt 5 and (b eq x or defined c)", map[string]string{"a": "10", "c": "1"}, true},
		{"a gt integer 5", map[string]string{"a": "10"}, true},
		{"a gt string 5", map[string]string{"a": "10"}, false},
		{"v gte version 1.10", map[string]string{"v": "1.9"}, false},
		{"a lte 2.5", map[string]string{"a": "2.5"}, true},
		{"missing ne 3", nil, true},
		{"missing eq 3", nil, false},
	}
	for _, c := range cases {
		r, err := ParseRule(c.rule)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", c.rule, err)
		}
		if got := r.Eval("n1", c.attrs); got != c.want {
			t.Errorf("%q on %v = %v; want %v", c.rule, c.attrs, got, c.want)
		}
		r2, err := ParseRule(r.String())
		if err != nil || r2.String() != r.String() {
			t.Errorf("round trip of %q: %q, %v", c.rule, r.String(), err)
		}
	}
}

func TestRule_Errors(t *testing.T) {
	cases := map[string]int{ // rule -> 1-based character of the error
		"":                 1,
		"pingd":            6,
		"pingd lt":         9,
		"pingd foo 1":      7,
		"pingd lt 1 or":    14,
		"(a eq 1":          8,
		"a eq 1)":          7,
		"defined":          8,
		"a eq 1 b eq 2":    8,
		"a lt integer x":   14,
		"and a eq 1":       1,
		"a eq \"unclosed":  6,
		"a! eq 1":          1,
		"not_defined (":    13,
		"a eq 1 or or b":   11,
		"a eq (":           6,
		"a eq 1 and ()":    13,
		"#uname eq":        10,
		"x gt 1 and y lt ": 17,
	}
	for rule, col := range cases {
		_, err := ParseRule(rule)
		re, ok := err.(*RuleError)
		if !ok {
			t.Errorf("ParseRule(%q) = %v; want a RuleError", rule, err)
			continue
		}
		if re.Offset+1 != col {
			t.Errorf("ParseRule(%q): error at %d (%v); want %d", rule, re.Offset+1, re, col)
		}
	}
}

func TestProfiles_Consistent(t *testing.T) {
	for name, p := range Profiles {
		if c := p.Contradictions(); len(c) > 0 {
			t.Errorf("profile %s contradicts itself: %v", name, c)
		}
	}
	c := Cluster{Cluster: Settings{Profile: ProfileFast, Timing: Timing{ProbeInterval: ms(40)}}}
	got := c.EffectiveTiming()
	if got.ProbeInterval != ms(40) || got.ProbeTimeout != Profiles[ProfileFast].ProbeTimeout {
		t.Errorf("explicit timing not merged over profile: %+v", got)
	}
	if len(got.Contradictions()) == 0 {
		t.Error("probe_timeout 50ms >= probe_interval 40ms was not reported")
	}
}

func TestDecodeParams_Strict(t *testing.T) {
	var p struct {
		IP       string   `json:"ip"`
		Interval Duration `json:"interval"`
		Count    int      `json:"count"`
	}
	if err := DecodeParams(map[string]any{"ip": "10.0.0.1/24", "interval": "1min", "count": 3}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Interval.D() != time.Minute || p.Count != 3 {
		t.Errorf("decoded %+v", p)
	}
	if err := DecodeParams(map[string]any{"nope": 1}, &p); err == nil {
		t.Error("unknown key accepted")
	}
	if err := DecodeParams(map[string]any{"count": "x"}, &p); err == nil {
		t.Error("wrong type accepted")
	}
}

func TestScore_JSONAcceptsNumbersAndNames(t *testing.T) {
	for in, want := range map[string]Score{`3`: 3, `"3"`: 3, `"INFINITY"`: Infinity, `-2000000`: NegInfinity, `"-INFINITY"`: NegInfinity} {
		var s Score
		if err := s.UnmarshalJSON([]byte(in)); err != nil || s != want {
			t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v", in, s, err, want)
		}
	}
	var s Score
	if err := s.UnmarshalJSON([]byte(`"lots"`)); err == nil {
		t.Error("UnmarshalJSON accepted \"lots\"")
	}
}

func TestInstanceIDs_CloneSuffixAndAssignment(t *testing.T) {
	for id, want := range map[string][2]string{"hb:1": {"hb", ":1"}, "web": {"web", ""}, "a:b:2": {"a:b", ":2"}, ":0": {":0", ""}} {
		if p, s := SplitInstance(id); p != want[0] || s != want[1] {
			t.Errorf("SplitInstance(%q) = %q, %q; want %q, %q", id, p, s, want[0], want[1])
		}
	}
	if got := (Assignment{Resource: "hb", Instance: "hb:1"}).InstanceID(); got != "hb:1" {
		t.Errorf("clone instance id %q; want hb:1", got)
	}
	if got := (Assignment{Resource: "web"}).InstanceID(); got != "web" {
		t.Errorf("primitive instance id %q; want web", got)
	}
}
