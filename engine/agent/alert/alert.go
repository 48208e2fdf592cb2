package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/model"
)

// Event is a cluster event to notify about (Pacemaker's alert kinds).
type Event struct {
	Kind     string    // "node", "resource", "fencing" or "attribute"
	Node     string    // the node concerned
	Resource string    // the resource (resource events)
	Task     string    // "start", "stop", "monitor", "member", "lost", "fence"…
	Desc     string    // a readable description
	RC       int       // the operation's result (OCF code) for resource events
	Time     time.Time // when it happened (zero: now)

	// Optional details, passed to scripts as Pacemaker does.
	Interval  time.Duration // a monitor's interval
	TargetRC  int           // the expected result
	Attribute string        // attribute events: name
	Value     string        // attribute events: value

	// Subject, when set, replaces the generated one-line summary (the mail
	// subject after the configured prefix).
	Subject string
}

// Notifier sends notifications of cluster events; Notify honours ctx's
// deadline.
type Notifier interface {
	Notify(ctx context.Context, ev Event) error
}

// Notifiers sends every event to each of its notifiers in turn (all are
// tried) and joins their errors.
type Notifiers []Notifier

// Notify implements Notifier.
func (ns Notifiers) Notify(ctx context.Context, ev Event) error {
	var errs []error
	for _, n := range ns {
		if err := n.Notify(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Type is the `alert` resource type. As a resource it notifies on its
// own start ("Takeover in progress") and stop ("Migrating resource away"),
// like Pacemaker's MailTo.
type Type struct{}

// recipients accepts a list or a comma/space-separated string.
type recipients []string

func (r *recipients) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*r = strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ' ' })
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("expected a list of addresses or a comma-separated string")
	}
	*r = l
	return nil
}

type alertParams struct {
	Kind string `json:"kind,omitempty"` // smtp, webhook, script
	// smtp
	Server  string     `json:"server,omitempty"`
	From    string     `json:"from,omitempty"`
	To      recipients `json:"to,omitempty"`
	Email   recipients `json:"email,omitempty"` // MailTo's name for `to`
	Subject *string    `json:"subject,omitempty"`
	TLS     bool       `json:"tls,omitempty"` // require STARTTLS
	// webhook
	URL string `json:"url,omitempty"`
	// script
	Path      string `json:"path,omitempty"`
	Recipient string `json:"recipient,omitempty"`
	// all
	Timeout model.Duration `json:"timeout,omitempty"`
}

const (
	defaultSMTPServer   = "localhost:25"
	defaultAlertSubject = "Resource Group" // MailTo's default
	defaultAlertTimeout = 30 * time.Second
)

// Defaults returns alert's operation defaults.
func (Type) Defaults() model.OpDefaults { return agentkit.DefaultOps }

// Validate checks alert's params.
func (Type) Validate(params map[string]any) []model.ParamProblem {
	_, ps := decodeAlert(params)
	return ps
}

func decodeAlert(params map[string]any) (alertParams, []model.ParamProblem) {
	var p alertParams
	if ps := agentkit.DecodeProblems(params, &p); ps != nil {
		return p, ps
	}
	var ps []model.ParamProblem
	add := func(k, f string, a ...any) { ps = append(ps, model.ParamProblem{Key: k, Msg: fmt.Sprintf(f, a...)}) }
	p.To = append(p.To, p.Email...)
	if p.Kind == "" && len(p.To) > 0 {
		p.Kind = "smtp"
	}
	switch p.Kind {
	case "smtp":
		if len(p.To) == 0 {
			add("to", "required for kind smtp: one or more e-mail addresses")
		}
		for _, a := range append(append([]string{}, p.To...), p.From) {
			if strings.ContainsAny(a, "\r\n<>") {
				add("to", "address %q contains a line break or angle bracket", a)
			}
		}
		if p.Server != "" {
			if _, port, err := net.SplitHostPort(p.Server); err != nil || port == "" {
				add("server", "%q: expected host:port, e.g. localhost:25", p.Server)
			}
		}
	case "webhook":
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url", "%q: expected an http:// or https:// URL", p.URL)
		}
	case "script":
		if !filepath.IsAbs(p.Path) {
			add("path", "%q: expected the absolute path of an executable", p.Path)
		}
	case "":
		add("kind", "required: smtp, webhook or script")
	default:
		add("kind", "%q: expected smtp, webhook or script", p.Kind)
	}
	if p.Server == "" {
		p.Server = defaultSMTPServer
	}
	if p.Subject == nil {
		s := defaultAlertSubject
		p.Subject = &s
	}
	if p.Timeout == 0 {
		p.Timeout = model.Duration(defaultAlertTimeout)
	}
	return p, ps
}

// Alert sends notifications; it implements Notifier.
type Alert struct {
	p    alertParams
	node string
	log  *slog.Logger
	seq  atomic.Int64
}

// NewNotifier builds a Notifier from alert params (as for the alert type)
// for cluster events. node is this node's name. No I/O.
func NewNotifier(params map[string]any, node string, log *slog.Logger) (*Alert, error) {
	p, ps := decodeAlert(params)
	if err := agentkit.ProblemsErr("alert", ps); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Alert{p: p, node: node, log: log}, nil
}

// Summary is a one-line description of the event.
func (ev Event) Summary() string {
	if ev.Subject != "" {
		return ev.Subject
	}
	var b strings.Builder
	switch ev.Kind {
	case "node":
		fmt.Fprintf(&b, "node %s %s", ev.Node, ev.Task)
	case "fencing":
		fmt.Fprintf(&b, "fencing of %s: %s", ev.Node, ev.Task)
	case "attribute":
		fmt.Fprintf(&b, "attribute %s=%s on %s", ev.Attribute, ev.Value, ev.Node)
	default:
		fmt.Fprintf(&b, "%s %s on %s", ev.Resource, ev.Task, ev.Node)
		if ev.RC != 0 {
			fmt.Fprintf(&b, " (rc %d)", ev.RC)
		}
	}
	if ev.Desc != "" {
		b.WriteString(": " + ev.Desc)
	}
	return b.String()
}

// Notify sends ev by the configured kind.
func (al *Alert) Notify(ctx context.Context, ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Kind == "" {
		ev.Kind = "resource"
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, al.p.Timeout.D())
		defer cancel()
	}
	seq := al.seq.Add(1)
	var err error
	switch al.p.Kind {
	case "smtp":
		err = al.sendMail(ctx, ev)
	case "webhook":
		err = al.postWebhook(ctx, ev)
	case "script":
		err = al.runScript(ctx, ev, seq)
	default:
		err = fmt.Errorf("alert kind %q: %w", al.p.Kind, agentkit.ErrNotConfigured)
	}
	if err != nil {
		return fmt.Errorf("alert (%s): %w", al.p.Kind, err)
	}
	al.log.Debug("alert sent", "kind", al.p.Kind, "event", ev.Summary())
	return nil
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

func (al *Alert) sendMail(ctx context.Context, ev Event) error {
	host, _, _ := net.SplitHostPort(al.p.Server)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", al.p.Server)
	if err != nil {
		return fmt.Errorf("connect to mail server %s: %w", al.p.Server, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("mail server %s greeting: %w", al.p.Server, err)
	}
	defer c.Close()
	hostname, _ := os.Hostname()
	if hostname == "" {
		hostname = "localhost"
	}
	if err := c.Hello(hostname); err != nil {
		return fmt.Errorf("mail server %s HELO: %w", al.p.Server, err)
	}
	if al.p.TLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("mail server %s does not offer STARTTLS, which tls: true requires", al.p.Server)
		}
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("mail server %s STARTTLS: %w", al.p.Server, err)
		}
	}
	from := al.p.From
	if from == "" {
		from = "haven@" + hostname
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail server %s refused sender %s: %w", al.p.Server, from, err)
	}
	for _, to := range al.p.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("mail server %s refused recipient %s: %w", al.p.Server, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail server %s DATA: %w", al.p.Server, err)
	}
	subject := strings.TrimSpace(*al.p.Subject + " " + ev.Summary())
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.%d@%s>\r\n",
		from, strings.Join(al.p.To, ", "), oneLine(subject), ev.Time.Format(time.RFC1123Z),
		ev.Time.UnixNano(), os.Getpid(), hostname)
	msg.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&msg, "%s\r\n\r\nkind: %s\r\nnode: %s\r\n", ev.Summary(), ev.Kind, ev.Node)
	if ev.Resource != "" {
		fmt.Fprintf(&msg, "resource: %s\r\n", ev.Resource)
	}
	if ev.Task != "" {
		fmt.Fprintf(&msg, "task: %s\r\nrc: %d\r\n", ev.Task, ev.RC)
	}
	fmt.Fprintf(&msg, "time: %s\r\nsent by: haven on %s\r\n", ev.Time.Format(time.RFC3339), al.node)
	if _, err := w.Write(msg.Bytes()); err != nil {
		return fmt.Errorf("mail server %s: write message: %w", al.p.Server, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail server %s did not accept the message: %w", al.p.Server, err)
	}
	_ = c.Quit()
	return nil
}

// webhookBody is what a webhook receives (JSON).
type webhookBody struct {
	Kind      string `json:"kind"`
	Node      string `json:"node"`
	Resource  string `json:"resource,omitempty"`
	Task      string `json:"task,omitempty"`
	Desc      string `json:"desc,omitempty"`
	RC        int    `json:"rc"`
	Summary   string `json:"summary"`
	Timestamp string `json:"timestamp"`
	Attribute string `json:"attribute,omitempty"`
	Value     string `json:"value,omitempty"`
	Sender    string `json:"sender"`
}

var webhookClient = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}

func (al *Alert) postWebhook(ctx context.Context, ev Event) error {
	b, _ := json.Marshal(webhookBody{Kind: ev.Kind, Node: ev.Node, Resource: ev.Resource, Task: ev.Task,
		Desc: ev.Desc, RC: ev.RC, Summary: ev.Summary(), Timestamp: ev.Time.UTC().Format(time.RFC3339Nano),
		Attribute: ev.Attribute, Value: ev.Value, Sender: al.node})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, al.p.URL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "haven-alert")
	resp, err := webhookClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", al.p.URL, err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s answered %s; expected 2xx", al.p.URL, resp.Status)
	}
	return nil
}

// scriptEnv is Pacemaker's alert environment for ev.
func (al *Alert) scriptEnv(ev Event, seq int64) []string {
	t := ev.Time
	env := []string{
		"CRM_alert_version=haven",
		"CRM_alert_kind=" + ev.Kind,
		"CRM_alert_recipient=" + al.p.Recipient,
		"CRM_alert_node_sequence=" + strconv.FormatInt(seq, 10),
		"CRM_alert_timestamp=" + t.Format("15:04:05.000000"),
		"CRM_alert_timestamp_epoch=" + strconv.FormatInt(t.Unix(), 10),
		"CRM_alert_timestamp_usec=" + strconv.Itoa(t.Nanosecond()/1000),
		"CRM_alert_node=" + ev.Node,
		"CRM_alert_nodeid=" + ev.Node,
		"CRM_alert_desc=" + ev.Desc,
		"CRM_alert_rsc=" + ev.Resource,
		"CRM_alert_task=" + ev.Task,
		"CRM_alert_interval=" + strconv.FormatInt(ev.Interval.Milliseconds(), 10),
		"CRM_alert_target_rc=" + strconv.Itoa(ev.TargetRC),
		"CRM_alert_rc=" + strconv.Itoa(ev.RC),
		"CRM_alert_status=" + strconv.Itoa(min(ev.RC, 1)),
		"CRM_alert_attribute_name=" + ev.Attribute,
		"CRM_alert_attribute_value=" + ev.Value,
	}
	return append(agentkit.ChildEnviron(), env...)
}

func (al *Alert) runScript(ctx context.Context, ev Event, seq int64) error {
	cmd := exec.Command(al.p.Path)
	cmd.Env = al.scriptEnv(ev, seq)
	code, out, err := agentkit.RunOutput(ctx, cmd, 500)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("script %s: %v: %w", al.p.Path, err, agentkit.ErrNotInstalled)
		}
		return fmt.Errorf("script %s: %w", al.p.Path, err)
	}
	if code != 0 {
		return fmt.Errorf("script %s exited with status %d: %s", al.p.Path, code, out)
	}
	return nil
}

// New builds an alert resource agent (no I/O).
func (Type) New(res model.Resource, env model.AgentEnv) (model.Agent, error) {
	al, err := NewNotifier(res.Params, env.Node, env.Logger)
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.ID, err)
	}
	al.log = al.log.With("resource", res.ID, "agent", "alert")
	return &alertAgent{al: al, res: res, dataDir: env.DataDir}, nil
}

// alertAgent is an alert used as a resource: a pseudo resource whose
// started flag lives in DataDir/alert.started (kept across haven restarts,
// not across reboots).
type alertAgent struct {
	al      *Alert
	res     model.Resource
	dataDir string
	mem     atomic.Bool // the flag when there is no DataDir
}

func (a *alertAgent) flag() string { return filepath.Join(a.dataDir, "alert.started") }

// started reads the flag; a flag from before a reboot does not count (the
// file holds the boot id), like MailTo's state in /run.
func (a *alertAgent) started() bool {
	if a.dataDir == "" {
		return a.mem.Load()
	}
	b, err := os.ReadFile(a.flag())
	return err == nil && strings.TrimSpace(string(b)) == agentkit.BootID()
}

func (a *alertAgent) mark(on bool) error {
	if a.dataDir == "" {
		a.mem.Store(on)
		return nil
	}
	if !on {
		if err := os.Remove(a.flag()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("alert state: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(a.dataDir, 0o755); err != nil {
		return fmt.Errorf("alert state: %w", err)
	}
	if err := os.WriteFile(a.flag(), []byte(agentkit.BootID()+"\n"), 0o644); err != nil {
		return fmt.Errorf("alert state: %w", err)
	}
	return nil
}

// Start sends "Takeover in progress at TIME on NODE" (MailTo's text) and
// marks the resource started. A notification that cannot be sent is logged,
// not a failed start: a mail server outage must not move resources.
func (a *alertAgent) Start(ctx context.Context) error {
	if a.started() {
		return nil
	}
	now := time.Now()
	a.send(ctx, Event{Kind: "resource", Node: a.al.node, Resource: a.res.ID, Task: "start", Time: now,
		Desc: fmt.Sprintf("Takeover in progress at %s on %s", now.Format(time.UnixDate), a.al.node)})
	return a.mark(true)
}

// Stop sends "Migrating resource away at TIME from NODE" and clears the mark.
func (a *alertAgent) Stop(ctx context.Context) error {
	if !a.started() {
		return nil
	}
	now := time.Now()
	a.send(ctx, Event{Kind: "resource", Node: a.al.node, Resource: a.res.ID, Task: "stop", Time: now,
		Desc: fmt.Sprintf("Migrating resource away at %s from %s", now.Format(time.UnixDate), a.al.node)})
	return a.mark(false)
}

func (a *alertAgent) send(ctx context.Context, ev Event) {
	// Keep a little of the operation's time for recording the state.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-time.Until(dl)/10))
		defer cancel()
	}
	// MailTo's subject is "SUBJECT Takeover in progress…".
	ev.Subject = ev.Desc
	if err := a.al.Notify(ctx, ev); err != nil {
		a.al.log.Warn("notification not sent", "task", ev.Task, "err", err)
	}
}

// Monitor: started → running, else stopped.
func (a *alertAgent) Monitor(context.Context) (model.Status, error) {
	if a.started() {
		return model.StatusRunning, nil
	}
	return model.StatusStopped, nil
}
