package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file, at a 1-based line and column.
// Msg reads "what is wrong; what is expected".
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats the problem as FILE:LINE:COL: msg.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found in a file, sorted by position.
type Errors []*Error

// Error prints one problem per line, sorted by line, column and message.
func (es Errors) Error() string {
	s := make(Errors, len(es))
	copy(s, es)
	s.sort()
	lines := make([]string, len(s))
	for i, e := range s {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Msg < b.Msg
	})
}

// maxErrors bounds the report so a pathological file cannot flood the output.
const maxErrors = 200

// collector gathers errors for one file.
type collector struct {
	file  string
	errs  Errors
	seen  map[string]bool
	over  bool
	lastL int
	// count is every add call, kept or not (lets the decoder see whether a
	// value failed).
	count int
	// decodeAt holds the positions of decode errors; validation stays quiet
	// at those positions so one mistake is reported once.
	decodeAt   map[[2]int]bool
	validating bool
}

func (c *collector) add(line, col int, format string, a ...any) {
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	c.count++
	if c.validating {
		if c.decodeAt[[2]int{line, col}] {
			return
		}
	} else {
		if c.decodeAt == nil {
			c.decodeAt = map[[2]int]bool{}
		}
		c.decodeAt[[2]int{line, col}] = true
	}
	msg := fmt.Sprintf(format, a...)
	key := fmt.Sprintf("%d:%d:%s", line, col, msg)
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	if len(c.errs) >= maxErrors {
		if !c.over {
			c.over = true
			c.lastL = line
		}
		return
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Col: col, Msg: msg})
}

// result returns the sorted errors, or nil when there are none.
func (c *collector) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	if c.over {
		c.errs = append(c.errs, &Error{File: c.file, Line: c.lastL, Col: 1,
			Msg: fmt.Sprintf("too many errors; stopped after %d (fix these first)", maxErrors)})
	}
	c.errs.sort()
	return c.errs
}

// nearest returns the candidate closest to word by edit distance, when close
// enough to be a plausible typo ("" otherwise).
func nearest(word string, candidates []string) string {
	best, bestD := "", 1<<30
	lw := strings.ToLower(word)
	for _, c := range candidates {
		d := editDistance(lw, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	if len(word) < 3 {
		return ""
	}
	limit := 2
	if len(word) <= 4 {
		limit = 1
	}
	if len(word) >= 8 {
		limit = 3
	}
	if bestD <= limit || (best != "" && (strings.HasPrefix(strings.ToLower(best), lw) || strings.HasPrefix(lw, strings.ToLower(best))) && len(best) >= 3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
