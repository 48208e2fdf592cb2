package main

// resource_role.go: `haven resource enable|disable|restart|where`
// (pcs resource enable|disable|restart, crm_resource --locate).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/havenha/haven/engine/api"
	"github.com/havenha/haven/engine/api/client"
)

const agentHelp = "The agent asked is the local one (unix socket; --node NAME: /run/haven/NAME.sock), or with\n" +
	"-c FILE the node --node (or --agent) NAME over TCP, else the first node of the file that answers."

func init() {
	for _, role := range []string{"Started", "Stopped"} {
		name, short := "enable", "Let a resource run again: undo disable (pcs resource enable)"
		if role == "Stopped" {
			name, short = "disable", "Stop a resource everywhere and keep it stopped: target role Stopped (pcs resource disable)"
		}
		cmd := &cobra.Command{
			Use:   name + " RESOURCE [--node NAME] [-c FILE]",
			Short: short,
			Long: short + ".\ndisable sets the runtime target role Stopped; enable removes it, so the file's meta target_role\n" +
				"applies again, or sets Started where the file (or a disabled group or clone above it) would keep\n" +
				"it stopped. A group's or clone's role applies to its members.\n" + agentHelp,
			Args: resourceArgs(1),
		}
		af := addAdminFlags(cmd)
		af.addAgentNode(cmd)
		cmd.RunE = func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
			defer cancel()
			cli, err := af.reachNode(ctx)
			if err != nil {
				return err
			}
			resp, err := cli.SetTargetRole(ctx, api.TargetRoleRequest{Resource: args[0], Role: role, By: whoAmI()})
			if err != nil {
				return err
			}
			if af.asJSON {
				return printJSON(c, resp)
			}
			w := c.OutOrStdout()
			if resp.Index == 0 {
				fmt.Fprintf(w, "%s is already %sd; nothing changed\n", resp.Resource, name)
				return nil
			}
			if resp.Role == "" {
				fmt.Fprintf(w, "%s: enabled: its runtime target role is removed, the configuration's applies (committed at index %d)\n", resp.Resource, resp.Index)
			} else {
				fmt.Fprintf(w, "%s: target role %s (committed at index %d)\n", resp.Resource, resp.Role, resp.Index)
			}
			fmt.Fprint(w, placementText(resp.Placement))
			return nil
		}
		resourceCmd.AddCommand(cmd)
	}

	restart := &cobra.Command{
		Use:   "restart RESOURCE [--timeout DUR] [--node NAME] [-c FILE]",
		Short: "Stop a resource and start it again (pcs resource restart, crm_resource --restart)",
		Long: "Set RESOURCE's target role to Stopped, wait until no node reports it active, then set the\n" +
			"role back to what it was and wait until it runs again. If it does not stop within --timeout\n" +
			"(or the command is interrupted), the role is restored and the command fails saying where it\n" +
			"still runs. Stickiness keeps it where it ran unless something else changed meanwhile.\n" + agentHelp,
		Args: resourceArgs(1),
	}
	var timeout time.Duration
	restart.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the stop, then for the start")
	af := addAdminFlags(restart)
	af.addAgentNode(restart)
	restart.RunE = func(c *cobra.Command, args []string) error {
		if timeout <= 0 {
			return fmt.Errorf("--timeout %s is not positive; expected a duration like 2m", timeout)
		}
		ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cli, err := af.reachNode(rctx)
		cancel()
		if err != nil {
			return err
		}
		res, err := restartResource(ctx, cli, args[0], timeout, c.ErrOrStderr())
		if err != nil {
			return err
		}
		if af.asJSON {
			return printJSON(c, res)
		}
		fmt.Fprintf(c.OutOrStdout(), "Restarted %s: stopped on %s, running on %s\n", res.Resource, strings.Join(res.StoppedOn, ", "), strings.Join(res.RunningOn, ", "))
		return nil
	}
	resourceCmd.AddCommand(restart)

	where := &cobra.Command{
		Use:   "where RESOURCE [--node NAME] [-c FILE]",
		Short: "Show where a resource runs (crm_resource --locate)",
		Long: "Print the nodes where RESOURCE (a primitive, group or clone) runs, its members' nodes, its\n" +
			"runtime target role and its move/ban preferences. The answer is the asked agent's local view.\n" + agentHelp,
		Args: resourceArgs(1),
	}
	waf := addAdminFlags(where)
	waf.addAgentNode(where)
	where.RunE = func(c *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
		defer cancel()
		cli, err := waf.reachNode(ctx)
		if err != nil {
			return err
		}
		v, err := cli.Where(ctx, args[0])
		if err != nil {
			return err
		}
		if waf.asJSON {
			return printJSON(c, v)
		}
		printWhere(c.OutOrStdout(), v)
		return nil
	}
	resourceCmd.AddCommand(where)
}

// printWhere prints crm_resource --locate's line, then the details.
func printWhere(w io.Writer, v api.WhereView) {
	if len(v.Nodes) == 0 {
		fmt.Fprintf(w, "resource %s is NOT running\n", v.Resource)
	} else {
		fmt.Fprintf(w, "resource %s is running on: %s\n", v.Resource, strings.Join(v.Nodes, " "))
	}
	if v.Kind != "primitive" || len(v.Primitives) != 1 || v.Primitives[0].ID != v.Resource {
		for _, p := range v.Primitives {
			on := "stopped"
			if len(p.Started) > 0 {
				on = strings.Join(p.Started, " ")
			}
			fmt.Fprintf(w, "  %s: %s\n", p.ID, on)
		}
	}
	if v.TargetRole != "" {
		fmt.Fprintf(w, "  target role: %s (haven resource %s)\n", v.TargetRole, map[string]string{"Started": "enable", "Stopped": "disable"}[v.TargetRole])
	}
	for _, p := range v.Preferences {
		fmt.Fprintf(w, "  %s\n", preferenceText(p))
	}
}

// restartResult is `haven resource restart --json`.
type restartResult struct {
	Resource     string   `json:"resource"`
	StoppedOn    []string `json:"stopped_on"`
	RunningOn    []string `json:"running_on"`
	PreviousRole string   `json:"previous_role"`
}

// pollEvery is how often restart asks the agent where the resource runs.
const pollEvery = 250 * time.Millisecond

// restartResource stops id (target role Stopped), waits until no node
// reports it active, restores the role and waits until every member
// primitive runs on as many nodes as before. Each wait is bounded by
// timeout; a failed or interrupted stop restores the role.
func restartResource(ctx context.Context, cli *client.Client, id string, timeout time.Duration, progress io.Writer) (restartResult, error) {
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	before, err := cli.Where(qctx, id)
	cancel()
	if err != nil {
		return restartResult{}, err
	}
	if len(before.Nodes) == 0 {
		return restartResult{}, fmt.Errorf("%s is not running on any node; nothing to restart ('haven resource enable %s' starts a disabled resource, 'haven status' says why it is stopped)", id, id)
	}
	want := map[string]int{}
	for _, p := range before.Primitives {
		want[p.ID] = len(p.Started)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	set, err := cli.SetTargetRole(sctx, api.TargetRoleRequest{Resource: id, Role: "Stopped", By: whoAmI() + " (restart)"})
	cancel()
	if err != nil {
		return restartResult{}, err
	}
	res := restartResult{Resource: id, StoppedOn: before.Nodes, PreviousRole: set.Previous}
	restore := func() error {
		// A fresh context: the restore must happen even after an interrupt.
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := cli.SetTargetRole(rctx, api.TargetRoleRequest{Resource: id, Role: set.Previous, By: whoAmI() + " (restart)"})
		return err
	}
	fmt.Fprintf(progress, "Stopping %s on %s ...\n", id, strings.Join(before.Nodes, ", "))
	last, werr := waitWhere(ctx, cli, id, timeout, func(v api.WhereView) bool {
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
	last, werr = waitWhere(ctx, cli, id, timeout, func(v api.WhereView) bool {
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

// waitWhere polls Where until ok, the timeout, or ctx's end; it returns the
// last answer. Transient errors (an agent busy electing) are retried.
func waitWhere(ctx context.Context, cli *client.Client, id string, timeout time.Duration, ok func(api.WhereView) bool) (api.WhereView, error) {
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
			var ce *client.Error
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
