package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module writes a throwaway Go module with one package per entry of pkgs
// (folder -> test file source) and returns its folder.
func module(t *testing.T, pkgs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	for folder, src := range pkgs {
		write(filepath.Join(folder, "x_test.go"), "package "+folder+"\n\nimport \"testing\"\n\n"+src)
	}
	return dir
}

// goTest runs the summariser over a real `go test -json` of the module's
// packages and returns its exit status and output.
func goTest(t *testing.T, dir string, ci bool, extra ...string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go is not in PATH (go test puts it there): %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var out bytes.Buffer
	args := append([]string{"go", "test", "-json", "-count=1"}, extra...)
	args = append(args, "./...")
	code := run(args, strings.NewReader(""), &out, ci)
	return code, out.String()
}

func mustContain(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestRun_PassingPackagesAndAllowedSkipExitZero(t *testing.T) {
	dir := module(t, map[string]string{
		"good": `func TestA(t *testing.T) { t.Log("quiet when passing") }
func TestShortOnly(t *testing.T) { t.Skip("allowed in CI (short): slow") }
`,
	})
	code, out := goTest(t, dir, true)
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	mustContain(t, out, "ok   example.com/m/good", "1 passed, 1 skipped", "skipped tests (1):",
		"example.com/m/good TestShortOnly", "x_test.go:6: allowed in CI (short): slow", "PASS")
	if strings.Contains(out, "quiet when passing") {
		t.Errorf("a passing test's log was printed:\n%s", out)
	}
}

func TestRun_FailingTestPrintsItsOutputAndFails(t *testing.T) {
	dir := module(t, map[string]string{
		"bad":  `func TestBroken(t *testing.T) { t.Log("context for the reader"); t.Error("the failure") }`,
		"good": `func TestFine(t *testing.T) {}`,
	})
	code, out := goTest(t, dir, false)
	if code == 0 {
		t.Fatalf("exit 0 with a failing test:\n%s", out)
	}
	mustContain(t, out, "context for the reader", "the failure", "--- FAIL: TestBroken",
		"FAIL: example.com/m/bad TestBroken", "ok   example.com/m/good")
}

func TestRun_BuildErrorFails(t *testing.T) {
	dir := module(t, map[string]string{
		"nobuild": `func TestX(t *testing.T) { unused := 1 }`,
		"good":    `func TestFine(t *testing.T) {}`,
	})
	code, out := goTest(t, dir, false)
	if code == 0 {
		t.Fatalf("exit 0 with a build error:\n%s", out)
	}
	mustContain(t, out, "declared and not used: unused", "example.com/m/nobuild did not build", "(1 did not build)")
}

func TestRun_PanicAndTimeoutFail(t *testing.T) {
	dir := module(t, map[string]string{
		"panics": `func TestBoom(t *testing.T) { panic("boom") }`,
		"hangs": `func TestHang(t *testing.T) { select {} }
`,
	})
	code, out := goTest(t, dir, false, "-timeout", "2s")
	if code == 0 {
		t.Fatalf("exit 0 with a panic and a timeout:\n%s", out)
	}
	mustContain(t, out, "panic: boom", "FAIL: example.com/m/panics TestBoom",
		"--- UNFINISHED: TestHang", "panic: test timed out", "FAIL: example.com/m/hangs TestHang did not finish")
}

func TestRun_SkipWithoutTheMarkFailsOnlyUnderCI(t *testing.T) {
	dir := module(t, map[string]string{
		"sk": `func TestNeedsRoot(t *testing.T) { t.Skip("needs root") }
func TestMust(t *testing.T) { t.Skip("CI must run this: needs nft (Debian package nftables)") }
func TestForged(t *testing.T) { t.Skip("allowed in CI (because): not a reason testenv knows") }
func TestHelper(t *testing.T) { t.Skip("allowed in CI (helper): runs as a child only") }
`,
	})
	code, out := goTest(t, dir, false)
	if code != 0 {
		t.Fatalf("without CI: exit %d, want 0 (skips are listed, not failures):\n%s", code, out)
	}
	mustContain(t, out, "skipped tests (4):", "needs root", "(1 of them allowed in CI)")
	code, out = goTest(t, dir, true)
	if code == 0 {
		t.Fatalf("CI=true: exit 0 with skips CI must not see:\n%s", out)
	}
	mustContain(t, out, "CI=true and 3 tests skipped", "example.com/m/sk TestNeedsRoot", "example.com/m/sk TestMust", "example.com/m/sk TestForged")
	if strings.Contains(out[strings.Index(out, "CI=true and"):], "TestHelper") {
		t.Errorf("an allowed skip is listed as a CI failure:\n%s", out)
	}
}

func TestRun_CommandExitStatusIsHonoured(t *testing.T) {
	// A command whose JSON shows only passes but which exits 3.
	pass := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Elapsed":0.1}
`
	var out bytes.Buffer
	code := run([]string{"sh", "-c", "cat; exit 3"}, strings.NewReader(pass), &out, false)
	if code == 0 {
		t.Fatalf("exit 0 although the command exited 3:\n%s", out.String())
	}
	mustContain(t, out.String(), "ok   p", "exit status 3")
}

func TestRun_StdinAndNothingTestedFails(t *testing.T) {
	var out bytes.Buffer
	if code := run(nil, strings.NewReader(""), &out, false); code == 0 {
		t.Fatalf("exit 0 on empty input:\n%s", out.String())
	}
	mustContain(t, out.String(), "no package was tested")
	out.Reset()
	cut := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
not json: go said something
`
	if code := run(nil, strings.NewReader(cut), &out, false); code == 0 {
		t.Fatalf("exit 0 on output cut short:\n%s", out.String())
	}
	mustContain(t, out.String(), "not json: go said something", "--- UNFINISHED: p TestA", "p never finished")
}

func TestSkipReason(t *testing.T) {
	for _, c := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"none", []string{"=== RUN   TestA\n", "--- SKIP: TestA (0.00s)\n"}, "(no reason given)"},
		{"last message", []string{"=== RUN   TestA\n", "    a_test.go:3: first\n", "    a_test.go:4: the reason\n", "--- SKIP: TestA (0.00s)\n"}, "a_test.go:4: the reason"},
		{"multi-line", []string{"    a_test.go:3: line one\n", "        line two\n"}, "a_test.go:3: line one line two"},
		{"subtest indentation", []string{"        a_test.go:9: nested\n"}, "a_test.go:9: nested"},
		{"marked beats a later cleanup log", []string{"    a_test.go:3: allowed in CI (short): slow\n", "    a_test.go:7: cleanup ran\n"}, "a_test.go:3: allowed in CI (short): slow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := skipReason(c.lines); got != c.want {
				t.Errorf("skipReason = %q, want %q", got, c.want)
			}
		})
	}
}
