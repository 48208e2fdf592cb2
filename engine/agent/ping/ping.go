package ping

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/model"
)

// Type is the `ping` resource type (Pacemaker's ocf:pacemaker:ping): it
// sets a transient node attribute to multiplier × the number of reachable
// hosts, for location rules such as `pingd lt 1 or not_defined pingd`.
type Type struct{}

// hostList accepts a YAML list or Pacemaker's space-separated string.
type hostList []string

func (h *hostList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*h = strings.Fields(s)
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("expected a list of hosts or a space-separated string")
	}
	*h = l
	return nil
}

type pingParams struct {
	HostList   hostList        `json:"host_list"`
	Multiplier *int            `json:"multiplier,omitempty"`
	Attribute  string          `json:"attribute,omitempty"`
	Dampen     *model.Duration `json:"dampen,omitempty"`
	Interval   model.Duration  `json:"interval,omitempty"`
	Timeout    model.Duration  `json:"timeout,omitempty"`
	Attempts   int             `json:"attempts,omitempty"`
	Method     string          `json:"method,omitempty"`
}

// Ping defaults (Pacemaker's ping agent: attempts 3, timeout 2s, dampen 5s).
const (
	defaultPingAttribute = "pingd"
	defaultPingDampen    = 5 * time.Second
	defaultPingInterval  = 10 * time.Second
	defaultPingTimeout   = 2 * time.Second
	defaultPingAttempts  = 3
)

func (p *pingParams) applyDefaults() {
	if p.Multiplier == nil {
		one := 1
		p.Multiplier = &one
	}
	if p.Attribute == "" {
		p.Attribute = defaultPingAttribute
	}
	if p.Dampen == nil {
		d := model.Duration(defaultPingDampen)
		p.Dampen = &d
	}
	if p.Interval == 0 {
		p.Interval = model.Duration(defaultPingInterval)
	}
	if p.Timeout == 0 {
		p.Timeout = model.Duration(defaultPingTimeout)
	}
	if p.Attempts == 0 {
		p.Attempts = defaultPingAttempts
	}
	if p.Method == "" {
		p.Method = "icmp"
	}
}

// Defaults returns ping's operation defaults.
func (Type) Defaults() model.OpDefaults { return agentkit.DefaultOps }

// Validate checks ping's params.
func (Type) Validate(params map[string]any) []model.ParamProblem {
	_, ps := decodePing(params)
	return ps
}

func decodePing(params map[string]any) (pingParams, []model.ParamProblem) {
	var p pingParams
	if ps := agentkit.DecodeProblems(params, &p); ps != nil {
		return p, ps
	}
	var ps []model.ParamProblem
	add := func(k, f string, a ...any) { ps = append(ps, model.ParamProblem{Key: k, Msg: fmt.Sprintf(f, a...)}) }
	if len(p.HostList) == 0 {
		add("host_list", "required: the hosts to ping, as a list or a space-separated string")
	}
	switch p.Method {
	case "", "icmp":
		for _, h := range p.HostList {
			if h == "" || strings.HasPrefix(h, "-") || strings.ContainsAny(h, " \t/") {
				add("host_list", "%q is not a host name or address", h)
			}
		}
	case "tcp":
		for _, h := range p.HostList {
			if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
				add("host_list", "%q: with method tcp every host is host:port", h)
			}
		}
	default:
		add("method", "%q: expected icmp (default) or tcp", p.Method)
	}
	if p.Multiplier != nil && *p.Multiplier < 0 {
		add("multiplier", "%d: expected 0 or more", *p.Multiplier)
	}
	if p.Attempts < 0 {
		add("attempts", "%d: expected 1 or more", p.Attempts)
	}
	if p.Interval != 0 && p.Interval.D() < 100*time.Millisecond {
		add("interval", "%s: expected at least 100ms", p.Interval)
	}
	if p.Attribute != "" && strings.ContainsAny(p.Attribute, " \t\n") {
		add("attribute", "%q: expected a name without spaces", p.Attribute)
	}
	p.applyDefaults()
	return p, ps
}

// New builds a ping agent (no I/O).
func (Type) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	p, ps := decodePing(res.Params)
	if err := agentkit.ProblemsErr("ping", ps); err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.ID, err)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &pingAgent{p: p, set: env.SetAttribute, log: log.With("resource", res.ID, "agent", "ping")}, nil
}

type pingAgent struct {
	p   pingParams
	set func(name, value string)
	log *slog.Logger

	// probe checks one host; nil means reachable (a seam for tests).
	probe func(ctx context.Context, host string) bool

	mu   sync.Mutex
	loop *pingLoop
}

type pingLoop struct {
	cancel  context.CancelFunc
	done    chan struct{}
	firstCh chan struct{} // closed after the first round set the attribute
}

func (a *pingAgent) setAttr(v string) {
	a.log.Info("node attribute", "name", a.p.Attribute, "value", v)
	if a.set != nil {
		a.set(a.p.Attribute, v)
	}
}

// Start starts the probe loop unless it runs, and returns once the first
// round has set the attribute. The first value is set at once (so rules on
// not_defined can decide); later changes are written after dampen, with the
// value current then.
func (a *pingAgent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.loop; l != nil {
		select {
		case <-l.done:
		default:
			return nil
		}
	}
	lctx, cancel := context.WithCancel(context.Background())
	l := &pingLoop{cancel: cancel, done: make(chan struct{}), firstCh: make(chan struct{})}
	go func() {
		defer close(l.done)
		a.run(lctx, l.firstCh)
	}()
	select {
	case <-l.firstCh:
		a.loop = l
		return nil
	case <-ctx.Done():
		cancel()
		<-l.done
		return fmt.Errorf("ping: the first probe round did not finish within the start timeout (%d hosts, %d attempts of %s each): %w",
			len(a.p.HostList), a.p.Attempts, a.p.Timeout, ctx.Err())
	}
}

func (a *pingAgent) run(ctx context.Context, firstCh chan struct{}) {
	tick := time.NewTicker(a.p.Interval.D())
	defer tick.Stop()
	var (
		written string
		latest  string
		dampC   <-chan time.Time
		dampT   *time.Timer
	)
	first := true
	probe := true
	for {
		if probe {
			n := a.round(ctx)
			if ctx.Err() != nil {
				return
			}
			latest = strconv.Itoa(n * *a.p.Multiplier)
			switch {
			case first:
				a.setAttr(latest)
				written = latest
				first = false
				close(firstCh)
			case latest != written && dampC == nil:
				if a.p.Dampen.D() == 0 {
					a.setAttr(latest)
					written = latest
				} else {
					dampT = time.NewTimer(a.p.Dampen.D())
					dampC = dampT.C
				}
			}
		}
		probe = false
		select {
		case <-ctx.Done():
			if dampT != nil {
				dampT.Stop()
			}
			return
		case <-tick.C:
			probe = true
		case <-dampC:
			dampC, dampT = nil, nil
			if latest != written {
				a.setAttr(latest)
				written = latest
			}
		}
	}
}

// round probes every host in parallel and returns how many answered.
func (a *pingAgent) round(ctx context.Context) int {
	var wg sync.WaitGroup
	ok := make([]bool, len(a.p.HostList))
	for i, h := range a.p.HostList {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probe := a.probe
			if probe == nil {
				probe = a.reachable
			}
			ok[i] = probe(ctx, h)
		}()
	}
	wg.Wait()
	n := 0
	for i, v := range ok {
		if v {
			n++
		}
		a.log.Debug("probe", "host", a.p.HostList[i], "reachable", v)
	}
	return n
}

// reachable: ICMP uses the `ping` program (iputils), which needs no raw
// socket in haven; TCP counts a host only when it accepts a connection.
func (a *pingAgent) reachable(ctx context.Context, host string) bool {
	to := a.p.Timeout.D()
	if a.p.Method == "tcp" {
		for i := 0; i < a.p.Attempts && ctx.Err() == nil; i++ {
			d := net.Dialer{Timeout: to}
			if c, err := d.DialContext(ctx, "tcp", host); err == nil {
				c.Close()
				return true
			}
			if i+1 < a.p.Attempts && !agentkit.SleepCtx(ctx, min(to, 200*time.Millisecond)) {
				return false
			}
		}
		return false
	}
	// ping sends attempts echo requests a second apart and waits timeout
	// for the last reply; the context bounds it in any case.
	cctx, cancel := context.WithTimeout(ctx, time.Duration(a.p.Attempts-1)*time.Second+to+time.Second)
	defer cancel()
	cmd := exec.Command("ping", "-n", "-q", "-c", strconv.Itoa(a.p.Attempts),
		"-W", strconv.FormatFloat(to.Seconds(), 'f', 3, 64), host)
	cmd.Env = append(agentkit.ChildEnviron(), "LC_ALL=C")
	code, out, err := agentkit.RunOutput(cctx, cmd, 300)
	if err != nil || code > 1 {
		// 2 and more: ping could not run (unknown host, no permission…).
		a.log.Warn("ping failed to run", "host", host, "code", code, "err", err, "output", out)
	}
	return err == nil && code == 0
}

// Monitor: the loop runs → running; not started → stopped.
func (a *pingAgent) Monitor(context.Context) (model.Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loop == nil {
		return model.StatusStopped, nil
	}
	select {
	case <-a.loop.done:
		return model.StatusFailed, fmt.Errorf("ping loop for attribute %s ended unexpectedly", a.p.Attribute)
	default:
		return model.StatusRunning, nil
	}
}

// Stop ends the loop and deletes the attribute (SetAttribute with an empty
// value), as Pacemaker's ping agent does on stop.
func (a *pingAgent) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.loop
	if l == nil {
		a.setAttr("") // an earlier haven process may have set it
		return nil
	}
	l.cancel()
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("ping loop did not end before the stop timeout: %w", ctx.Err())
	}
	a.loop = nil
	a.setAttr("")
	return nil
}
