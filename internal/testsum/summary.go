package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/havenha/haven/internal/testenv"
)

// event is one line of `go test -json` (cmd/test2json), with the build
// events go test adds since Go 1.24.
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	ImportPath  string // build-output, build-fail
	FailedBuild string // on a package's fail: the package that did not build
}

type test struct {
	name string
	out  []string
}

type pkg struct {
	name                    string
	out                     []string // lines outside any test: TestMain, the final FAIL line, crashes
	running                 map[string]*test
	order                   []string // running tests in start order, to report the unfinished ones
	passed, failed, skipped int
}

// skip is one skipped test and the reason it gave.
type skip struct {
	pkg, test, reason string
	allowed           bool // carries the mark of a reason CI accepts
}

// summary consumes the events and writes the readable log as they come.
type summary struct {
	w        io.Writer
	ci       bool
	pkgs     map[string]*pkg
	build    map[string][]string // build output by ImportPath
	skips    []skip
	passed   int // tests, subtests included
	failed   int
	pkgPass  int
	pkgFail  int
	noBuild  int
	noTests  int // packages without test files
	problems []string
}

func newSummary(w io.Writer, ci bool) *summary {
	return &summary{w: w, ci: ci, pkgs: map[string]*pkg{}, build: map[string][]string{}}
}

// read consumes go test -json output until EOF. Lines that are not JSON
// (go's own messages when it cannot even start) are printed as they are.
func (s *summary) read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			s.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *summary) line(line []byte) {
	var e event
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return
	}
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &e) != nil || e.Action == "" {
		fmt.Fprintf(s.w, "%s\n", trimmed)
		return
	}
	s.event(e)
}

func (s *summary) pkg(name string) *pkg {
	p := s.pkgs[name]
	if p == nil {
		p = &pkg{name: name, running: map[string]*test{}}
		s.pkgs[name] = p
	}
	return p
}

func (s *summary) event(e event) {
	switch e.Action {
	case "build-output":
		s.build[e.ImportPath] = append(s.build[e.ImportPath], e.Output)
		return
	case "build-fail":
		s.write(s.build[e.ImportPath])
		delete(s.build, e.ImportPath)
		return
	}
	p := s.pkg(e.Package)
	if e.Test == "" {
		s.packageEvent(p, e)
		return
	}
	t := p.running[e.Test]
	if t == nil {
		t = &test{name: e.Test}
		p.running[e.Test] = t
		p.order = append(p.order, e.Test)
	}
	switch e.Action {
	case "output":
		t.out = append(t.out, e.Output)
	case "pass":
		p.passed++
		s.passed++
		p.done(e.Test)
	case "fail":
		p.failed++
		s.failed++
		s.write(t.out)
		s.problems = append(s.problems, fmt.Sprintf("%s %s", p.name, e.Test))
		p.done(e.Test)
	case "skip":
		p.skipped++
		reason, msg := skipReason(t.out)
		_, allowed := testenv.Allowed(msg)
		s.skips = append(s.skips, skip{pkg: p.name, test: e.Test, reason: reason, allowed: allowed})
		p.done(e.Test)
	}
}

func (p *pkg) done(name string) {
	delete(p.running, name)
	for i, n := range p.order {
		if n == name {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

func (s *summary) packageEvent(p *pkg, e event) {
	switch e.Action {
	case "output":
		p.out = append(p.out, e.Output)
	case "pass":
		s.pkgPass++
		line := fmt.Sprintf("ok   %s  %.1fs  %d passed", p.name, e.Elapsed, p.passed)
		if p.skipped > 0 {
			line += fmt.Sprintf(", %d skipped", p.skipped)
		}
		fmt.Fprintln(s.w, line)
		delete(s.pkgs, p.name)
	case "skip": // no test files
		s.noTests++
		delete(s.pkgs, p.name)
	case "fail":
		s.pkgFail++
		if e.FailedBuild != "" {
			s.noBuild++
			s.problems = append(s.problems, fmt.Sprintf("%s did not build (%s)", p.name, e.FailedBuild))
		}
		// A test still running when the binary ended died with it: a panic
		// in another goroutine, a timeout, an os.Exit.
		for _, name := range p.order {
			t := p.running[name]
			s.failed++
			fmt.Fprintf(s.w, "--- UNFINISHED: %s (the test binary ended while it ran)\n", name)
			s.write(t.out)
			s.problems = append(s.problems, fmt.Sprintf("%s %s did not finish", p.name, name))
		}
		s.write(p.out)
		if e.FailedBuild == "" && p.failed == 0 && len(p.order) == 0 {
			s.problems = append(s.problems, fmt.Sprintf("%s failed outside any test (its output is above)", p.name))
		}
		delete(s.pkgs, p.name)
	}
}

func (s *summary) write(lines []string) {
	for _, l := range lines {
		io.WriteString(s.w, l)
		if !strings.HasSuffix(l, "\n") {
			io.WriteString(s.w, "\n")
		}
	}
}

// finish prints the skip list and the totals, and returns the exit status:
// runErr is go test's own failure (nil when it exited 0 or when reading a
// pipe).
func (s *summary) finish(runErr error, took time.Duration) int {
	// Packages that started and never ended: go test was killed or its
	// output cut short.
	names := make([]string, 0, len(s.pkgs))
	for name := range s.pkgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := s.pkgs[name]
		for _, tn := range p.order {
			fmt.Fprintf(s.w, "--- UNFINISHED: %s %s\n", name, tn)
			s.write(p.running[tn].out)
			s.failed++
		}
		s.write(p.out)
		s.problems = append(s.problems, fmt.Sprintf("%s never finished (go test stopped or its output was cut)", name))
	}
	for ip, lines := range s.build { // build output without a build-fail: show it
		fmt.Fprintf(s.w, "build output of %s:\n", ip)
		s.write(lines)
	}

	sort.SliceStable(s.skips, func(i, j int) bool {
		if s.skips[i].pkg != s.skips[j].pkg {
			return s.skips[i].pkg < s.skips[j].pkg
		}
		return s.skips[i].test < s.skips[j].test
	})
	var forbidden []skip
	if len(s.skips) > 0 {
		fmt.Fprintf(s.w, "\nskipped tests (%d):\n", len(s.skips))
		for _, k := range s.skips {
			fmt.Fprintf(s.w, "  %s %s\n      %s\n", k.pkg, k.test, k.reason)
			if !k.allowed {
				forbidden = append(forbidden, k)
			}
		}
	}
	fmt.Fprintf(s.w, "\n%d tests passed, %d failed, %d skipped (%d of them allowed in CI); packages: %d ok, %d failed (%d did not build), %d without tests; %s\n",
		s.passed, s.failed, len(s.skips), len(s.skips)-len(forbidden), s.pkgPass, s.pkgFail, s.noBuild, s.noTests, took.Round(time.Second))

	status := 0
	if s.failed > 0 || s.pkgFail > 0 || len(s.problems) > 0 {
		status = 1
	}
	for _, p := range s.problems {
		fmt.Fprintf(s.w, "FAIL: %s\n", p)
	}
	if s.ci && len(forbidden) > 0 {
		fmt.Fprintf(s.w, "FAIL: CI=true and %d tests skipped without a reason CI accepts (they need what CI provides, or skipped outside internal/testenv):\n", len(forbidden))
		for _, k := range forbidden {
			fmt.Fprintf(s.w, "  %s %s\n", k.pkg, k.test)
		}
		status = 1
	}
	if runErr != nil {
		fmt.Fprintf(s.w, "FAIL: %v\n", runErr)
		status = 1
	}
	if s.pkgPass+s.pkgFail+s.noTests == 0 {
		fmt.Fprintln(s.w, "FAIL: no package was tested")
		status = 1
	}
	if status == 0 {
		fmt.Fprintln(s.w, "PASS")
	}
	return status
}

// logEntry matches the first line of a t.Log, t.Error or t.Skip message:
// indentation, file:line, the message.
var logEntry = regexp.MustCompile(`^(\s*)([\w.\-+]+\.go:\d+): (.*)$`)

// skipReason finds the message a skipped test gave: the last message with
// internal/testenv's mark, else the last message (a cleanup can log after
// the skip). It returns the reason to print (file:line: message, its lines
// joined) and the message alone, for the CI check.
func skipReason(lines []string) (reason, msg string) {
	type entry struct {
		where  string
		indent int
		text   []string
	}
	var entries []entry
	for _, raw := range lines {
		l := strings.TrimRight(raw, "\n")
		trimmed := strings.TrimSpace(l)
		if framing(trimmed) {
			continue
		}
		if m := logEntry.FindStringSubmatch(l); m != nil {
			entries = append(entries, entry{where: m[2], indent: len(m[1]), text: []string{m[3]}})
			continue
		}
		if n := len(entries); n > 0 && len(l)-len(strings.TrimLeft(l, " \t")) > entries[n-1].indent {
			entries[n-1].text = append(entries[n-1].text, trimmed)
		}
	}
	if len(entries) == 0 {
		return "(no reason given)", ""
	}
	pick := entries[len(entries)-1]
	for i := len(entries) - 1; i >= 0; i-- {
		first := entries[i].text[0]
		if _, ok := testenv.Allowed(first); ok || testenv.MustRun(first) {
			pick = entries[i]
			break
		}
	}
	msg = strings.Join(pick.text, " ")
	return pick.where + ": " + msg, msg
}

func framing(l string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- SKIP", "--- PASS", "--- FAIL"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}
