package main

import (
	"bytes"
	"regexp"
	"testing"
)

// TestDemo_ShowsFailoverPlan runs the demo on the embedded example and checks
// it places the web group on its preferred node n1, then moves it off n1.
func TestDemo_ShowsFailoverPlan(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(&out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, re := range []string{
		`(?s)=== 1\..*web\t\(exec\):\t Started n1.*=== 2\.`,
		`(?s)=== 2\..*Transition Summary:.*Start +web +\( n2 \)`,
		`(?s)=== 2\..*Revised Cluster Status:.*OFFLINE: \[ n1 \]`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("demo output does not match %q:\n%s", re, text)
		}
	}
}
