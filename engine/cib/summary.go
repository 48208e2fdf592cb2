package cib

import (
	"bufio"
	"io"
	"regexp"
	"sort"
	"strings"
)

// Placement parses the resource section that follows a crm_simulate section
// header (e.g. "Revised Cluster Status:" or "Current cluster status:") into
// resource id -> sorted nodes. Groups and clones map to the union of their
// members' nodes; a cloned primitive maps to its clone's nodes. "Stopped"
// means no node; FAILED (blocked) resources count where they are.
func Placement(r io.Reader, section string) map[string][]string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	in, inList := false, false
	out := map[string]map[string]bool{}
	type frame struct {
		indent int
		ids    []string
	}
	var stack []frame
	add := func(id string, nodes []string) {
		if out[id] == nil {
			out[id] = map[string]bool{}
		}
		for _, n := range nodes {
			out[id][n] = true
		}
	}
	addAll := func(nodes []string) {
		for _, f := range stack {
			for _, id := range f.ids {
				add(id, nodes)
			}
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(strings.TrimSpace(line), ":") {
			in = strings.EqualFold(strings.TrimSpace(line), section)
			inList = false
			stack = nil
			continue
		}
		if !in {
			continue
		}
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "* Full List of Resources:") {
			inList = true
			continue
		}
		if !inList || !strings.HasPrefix(t, "* ") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		t = strings.TrimPrefix(t, "* ")
		if m := containerRe.FindStringSubmatch(t); m != nil {
			ids := []string{m[2]}
			if m[1] == "Resource Group" {
				if i := strings.LastIndexByte(m[2], ':'); i > 0 {
					ids = []string{m[2][:i]} // cloned group instance
				}
			}
			if m[3] != "" {
				ids = append(ids, m[3])
			}
			for _, id := range ids {
				add(id, nil)
			}
			stack = append(stack, frame{indent, ids})
			continue
		}
		if m := setRe.FindStringSubmatch(t); m != nil {
			var nodes []string
			if strings.HasPrefix(m[1], "Started") || strings.HasPrefix(m[1], "FAILED") {
				nodes = strings.Fields(m[2])
			}
			addAll(nodes)
			continue
		}
		if m := rscRe.FindStringSubmatch(t); m != nil {
			id := m[1]
			if i := strings.LastIndexByte(id, ':'); i > 0 {
				id = id[:i]
			}
			var nodes []string
			st := strings.Fields(strings.NewReplacer("[", " ", "]", " ", "ORPHANED", " ").Replace(parenRe.ReplaceAllString(m[2], " ")))
			if len(st) >= 2 && (st[0] == "Started" || st[0] == "FAILED" || st[0] == "Starting" || st[0] == "Stopping") {
				nodes = []string{st[1]}
				if st[0] == "Started" {
					nodes = st[1:]
				}
			}
			add(id, nodes)
			addAll(nodes)
		}
	}
	res := map[string][]string{}
	for id, set := range out {
		list := []string{}
		for n := range set {
			list = append(list, n)
		}
		sort.Strings(list)
		res[id] = list
	}
	return res
}

var (
	containerRe = regexp.MustCompile(`^(Resource Group|Clone Set): (\S+?)(?: \[(\S+)\])?(?: \(.*\))?:$`)
	setRe       = regexp.MustCompile(`^(Started|Stopped|FAILED)[^:]*: \[ (.*) \]$`)
	rscRe       = regexp.MustCompile(`^(\S+)\s+\([^)]*\):\s+(.*)$`)
	parenRe     = regexp.MustCompile(`\([^)]*\)`)
)
