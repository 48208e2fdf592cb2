package cib

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/havenha/haven/engine/model"
	"github.com/havenha/haven/engine/scheduler"
)

// status reads node_state entries: membership, transient attributes (node
// attributes and fail counts) and the operation history of each resource.
func (rd *reader) status(e *elem) {
	stonith := rd.cl.StonithEnabled()
	known := map[string]bool{}
	for _, n := range rd.cl.Nodes {
		known[n.Name] = true
	}
	if e == nil {
		return
	}
	for _, ns := range e.kids("node_state") {
		name := ns.attr("uname")
		if !known[name] {
			continue
		}
		st := rd.res.Input.Nodes[name]
		inCCM := ns.attr("in_ccm")
		member := (isTrue(inCCM) || isTimestamp(inCCM)) && (ns.attr("crmd") == "online" || isTimestamp(ns.attr("crmd"))) && ns.attr("join") == "member"
		st.Online = member
		if !member && stonith && ns.attr("expected") == "member" {
			st.Unclean = true
		}
		failCounts := map[string]model.Score{}
		lastFailure := map[string]time.Time{}
		if ta := ns.kid("transient_attributes"); ta != nil {
			attrs := ta.nvpairs("instance_attributes")
			for _, k := range sortedKeys(attrs) {
				v := attrs[k]
				switch {
				case strings.HasPrefix(k, "fail-count-"):
					rsc := strings.TrimPrefix(k, "fail-count-")
					i := strings.IndexByte(rsc, '#')
					if (i >= 0) == rd.legacyFailCounts {
						continue // the other naming scheme: Pacemaker ignores it
					}
					if i >= 0 {
						rsc = rsc[:i]
					}
					if s, err := model.ParseScore(v); err == nil {
						failCounts[rsc] = failCounts[rsc].Add(s)
					}
				case strings.HasPrefix(k, "last-failure-"):
					rsc := strings.TrimPrefix(k, "last-failure-")
					if i := strings.IndexByte(rsc, '#'); i >= 0 {
						rsc = rsc[:i]
					}
					if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
						t := time.Unix(sec, 0).UTC()
						if t.After(lastFailure[rsc]) {
							lastFailure[rsc] = t
						}
					}
				case k == "standby":
					st.Standby = isTrue(v)
				case k == "maintenance":
					st.Maintenance = isTrue(v)
				case k == "shutdown":
					// A node shutting down runs nothing: like standby for placement.
					if v != "0" && v != "" {
						st.Standby = true
					}
				case k == "probe_complete" || k == "terminate" || k == "#health":
				default:
					if st.Attributes == nil {
						st.Attributes = map[string]string{}
					}
					st.Attributes[k] = v
				}
			}
		}
		rd.res.Input.Nodes[name] = st
		seen := map[string]bool{}
		if lrm := ns.kid("lrm"); lrm != nil {
			if rs := lrm.kid("lrm_resources"); rs != nil {
				for _, lr := range rs.kids("lrm_resource") {
					id := lr.attr("id")
					o := rd.history(id, name, lr)
					o.FailCount = o.FailCount.Add(failCounts[id])
					o.LastFailure = lastFailure[id]
					seen[id] = true
					if o.State == scheduler.StateStopped && o.FailCount == 0 {
						continue
					}
					rd.res.Input.Resources = append(rd.res.Input.Resources, o)
				}
			}
		}
		for _, id := range sortedScoreKeys(failCounts) {
			if !seen[id] && failCounts[id] > 0 {
				rd.res.Input.Resources = append(rd.res.Input.Resources, scheduler.Observed{Resource: id, Node: name,
					State: scheduler.StateStopped, FailCount: failCounts[id], LastFailure: lastFailure[id]})
			}
		}
	}
}

func isTimestamp(v string) bool {
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n > 1
}

func sortedScoreKeys(m map[string]model.Score) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// history replays one resource's operations on one node (ordered by call-id)
// into its observed state, as Pacemaker's unpack_rsc_op does for the cases
// haven models: probes, starts, stops, recurring monitors.
func (rd *reader) history(id, node string, lr *elem) scheduler.Observed {
	ops := lr.kids("lrm_rsc_op")
	sort.SliceStable(ops, func(i, j int) bool {
		a, _ := strconv.Atoi(ops[i].attr("call-id"))
		b, _ := strconv.Atoi(ops[j].attr("call-id"))
		return a < b
	})
	o := scheduler.Observed{Resource: id, Node: node, State: scheduler.StateStopped}
	base := id
	if i := strings.LastIndexByte(base, ':'); i > 0 {
		base = base[:i]
	}
	for _, op := range ops {
		task := op.attr("operation")
		rc, _ := strconv.Atoi(op.attr("rc-code"))
		status, _ := strconv.Atoi(op.attr("op-status"))
		interval, _ := parseInterval(op.attr("interval"))
		pending := op.attr("call-id") == "-1" || status == -1
		if status == 2 || status == 3 { // cancelled, or timed out monitors counted below
			if status == 2 {
				continue
			}
		}
		if pending {
			if task == "start" || task == "promote" || task == "migrate_from" {
				o.State = scheduler.StateRunning
			}
			continue
		}
		failed := status != 0 && status != 2
		switch task {
		case "start", "migrate_from", "promote", "demote":
			if rc == 0 && !failed {
				o.State = scheduler.StateRunning
			} else {
				o.State = scheduler.StateFailed
				if task == "start" && rd.startFatal {
					o.FailCount = model.Infinity
				}
			}
		case "stop", "migrate_to":
			if rc == 0 && !failed {
				o.State = scheduler.StateStopped
			} else {
				o.State = scheduler.StateFailed
				if rd.cl.StonithEnabled() && !rd.onFailBlock[base] {
					st := rd.res.Input.Nodes[node]
					st.Unclean = true
					rd.res.Input.Nodes[node] = st
				} else {
					rd.res.Input.Admin.Unmanaged = appendOnce(rd.res.Input.Admin.Unmanaged, base)
				}
			}
		case "monitor":
			switch {
			case rc == 7 && interval == 0:
				o.State = scheduler.StateStopped
			case (rc == 0 || rc == 8) && !failed:
				o.State = scheduler.StateRunning
			case rc == 7:
				o.State = scheduler.StateFailed
			default:
				o.State = scheduler.StateFailed
			}
		}
	}
	return o
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
