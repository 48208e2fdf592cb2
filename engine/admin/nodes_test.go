package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/state"
)

func TestCleanup_ForgetsFailuresOfEveryMemberPrimitive(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	h.fail("n1", "web", "f1")
	h.fail("n2", "a", "f2")
	h.fail("n2", "b", "f3")
	h.fail("n2", "c:1", "f4")
	mark := h.log.count()
	resp, err := h.svc.Cleanup(ctx, api.CleanupRequest{Resource: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.Primitives, []string{"web"}) || resp.Index != h.st.Index() {
		t.Errorf("cleanup web: %+v", resp)
	}
	if o := h.st.View().Nodes["n1"].Resources["web"]; o.FailCount != 0 || o.State != state.Stopped || o.Reason != "cleaned up" {
		t.Errorf("web on n1 after cleanup: %+v; expected no failure, stopped, cleaned up", o)
	}
	// A group: one command per member. Limited to a node: others keep theirs.
	resp, err = h.svc.Cleanup(ctx, api.CleanupRequest{Resource: "g", Node: "n1"})
	if err != nil || !slices.Equal(resp.Primitives, []string{"a", "b"}) {
		t.Fatalf("cleanup g n1: %+v %v", resp, err)
	}
	if o := h.st.View().Nodes["n2"].Resources["a"]; o.FailCount != 1 {
		t.Errorf("a on n2 after a cleanup on n1: fail count %d; expected 1", o.FailCount)
	}
	if _, err := h.svc.Cleanup(ctx, api.CleanupRequest{Resource: "g"}); err != nil {
		t.Fatal(err)
	}
	// A clone: its primitive, whose instances c:N are cleaned with it.
	resp, err = h.svc.Cleanup(ctx, api.CleanupRequest{Resource: "c-clone"})
	if err != nil || !slices.Equal(resp.Primitives, []string{"c"}) {
		t.Fatalf("cleanup c-clone: %+v %v", resp, err)
	}
	if fa := failedActions(h.st.View()); len(fa) != 0 {
		t.Errorf("failed actions after cleaning everything: %+v", fa)
	}
	want := []string{state.CmdCleanup, state.CmdCleanup, state.CmdCleanup, state.CmdCleanup, state.CmdCleanup, state.CmdCleanup}
	if got := h.log.commandsSince(mark); !slices.Equal(got, want) {
		t.Errorf("committed %v; expected %v", got, want)
	}
	_, err = h.svc.Cleanup(ctx, api.CleanupRequest{Resource: "nope"})
	apiError(t, err, 404, `no resource, group or clone "nope" in the committed configuration; expected one of a, b, c, c-clone, g, off, web`)
	_, err = h.svc.Cleanup(ctx, api.CleanupRequest{Resource: "web", Node: "nope"})
	apiError(t, err, 404, `no node "nope" in the committed configuration; expected one of n1, n2, n3, w`)
}

func TestStandbyAndMaintenance_SetTheNodeFlags(t *testing.T) {
	h := newHarness(t, true)
	resp, err := h.svc.Standby(ctx, api.StandbyRequest{Node: "n2", On: true})
	if err != nil || resp.Node != "n2" || !resp.On || resp.Index != h.st.Index() {
		t.Fatalf("standby n2: %+v %v", resp, err)
	}
	mr, err := h.svc.Maintenance(ctx, api.MaintenanceRequest{Node: "n3", On: true})
	if err != nil || mr.Node != "n3" || !mr.On || mr.Index != h.st.Index() {
		t.Fatalf("maintenance n3: %+v %v", mr, err)
	}
	v := h.st.View()
	if !v.Nodes["n2"].Standby || !v.Nodes["n3"].Maintenance {
		t.Fatalf("state %+v %+v; expected n2 standby, n3 in maintenance", v.Nodes["n2"], v.Nodes["n3"])
	}
	st, _ := h.svc.Status(ctx)
	if got := nodeStates(st); got != "n1=online n2=standby n3=maintenance w=online" {
		t.Errorf("status nodes %s", got)
	}
	if _, err := h.svc.Standby(ctx, api.StandbyRequest{Node: "n2", On: false}); err != nil {
		t.Fatal(err)
	}
	if h.st.View().Nodes["n2"].Standby {
		t.Error("n2 still in standby after unstandby")
	}
	_, err = h.svc.Standby(ctx, api.StandbyRequest{Node: "w", On: true})
	apiError(t, err, 422, "node w is a witness: it runs no resources, so standby means nothing there")
	_, err = h.svc.Maintenance(ctx, api.MaintenanceRequest{Node: "w", On: true})
	apiError(t, err, 422, "node w is a witness: it runs no resources, so maintenance means nothing there; nothing changed")
	_, err = h.svc.Standby(ctx, api.StandbyRequest{Node: "nope", On: true})
	apiError(t, err, 404, `no node "nope" in the committed configuration; expected one of n1, n2, n3, w`)
	_, err = h.svc.Maintenance(ctx, api.MaintenanceRequest{Node: "nope"})
	apiError(t, err, 404, `no node "nope"`)
}

// Until a configuration is committed, requests are checked against the
// file the agent started with.
func TestRequests_UseTheStartupFileUntilOneIsCommitted(t *testing.T) {
	h := newHarness(t, false)
	if _, err := h.svc.Standby(ctx, api.StandbyRequest{Node: "n3", On: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := h.svc.Status(ctx)
	if st.ConfigVersion != 0 || st.Cluster != "t" || nodeStates(st) != "n1=online n2=online n3=standby w=online" {
		t.Errorf("status before any commit: version %d cluster %q nodes %s", st.ConfigVersion, st.Cluster, nodeStates(st))
	}
}

// A failure to commit says what happened; nothing is half-done.
func TestCommit_ReportsLogFailures(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		want   string
	}{
		{Mark(ErrNoLeader, errors.New("no raft leader reachable after 9 attempts: context deadline exceeded")), 503,
			"no raft leader reachable (no raft leader reachable after 9 attempts: context deadline exceeded); nothing changed: a majority of the voters must run"},
		{Mark(ErrUnknownOutcome, errors.New("command outcome unknown: leadership lost")), 503,
			"the change was submitted but its outcome is unknown (command outcome unknown: leadership lost): check 'haven status'"},
		{Mark(ErrInvalid, errors.New("command refused before commit: node is empty")), 422, "command refused before commit: node is empty"},
		{fmt.Errorf("%w: node.standby: no", state.ErrRejected), 422, "command rejected: node.standby: no"},
	} {
		h := newHarness(t, true)
		h.log.applyErr = c.err
		_, err := h.svc.Standby(ctx, api.StandbyRequest{Node: "n2", On: true})
		apiError(t, err, c.status, c.want)
	}
	// Anything else passes through unchanged (the API answers 500).
	h := newHarness(t, true)
	boom := errors.New("disk on fire")
	h.log.applyErr = boom
	if _, err := h.svc.Maintenance(ctx, api.MaintenanceRequest{Node: "n2"}); !errors.Is(err, boom) {
		t.Errorf("error %v; expected the log's own", err)
	}
	// A refusal by the state, as an error or in the result only, is a 422.
	for _, inResult := range []bool{false, true} {
		h = newHarness(t, true)
		h.log.refusalInResult = inResult
		h.log.beforeApply = func() { h.log.index = h.st.Index() - 1 } // the next entry replays an applied index
		_, err := h.svc.Standby(ctx, api.StandbyRequest{Node: "n2", On: true})
		apiError(t, err, 422, "already applied")
	}
}

func TestNew_NamesEveryMissingPart(t *testing.T) {
	_, err := New(Config{})
	if err == nil {
		t.Fatal("New(Config{}) succeeded")
	}
	for _, want := range []string{"Node", "Startup", "State", "Log", "Members", "Input"} {
		if !strings.Contains(err.Error(), want+" ") {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestMark_KeepsTheMessageAndTheChain(t *testing.T) {
	inner := errors.New("raft: leadership lost")
	err := Mark(ErrUnknownOutcome, inner)
	if err.Error() != inner.Error() || !errors.Is(err, ErrUnknownOutcome) || !errors.Is(err, inner) || errors.Is(err, ErrNoLeader) {
		t.Errorf("Mark: %q is(kind)=%v is(inner)=%v", err, errors.Is(err, ErrUnknownOutcome), errors.Is(err, inner))
	}
	if Mark(ErrNoLeader, nil) != nil {
		t.Error("Mark of nil is not nil")
	}
}

func nodeStates(v api.StatusView) string {
	var out []string
	for _, n := range v.Nodes {
		out = append(out, n.Name+"="+n.State)
	}
	return strings.Join(out, " ")
}
