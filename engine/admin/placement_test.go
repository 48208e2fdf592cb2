package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/state"
)

var ctx = context.Background()

// prefs renders a resource's committed preferences as "kind node" strings.
func prefs(h *harness, id string) []string {
	var out []string
	if rs := h.st.View().Resources[id]; rs != nil {
		for _, p := range rs.Preferences {
			out = append(out, p.Kind+" "+p.Node)
		}
	}
	return out
}

func changes(pc []api.PlacementChange) string {
	var out []string
	for _, c := range pc {
		out = append(out, c.ID+": "+strings.Join(c.From, ",")+" -> "+strings.Join(c.To, ","))
	}
	return strings.Join(out, "; ")
}

func TestMove_ToANodePrefersItWithInfinity(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	mark := h.log.count()
	resp, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n2", By: "alice@host"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Kind != state.PrefMove || resp.Node != "n2" || !slices.Equal(resp.From, []string{"n1"}) || resp.Index != h.st.Index() || resp.Expires != nil {
		t.Errorf("response %+v; expected a move to n2 from n1 at index %d, no expiry", resp, h.st.Index())
	}
	if got := changes(resp.Placement); got != "web: n1 -> n2" {
		t.Errorf("placement changes %q; expected web: n1 -> n2", got)
	}
	if len(resp.Warnings) != 0 {
		t.Errorf("warnings %q; expected none", resp.Warnings)
	}
	if got := h.log.commandsSince(mark); !slices.Equal(got, []string{state.CmdMove}) {
		t.Errorf("committed %v; expected one resource.move", got)
	}
	if got := h.log.applied[len(h.log.applied)-1].By; got != "alice@host" {
		t.Errorf("recorded by %q; expected the requester", got)
	}
	if got := prefs(h, "web"); !slices.Equal(got, []string{"move n2"}) {
		t.Errorf("preferences %v; expected [move n2]", got)
	}
	// A second move replaces the first (one move per resource).
	if _, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if got := prefs(h, "web"); !slices.Equal(got, []string{"move n1"}) {
		t.Errorf("preferences after a second move %v; expected [move n1]", got)
	}
	if got := h.log.applied[len(h.log.applied)-1].By; got != "api@n1" {
		t.Errorf("recorded by %q; expected api@n1 when the request names nobody", got)
	}
	// The preview replaces the earlier move too: a forced move to n3
	// (-INFINITY there) leaves web where it runs, not on n2.
	if _, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	resp, err = h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n3", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(resp.Placement); got != "web: n2 -> n1" {
		t.Errorf("placement changes %q; expected web: n2 -> n1 (the move to n2 replaced)", got)
	}
}

func TestMove_ClearsTheBanOnTheTargetFirst(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	if _, err := h.svc.Ban(ctx, api.MoveRequest{Resource: "web", Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	mark := h.log.count()
	resp, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Cleared) != 1 || resp.Cleared[0].Kind != state.PrefBan || resp.Cleared[0].Node != "n2" || resp.Cleared[0].Score != "-INFINITY" {
		t.Errorf("cleared %+v; expected the ban on n2", resp.Cleared)
	}
	if got := h.log.commandsSince(mark); !slices.Equal(got, []string{state.CmdClear, state.CmdMove}) {
		t.Errorf("committed %v; expected resource.clear then resource.move", got)
	}
	if got := prefs(h, "web"); !slices.Equal(got, []string{"move n2"}) {
		t.Errorf("preferences %v; expected only [move n2]", got)
	}
}

func TestMove_RefusesWhereItCannotRunUnlessForced(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	mark := h.log.count()
	_, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n3"})
	apiError(t, err, 422, "web cannot run on n3", "web-never-n3", "-INFINITY", "nothing changed", "--force")
	h.apply(state.CmdNodeStandby, state.NodeFlag{Node: "n2", On: true})
	_, err = h.svc.Move(ctx, api.MoveRequest{Resource: "g", Node: "n2"})
	apiError(t, err, 422, "g cannot run on n2", "standby")
	if got := h.log.commandsSince(mark); !slices.Equal(got, []string{state.CmdNodeStandby}) {
		t.Fatalf("refusals committed %v; expected nothing but the test's standby", got)
	}
	resp, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n3", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "web will not run on n3 yet: ") || !strings.Contains(resp.Warnings[0], "web-never-n3") {
		t.Errorf("warnings %q; expected one saying web will not run on n3 yet, naming the location", resp.Warnings)
	}
	if got := prefs(h, "web"); !slices.Equal(got, []string{"move n3"}) {
		t.Errorf("preferences %v; expected the forced move", got)
	}
}

func TestMove_RefusesClonesWitnessesAndUnknownNames(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	mark := h.log.count()
	for _, c := range []struct {
		req    api.MoveRequest
		ban    bool
		status int
		want   []string
	}{
		{api.MoveRequest{Resource: "c-clone", Node: "n1"}, false, 422, []string{"c-clone is a clone or part of clone c-clone", "'haven resource ban c-clone NODE'"}},
		{api.MoveRequest{Resource: "c", Node: "n1"}, false, 422, []string{"c is a clone or part of clone c-clone"}},
		{api.MoveRequest{Resource: "c-clone"}, false, 422, []string{"c-clone runs on n1, n2; nothing changed: name the node to move it from"}},
		{api.MoveRequest{Resource: "off"}, false, 422, []string{"off is not running on any node", "'haven resource move off NODE'"}},
		{api.MoveRequest{Resource: "off"}, true, 422, []string{"no current node to ban it from", "'haven resource ban off NODE'"}},
		{api.MoveRequest{Resource: "web", Node: "w"}, false, 422, []string{"node w is a witness", "web cannot move there", "Resource nodes: n1, n2, n3"}},
		{api.MoveRequest{Resource: "web", Node: "w", Force: true}, false, 422, []string{"node w is a witness"}},
		{api.MoveRequest{Resource: "web", Node: "w"}, true, 422, []string{"web cannot be banned there"}},
		{api.MoveRequest{Resource: "web", Node: "nope"}, false, 404, []string{`no node "nope" in the committed configuration; expected one of n1, n2, n3, w`}},
		{api.MoveRequest{Resource: "nope", Node: "n1"}, true, 404, []string{`no resource, group or clone "nope"`, "expected one of a, b, c, c-clone, g, off, web"}},
		{api.MoveRequest{Resource: "web", Node: "n2", Lifetime: "soon"}, false, 400, []string{`lifetime "soon" is not a duration`}},
	} {
		do := h.svc.Move
		if c.ban {
			do = h.svc.Ban
		}
		_, err := do(ctx, c.req)
		apiError(t, err, c.status, c.want...)
	}
	if got := h.log.commandsSince(mark); len(got) != 0 {
		t.Errorf("refusals committed %v; expected nothing", got)
	}
}

func TestMove_WithoutANodeBansTheCurrentOne(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	resp, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Kind != state.PrefBan || resp.Node != "n1" || changes(resp.Placement) != "web: n1 -> n2" {
		t.Errorf("response %+v; expected a ban of n1 moving web to n2 (n3 is -INFINITY)", resp)
	}
	if got := prefs(h, "web"); !slices.Equal(got, []string{"ban n1"}) {
		t.Errorf("preferences %v; expected [ban n1]", got)
	}
	// Banning the only other node leaves it nowhere: committed, with a warning.
	resp, err = h.svc.Ban(ctx, api.MoveRequest{Resource: "web", Node: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "web will not run anywhere: ") {
		t.Errorf("warnings %q; expected web will not run anywhere", resp.Warnings)
	}
	if got := prefs(h, "web"); !slices.Equal(got, []string{"ban n1", "ban n2"}) {
		t.Errorf("preferences %v; expected both bans", got)
	}
}

func TestMove_LifetimeSetsTheExpiry(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	resp, err := h.svc.Ban(ctx, api.MoveRequest{Resource: "g", Node: "n2", Lifetime: "PT30M"})
	if err != nil {
		t.Fatal(err)
	}
	if want := h.clock.Now().Add(30 * time.Minute); resp.Expires == nil || !resp.Expires.Equal(want) {
		t.Errorf("expires %v; expected %v", resp.Expires, want)
	}
	cv, _ := h.svc.Constraints(ctx)
	if len(cv.Preferences) != 1 || cv.Preferences[0].Resource != "g" || cv.Preferences[0].Kind != state.PrefBan {
		t.Errorf("constraints %+v; expected the ban of g", cv)
	}
	h.clock.advance(31 * time.Minute)
	cv, _ = h.svc.Constraints(ctx)
	w, _ := h.svc.Where(ctx, "g")
	if len(cv.Preferences) != 0 || len(w.Preferences) != 0 {
		t.Errorf("after its lifetime: constraints %+v, where %+v; expected no preference in force", cv.Preferences, w.Preferences)
	}
}

func TestMove_WithoutALeaderCommitsNothing(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	h.log.barrierErr = errors.New("barrier: context deadline exceeded")
	mark := h.log.count()
	for _, err := range []error{
		func() error { _, err := h.svc.Move(ctx, api.MoveRequest{Resource: "web", Node: "n2"}); return err }(),
		func() error { _, err := h.svc.Clear(ctx, api.ClearRequest{Resource: "web"}); return err }(),
		func() error {
			_, err := h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "web", Role: "Stopped"})
			return err
		}(),
	} {
		apiError(t, err, 503, "no raft leader reachable from n1 (barrier: context deadline exceeded); nothing changed: a majority of the voters must run")
	}
	if got := h.log.commandsSince(mark); len(got) != 0 {
		t.Errorf("committed %v without a leader", got)
	}
	// Reads stay local.
	if w, err := h.svc.Where(ctx, "web"); err != nil || !slices.Equal(w.Nodes, []string{"n1"}) {
		t.Errorf("where without a leader: %+v %v", w, err)
	}
}

func TestClear_RemovesMatchingPreferences(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	mark := h.log.count()
	resp, err := h.svc.Clear(ctx, api.ClearRequest{Resource: "web"})
	if err != nil || resp.Index != 0 || len(resp.Cleared) != 0 || resp.Placement == nil {
		t.Fatalf("clear with nothing to clear: %+v %v; expected index 0, nothing cleared", resp, err)
	}
	if got := h.log.commandsSince(mark); len(got) != 0 {
		t.Fatalf("nothing to clear committed %v", got)
	}
	for _, n := range []string{"n1", "n3"} {
		if _, err := h.svc.Ban(ctx, api.MoveRequest{Resource: "web", Node: n}); err != nil {
			t.Fatal(err)
		}
	}
	// A node that left the file can still be named: its preference is cleared.
	h.apply(state.CmdBan, state.Prefer{Resource: "web", Node: "gone"})
	_, err = h.svc.Clear(ctx, api.ClearRequest{Resource: "web", Node: "nope"})
	apiError(t, err, 404, `no node "nope"`)
	if resp, err = h.svc.Clear(ctx, api.ClearRequest{Resource: "web", Node: "gone"}); err != nil || len(resp.Cleared) != 1 {
		t.Fatalf("clear web gone: %+v %v", resp, err)
	}
	resp, err = h.svc.Clear(ctx, api.ClearRequest{Resource: "web", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Cleared) != 1 || resp.Cleared[0].Node != "n1" || changes(resp.Placement) != "web: n2 -> n1" || resp.Index == 0 {
		t.Errorf("clear web n1: %+v; expected the n1 ban cleared and web placed on n1 again, where it still runs", resp)
	}
	if got := prefs(h, "web"); !slices.Equal(got, []string{"ban n3"}) {
		t.Errorf("preferences %v; expected [ban n3]", got)
	}
	if resp, err = h.svc.Clear(ctx, api.ClearRequest{Resource: "web"}); err != nil || len(resp.Cleared) != 1 {
		t.Fatalf("clear web: %+v %v", resp, err)
	}
	if got := prefs(h, "web"); len(got) != 0 {
		t.Errorf("preferences %v; expected none", got)
	}
	_, err = h.svc.Clear(ctx, api.ClearRequest{Resource: "nope"})
	apiError(t, err, 404, `no resource, group or clone "nope"`)
}

func TestSetTargetRole_DisableAndEnable(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	resp, err := h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "web", Role: "Stopped"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Role != "Stopped" || resp.Previous != "" || resp.Index == 0 || changes(resp.Placement) != "web: n1 -> " {
		t.Errorf("disable web: %+v; expected Stopped, web n1 -> stopped", resp)
	}
	mark := h.log.count()
	if resp, err = h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "web", Role: "Stopped"}); err != nil || resp.Index != 0 {
		t.Errorf("disable again: %+v %v; expected index 0", resp, err)
	}
	if got := h.log.commandsSince(mark); len(got) != 0 {
		t.Errorf("disabling a disabled resource committed %v", got)
	}
	// Enable drops the runtime role when nothing above stops it...
	if resp, err = h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "web", Role: "Started"}); err != nil || resp.Role != "" || resp.Previous != "Stopped" {
		t.Errorf("enable web: %+v %v; expected role \"\" (follow the file), previous Stopped", resp, err)
	}
	// ...and sets Started over a file's target_role Stopped or a disabled group.
	if resp, err = h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "off", Role: "Started"}); err != nil || resp.Role != "Started" {
		t.Errorf("enable off: %+v %v; expected Started (the file stops it)", resp, err)
	}
	if _, err := h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "g", Role: "Stopped"}); err != nil {
		t.Fatal(err)
	}
	if resp, err = h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "a", Role: "Started"}); err != nil || resp.Role != "Started" {
		t.Errorf("enable a in a disabled group: %+v %v; expected Started", resp, err)
	}
	cv, _ := h.svc.Constraints(ctx)
	var roles []string
	for _, r := range cv.TargetRoles {
		roles = append(roles, r.Resource+"="+r.Role)
	}
	if !slices.Equal(roles, []string{"a=Started", "g=Stopped", "off=Started"}) {
		t.Errorf("target roles %v; expected a=Started g=Stopped off=Started", roles)
	}
	_, err = h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "web", Role: "Master"})
	apiError(t, err, 400, `role "Master"; expected Started, Stopped or empty`)
	_, err = h.svc.SetTargetRole(ctx, api.TargetRoleRequest{Resource: "nope", Role: "Stopped"})
	apiError(t, err, 404, `no resource, group or clone "nope"`)
}

func TestWhere_LocatesMembersAndPreferences(t *testing.T) {
	h := newHarness(t, true)
	h.running()
	h.report("n3", "b", state.Stopping)
	h.apply(state.CmdSetPlacement, state.SetPlacement{BasedOn: h.st.Index(), Placement: map[string][]string{"g": {"n2"}}})
	if _, err := h.svc.Move(ctx, api.MoveRequest{Resource: "g", Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	w, err := h.svc.Where(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if w.Kind != "group" || !slices.Equal(w.Nodes, []string{"n2"}) || !slices.Equal(w.Placed, []string{"n2"}) || len(w.Primitives) != 2 ||
		!slices.Equal(w.Primitives[1].Active, []string{"n2", "n3"}) || len(w.Preferences) != 1 || w.Preferences[0].Score != "INFINITY" {
		t.Errorf("where g: %+v", w)
	}
	if w, _ = h.svc.Where(ctx, "c-clone"); w.Kind != "clone" || !slices.Equal(w.Nodes, []string{"n1", "n2"}) || len(w.Placed) != 0 || w.Placed == nil {
		t.Errorf("where c-clone: %+v; expected running on n1 n2, placed [] (no plan names it)", w)
	}
	_, err = h.svc.Where(ctx, "nope")
	apiError(t, err, 404, `no resource, group or clone "nope"`)
}
