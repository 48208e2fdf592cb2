package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/havenha/haven/engine/api"
)

// RestartResult is what Restart did (`haven resource restart --json`).
type RestartResult struct {
	Resource     string   `json:"resource"`
	StoppedOn    []string `json:"stopped_on"`
	RunningOn    []string `json:"running_on"`
	PreviousRole string   `json:"previous_role"`
}

// pollEvery is how often restart asks the agent where the resource runs.
const pollEvery = 250 * time.Millisecond

// Restart is `pcs resource restart` over the API: it stops id (target role
// Stopped, committed as by), waits until no node reports it active,
// restores the role and waits until every member primitive runs on as many
// nodes as before, printing its progress. Each wait is bounded by timeout;
// a failed or interrupted stop restores the role.
func (cli *Client) Restart(ctx context.Context, id, by string, timeout time.Duration, progress io.Writer) (RestartResult, error) {
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	before, err := cli.Where(qctx, id)
	cancel()
	if err != nil {
		return RestartResult{}, err
	}
	if len(before.Nodes) == 0 {
		return RestartResult{}, fmt.Errorf("%s is not running on any node; nothing to restart ('haven resource enable %s' starts a disabled resource, 'haven status' says why it is stopped)", id, id)
	}
	want := map[string]int{}
	for _, p := range before.Primitives {
		want[p.ID] = len(p.Started)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	set, err := cli.SetTargetRole(sctx, api.TargetRoleRequest{Resource: id, Role: "Stopped", By: by})
	cancel()
	if err != nil {
		return RestartResult{}, err
	}
	res := RestartResult{Resource: id, StoppedOn: before.Nodes, PreviousRole: set.Previous}
	restore := func() error {
		// A fresh context: the restore must happen even after an interrupt.
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := cli.SetTargetRole(rctx, api.TargetRoleRequest{Resource: id, Role: set.Previous, By: by})
		return err
	}
	fmt.Fprintf(progress, "Stopping %s on %s ...\n", id, strings.Join(before.Nodes, ", "))
	last, werr := cli.WaitWhere(ctx, id, timeout, func(v api.WhereView) bool {
		for _, p := range v.Primitives {
			if len(p.Active) > 0 {
				return false
			}
		}
		return true
	})
	if werr != nil {
		rerr := restore()
		still := []string{}
		for _, p := range last.Primitives {
			for _, n := range p.Active {
				still = append(still, p.ID+" on "+n)
			}
		}
		msg := fmt.Sprintf("%s did not stop (%v); still active: %s", id, werr, strings.Join(still, ", "))
		if rerr != nil {
			return res, fmt.Errorf("%s; restoring its target role %q failed too (%v): run 'haven resource enable %s' once the cluster answers", msg, set.Previous, rerr, id)
		}
		return res, fmt.Errorf("%s; its target role is restored to %s, nothing else changed: check 'haven status'", msg, roleText(set.Previous))
	}
	if err := restore(); err != nil {
		return res, fmt.Errorf("%s stopped, but restoring its target role %s failed (%v): it stays stopped; run 'haven resource enable %s'", id, roleText(set.Previous), err, id)
	}
	fmt.Fprintf(progress, "Starting %s ...\n", id)
	last, werr = cli.WaitWhere(ctx, id, timeout, func(v api.WhereView) bool {
		for _, p := range v.Primitives {
			if len(p.Started) < want[p.ID] {
				return false
			}
		}
		return true
	})
	res.RunningOn = orEmpty(last.Nodes)
	if werr != nil {
		return res, fmt.Errorf("%s stopped and its target role is restored to %s, but it does not run again (%v; it runs on %s): check 'haven status' for a failure",
			id, roleText(set.Previous), werr, orNone(last.Nodes))
	}
	return res, nil
}

func roleText(r string) string {
	if r == "" {
		return "the configuration's"
	}
	return r
}

func orNone(nodes []string) string {
	if len(nodes) == 0 {
		return "no node"
	}
	return strings.Join(nodes, ", ")
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WaitWhere polls Where until ok, the timeout, or ctx's end; it returns the
// last answer. Transient errors (an agent busy electing) are retried.
func (cli *Client) WaitWhere(ctx context.Context, id string, timeout time.Duration, ok func(api.WhereView) bool) (api.WhereView, error) {
	deadline := time.Now().Add(timeout)
	var last api.WhereView
	var lastErr error
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := cli.Where(qctx, id)
		cancel()
		if err == nil {
			last, lastErr = v, nil
			if ok(v) {
				return v, nil
			}
		} else {
			lastErr = err
			var ce *Error
			if errors.As(err, &ce) && ce.Status == 404 {
				return last, err // the resource left the configuration
			}
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				return last, fmt.Errorf("not within %s; last answer: %v", timeout, lastErr)
			}
			return last, fmt.Errorf("not within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("interrupted: %w", context.Cause(ctx))
		case <-time.After(pollEvery):
		}
	}
}
