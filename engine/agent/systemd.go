package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/model"
)

// SystemdBus is the part of systemd's D-Bus API the agent uses; go-systemd's
// *dbus.Conn implements it.
type SystemdBus interface {
	StartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	StopUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	ResetFailedUnitContext(ctx context.Context, name string) error
	GetUnitPropertiesContext(ctx context.Context, unit string) (map[string]any, error)
	Close()
}

// SystemdType is the `systemd` resource type: a unit started and stopped
// through systemd's D-Bus API. Registered as `systemd` (param unit) and
// resolved from `systemd:UNIT` (Unit set).
type SystemdType struct {
	// Unit, when set, is the unit from the type name (systemd:tgtd).
	Unit string
	// Dial connects to systemd; nil means go-systemd's NewWithContext
	// (systemd's private socket as root, else the system bus).
	Dial func(ctx context.Context) (SystemdBus, error)
}

// DialSystemdSocket returns a Dial function for systemd's private socket at
// path (normally /run/systemd/private; another path reaches a systemd in a
// container whose /run is shared). It authenticates as this process's uid.
func DialSystemdSocket(path string) func(ctx context.Context) (SystemdBus, error) {
	return func(ctx context.Context) (SystemdBus, error) {
		c, err := sdbus.NewConnection(func() (*godbus.Conn, error) {
			conn, err := godbus.Dial("unix:path="+path, godbus.WithContext(ctx))
			if err != nil {
				return nil, err
			}
			if err := conn.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		})
		if err != nil {
			return nil, fmt.Errorf("systemd socket %s: %w", path, err)
		}
		return c, nil
	}
}

type systemdParams struct {
	Unit string `json:"unit,omitempty"`
}

// Defaults returns systemd's operation defaults (Pacemaker's 100s for
// systemd start and stop: units may take long to settle).
func (t *SystemdType) Defaults() model.OpDefaults {
	d := agentkit.DefaultOps
	d.StartTimeout = model.Duration(100 * time.Second)
	d.StopTimeout = model.Duration(100 * time.Second)
	return d
}

// Validate checks systemd's params.
func (t *SystemdType) Validate(params map[string]any) []model.ParamProblem {
	_, ps := t.decode(params)
	return ps
}

func (t *SystemdType) decode(params map[string]any) (string, []model.ParamProblem) {
	var p systemdParams
	if ps := agentkit.DecodeProblems(params, &p); ps != nil {
		return "", ps
	}
	unit := p.Unit
	switch {
	case t.Unit != "" && unit != "" && unitName(unit) != unitName(t.Unit):
		return "", []model.ParamProblem{{Key: "unit", Msg: fmt.Sprintf("%q contradicts the type's unit %q; give one", unit, t.Unit)}}
	case t.Unit != "":
		unit = t.Unit
	case unit == "":
		return "", []model.ParamProblem{{Key: "unit", Msg: "required: the unit to run, e.g. apache2 or tgtd.service (or write the type as systemd:UNIT)"}}
	}
	if strings.ContainsAny(unit, "/ \t\n") {
		return "", []model.ParamProblem{{Key: "unit", Msg: fmt.Sprintf("%q is not a unit name", unit)}}
	}
	return unitName(unit), nil
}

// unitName adds ".service" to a bare name, as Pacemaker does.
func unitName(u string) string {
	for _, s := range []string{".service", ".socket", ".mount", ".target", ".timer", ".path", ".scope", ".slice", ".swap", ".automount", ".device"} {
		if strings.HasSuffix(u, s) {
			return u
		}
	}
	return u + ".service"
}

// New builds a systemd agent (no I/O).
func (t *SystemdType) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	unit, ps := t.decode(res.Params)
	if err := agentkit.ProblemsErr("systemd", ps); err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.ID, err)
	}
	dial := t.Dial
	if dial == nil {
		dial = func(ctx context.Context) (SystemdBus, error) { return sdbus.NewWithContext(ctx) }
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &systemdAgent{unit: unit, dial: dial, log: log.With("resource", res.ID, "agent", "systemd", "unit", unit)}, nil
}

type systemdAgent struct {
	unit string
	dial func(ctx context.Context) (SystemdBus, error)
	log  *slog.Logger
}

// unitState is what the agent reads of a unit.
type unitState struct{ Load, Active, Sub string }

func (a *systemdAgent) connect(ctx context.Context) (SystemdBus, error) {
	bus, err := a.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over D-Bus (is systemd running as PID 1?): %w", err)
	}
	return bus, nil
}

func (a *systemdAgent) state(ctx context.Context, bus SystemdBus) (unitState, error) {
	props, err := bus.GetUnitPropertiesContext(ctx, a.unit)
	if err != nil {
		return unitState{}, fmt.Errorf("read state of unit %s: %w", a.unit, err)
	}
	str := func(k string) string { s, _ := props[k].(string); return s }
	return unitState{Load: str("LoadState"), Active: str("ActiveState"), Sub: str("SubState")}, nil
}

// systemdStatus maps a unit's state to a monitor result:
//   - active, reloading, refreshing → running;
//   - activating → running, except sub-state auto-restart (a crashed
//     service waiting to be restarted by systemd) → failed;
//   - deactivating → running (it still holds its resources until stopped);
//   - inactive → stopped; failed → failed;
//   - a unit that is not loaded (not-found, masked…) → stopped.
func systemdStatus(s unitState) (model.Status, error) {
	if s.Load != "" && s.Load != "loaded" {
		return model.StatusStopped, nil
	}
	switch s.Active {
	case "active", "reloading", "refreshing", "deactivating":
		return model.StatusRunning, nil
	case "activating":
		if s.Sub == "auto-restart" {
			return model.StatusFailed, fmt.Errorf("unit is crashing and being restarted by systemd (activating/auto-restart)")
		}
		return model.StatusRunning, nil
	case "inactive":
		return model.StatusStopped, nil
	case "failed":
		return model.StatusFailed, fmt.Errorf("unit is failed (%s); see journalctl -u", s.Sub)
	}
	return model.StatusFailed, fmt.Errorf("unit is in unexpected state %s/%s", s.Active, s.Sub)
}

// Monitor reads the unit's ActiveState and SubState (see systemdStatus).
func (a *systemdAgent) Monitor(ctx context.Context) (model.Status, error) {
	bus, err := a.connect(ctx)
	if err != nil {
		return model.StatusStopped, err
	}
	defer bus.Close()
	s, err := a.state(ctx, bus)
	if err != nil {
		return model.StatusStopped, err
	}
	st, err := systemdStatus(s)
	if err != nil {
		err = fmt.Errorf("%s: %w", a.unit, err)
	}
	return st, err
}

// job runs a start or stop job and waits for its result ("done").
func (a *systemdAgent) job(ctx context.Context, verb string, run func(chan<- string) (int, error)) error {
	ch := make(chan string, 1)
	if _, err := run(ch); err != nil {
		return fmt.Errorf("%s unit %s: %w", verb, a.unit, err)
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("%s unit %s: job result %q, expected done (see journalctl -u %s)", verb, a.unit, res, a.unit)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s unit %s: the job did not finish within the operation timeout: %w", verb, a.unit, ctx.Err())
	}
}

// waitState polls until the unit's status is want, or fails.
func (a *systemdAgent) waitState(ctx context.Context, bus SystemdBus, want model.Status) error {
	for {
		s, err := a.state(ctx, bus)
		if err != nil {
			return err
		}
		st, serr := systemdStatus(s)
		if st == want && !(want == model.StatusRunning && s.Active != "active" && s.Active != "reloading") {
			return nil
		}
		if want == model.StatusRunning && (s.Active == "failed" || s.Active == "inactive") {
			return fmt.Errorf("unit %s is %s/%s right after its start job: %v", a.unit, s.Active, s.Sub, serr)
		}
		if !agentkit.SleepCtx(ctx, 100*time.Millisecond) {
			return fmt.Errorf("unit %s is %s/%s when the operation timeout ended: %w", a.unit, s.Active, s.Sub, ctx.Err())
		}
	}
}

// Start starts the unit (job mode "replace") unless it is active, waits for
// the job and then for ActiveState active. A unit that does not exist is
// ErrNotInstalled.
func (a *systemdAgent) Start(ctx context.Context) error {
	bus, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer bus.Close()
	s, err := a.state(ctx, bus)
	if err != nil {
		return err
	}
	if s.Load == "not-found" || s.Load == "masked" {
		return fmt.Errorf("unit %s is %s: %w", a.unit, s.Load, ErrNotInstalled)
	}
	if s.Active == "active" || s.Active == "reloading" {
		return nil
	}
	if err := a.job(ctx, "start", func(ch chan<- string) (int, error) {
		return bus.StartUnitContext(ctx, a.unit, "replace", ch)
	}); err != nil {
		return err
	}
	if err := a.waitState(ctx, bus, model.StatusRunning); err != nil {
		return err
	}
	a.log.Info("started")
	return nil
}

// Stop stops the unit (job mode "replace"), waits until it is inactive and
// resets a failed state, so that the next monitor reports stopped. A unit
// that does not exist is stopped.
func (a *systemdAgent) Stop(ctx context.Context) error {
	bus, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer bus.Close()
	s, err := a.state(ctx, bus)
	if err != nil {
		return err
	}
	if s.Load == "not-found" {
		return nil
	}
	if s.Active != "inactive" && s.Active != "failed" {
		if err := a.job(ctx, "stop", func(ch chan<- string) (int, error) {
			return bus.StopUnitContext(ctx, a.unit, "replace", ch)
		}); err != nil {
			return err
		}
		for {
			if s, err = a.state(ctx, bus); err != nil {
				return err
			}
			if s.Active == "inactive" || s.Active == "failed" {
				break
			}
			if !agentkit.SleepCtx(ctx, 100*time.Millisecond) {
				return fmt.Errorf("unit %s is still %s/%s when the stop timeout ended", a.unit, s.Active, s.Sub)
			}
		}
	}
	if s.Active == "failed" {
		if err := bus.ResetFailedUnitContext(ctx, a.unit); err != nil {
			return fmt.Errorf("reset failed unit %s: %w", a.unit, err)
		}
	}
	a.log.Info("stopped")
	return nil
}
