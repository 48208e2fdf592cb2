package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/havenha/haven/internal/testenv"
)

// TestDemo_ShowsFailoverPlan runs the plan part of the demo on the embedded
// example: the web group on its preferred node n1, then moved off n1.
func TestDemo_ShowsFailoverPlan(t *testing.T) {
	var out bytes.Buffer
	if err := runDemoPlan(&out); err != nil {
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

// TestDemo_LiveFailover runs `haven demo` for real through the built binary:
// three agents start, the web group runs on n1, n1 crashes, the group runs
// on another node, and nothing the demo started is left running.
func TestDemo_LiveFailover(t *testing.T) {
	if testing.Short() {
		testenv.Skip(t, testenv.Short, "starts three agents")
	}
	bin := filepath.Join(t.TempDir(), "haven")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("haven demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, re := range []string{
		`(?s)=== 3\. Live.*web +exec +started +n1`,
		`(?s)=== 4\. Crash of n1.*web group running again on n[23], [0-9.]+ s after the crash of n1`,
		`(?s)=== 4\..*gossip declared n1 dead [0-9.]+ s after the crash.*quorum: 2 of 3 votes`,
		`(?s)=== 4\..*web +exec +started +n[23]`,
		`(?s)=== 4\..*served by n[23]`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("demo output does not match %q:\n%s", re, text)
		}
	}
	// The demo's temporary folder (named in its output) is gone, and with it
	// the agents' sockets.
	if m := regexp.MustCompile(`logs in (\S+)\)`).FindStringSubmatch(text); m != nil {
		if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
			t.Errorf("demo folder %s still exists (%v)", m[1], err)
		}
	}
}
