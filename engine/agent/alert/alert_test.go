package alert

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havenha/haven/engine/agent/internal/agentkit"
	"github.com/havenha/haven/engine/agent/internal/agenttest"
	"github.com/havenha/haven/engine/model"
)

// mail is one message the test SMTP server accepted.
type mail struct {
	from string
	to   []string
	data string
}

// smtpServer is a minimal SMTP server on 127.0.0.1 that accepts everything.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs []mail
	ch   chan mail
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String(), ch: make(chan mail, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 haven-test ESMTP")
	var m mail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO":
			tp.PrintfLine("250-haven-test\r\n250 8BITMIME")
		case verb == "HELO":
			tp.PrintfLine("250 haven-test")
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			m = mail{from: strings.Trim(line[len("MAIL FROM:"):], "<> ")}
			if i := strings.Index(m.from, ">"); i >= 0 {
				m.from = m.from[:i]
			}
			tp.PrintfLine("250 ok")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			m.to = append(m.to, strings.Trim(line[len("RCPT TO:"):], "<> "))
			tp.PrintfLine("250 ok")
		case verb == "DATA":
			tp.PrintfLine("354 go ahead")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data = string(b)
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			s.ch <- m
			tp.PrintfLine("250 queued")
		case verb == "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("250 ok")
		}
	}
}

func (s *smtpServer) next(t *testing.T) mail {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived within 10s")
	}
	return mail{}
}

func header(data, name string) string {
	for _, line := range strings.Split(data, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestAlert_MailToStyleResourceOverSMTP(t *testing.T) {
	srv := newSMTPServer(t)
	env := agenttest.Env(t)
	res := model.Resource{ID: "ClusterMailTo", Type: "alert", Params: map[string]any{
		"server": srv.addr, "email": "root@example.org", "subject": "FailOver_Home", "from": "haven@cl1.home.dom",
	}}
	a := agenttest.MustNew(t, Type{}, res, env)
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	m := srv.next(t)
	subj := header(m.data, "Subject")
	if m.from != "haven@cl1.home.dom" || len(m.to) != 1 || m.to[0] != "root@example.org" ||
		!strings.HasPrefix(subj, "FailOver_Home Takeover in progress at ") || !strings.HasSuffix(subj, " on node1") {
		t.Fatalf("start mail from %q to %v subject %q", m.from, m.to, subj)
	}
	if !strings.Contains(m.data, "resource: ClusterMailTo") {
		t.Errorf("body lacks the resource:\n%s", m.data)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
	if err := a.Start(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A restarted agent sees the resource started (flag in DataDir).
	b := agenttest.MustNew(t, Type{}, res, env)
	agenttest.WantStatus(t, b, model.StatusRunning)
	if err := b.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	m = srv.next(t)
	if subj := header(m.data, "Subject"); !strings.HasPrefix(subj, "FailOver_Home Migrating resource away at ") || !strings.HasSuffix(subj, " from node1") {
		t.Fatalf("stop mail subject %q", subj)
	}
	agenttest.WantStatus(t, b, model.StatusStopped)
	if err := b.Stop(agenttest.OpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-srv.ch:
		t.Fatalf("idempotent start/stop sent another mail: %q", header(m.data, "Subject"))
	default:
	}
}

func TestAlert_UnreachableMailServerDoesNotFailStart(t *testing.T) {
	res := model.Resource{ID: "m", Params: map[string]any{"kind": "smtp", "server": agenttest.FreePort(t), "to": []any{"a@b"}, "timeout": "2s"}}
	a := agenttest.MustNew(t, Type{}, res, agenttest.Env(t))
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("Start = %v; a notification failure must only be logged", err)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)

	n, err := NewNotifier(res.Params, "node1", agenttest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), Event{Kind: "node", Node: "n2", Task: "lost"}); err == nil || !strings.Contains(err.Error(), "connect to mail server") {
		t.Fatalf("Notify = %v, want a connection error", err)
	}
}

func TestAlert_Webhook(t *testing.T) {
	got := make(chan webhookBody, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b webhookBody
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", 400)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got <- b
	}))
	defer srv.Close()
	var n Notifier
	n, err := NewNotifier(map[string]any{"kind": "webhook", "url": srv.URL + "/hook"}, "cl1", agenttest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if err := n.Notify(agenttest.OpCtx(t, 5*time.Second), Event{Kind: "resource", Node: "cl2", Resource: "ClusterIP", Task: "monitor", RC: 7, Desc: "not running", Time: at}); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if b.Kind != "resource" || b.Node != "cl2" || b.Resource != "ClusterIP" || b.Task != "monitor" || b.RC != 7 ||
		b.Timestamp != "2026-11-22T10:00:00Z" || b.Sender != "cl1" || b.Summary != "ClusterIP monitor on cl2 (rc 7): not running" {
		t.Fatalf("webhook got %+v", b)
	}
	bad, _ := NewNotifier(map[string]any{"kind": "webhook", "url": srv.URL + "/hook"}, "cl1", nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) })
	if err := bad.Notify(agenttest.OpCtx(t, 5*time.Second), Event{Kind: "node", Node: "x", Task: "lost"}); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Notify to a failing webhook = %v", err)
	}
}

func TestAlert_ScriptGetsPacemakerEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "alert.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nenv | grep ^CRM_alert_ > "+out+"\n"), 0o755)
	n, err := NewNotifier(map[string]any{"kind": "script", "path": script, "recipient": "ops@example.org"}, "cl1", agenttest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 11, 12, 345678000, time.UTC)
	if err := n.Notify(agenttest.OpCtx(t, 5*time.Second), Event{Kind: "resource", Node: "cl1", Resource: "ClusterFsDatab", Task: "start",
		RC: 1, TargetRC: 0, Desc: "error", Interval: 0, Time: at}); err != nil {
		t.Fatal(err)
	}
	env := agenttest.ReadEnvFile(t, out)
	for k, v := range map[string]string{
		"CRM_alert_kind": "resource", "CRM_alert_node": "cl1", "CRM_alert_rsc": "ClusterFsDatab", "CRM_alert_task": "start",
		"CRM_alert_rc": "1", "CRM_alert_desc": "error", "CRM_alert_recipient": "ops@example.org",
		"CRM_alert_timestamp": "10:11:12.345678", "CRM_alert_timestamp_epoch": strconv.FormatInt(at.Unix(), 10), "CRM_alert_timestamp_usec": "345678",
		"CRM_alert_node_sequence": "1", "CRM_alert_target_rc": "0", "CRM_alert_interval": "0",
	} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	os.WriteFile(script, []byte("#!/bin/sh\necho cannot deliver >&2\nexit 4\n"), 0o755)
	if err := n.Notify(agenttest.OpCtx(t, 5*time.Second), Event{Kind: "node", Node: "cl2", Task: "lost"}); err == nil || !strings.Contains(err.Error(), "cannot deliver") {
		t.Fatalf("failing script: %v", err)
	}
}

func TestAlert_Validate(t *testing.T) {
	for _, c := range []struct {
		params  map[string]any
		wantKey string
	}{
		{map[string]any{"email": "root", "subject": "FailOver_Home"}, ""},
		{map[string]any{"kind": "smtp", "to": []any{"a@b", "c@d"}, "server": "mail:25"}, ""},
		{map[string]any{"kind": "smtp"}, "to"},
		{map[string]any{"kind": "smtp", "to": "a@b", "server": "mail"}, "server"},
		{map[string]any{"kind": "webhook", "url": "ftp://x"}, "url"},
		{map[string]any{"kind": "script", "path": "alert.sh"}, "path"},
		{map[string]any{"kind": "pager"}, "kind"},
		{map[string]any{}, "kind"},
	} {
		ps := Type{}.Validate(c.params)
		if c.wantKey == "" && len(ps) > 0 || c.wantKey != "" && (len(ps) == 0 || ps[0].Key != c.wantKey) {
			t.Errorf("%v: problems %v, want key %q", c.params, ps, c.wantKey)
		}
	}
}

func TestAlert_StartedFlagDoesNotSurviveReboot(t *testing.T) {
	env := agenttest.Env(t)
	os.WriteFile(filepath.Join(env.DataDir, "alert.started"), []byte("00000000-0000-0000-0000-000000000000\n"), 0o644)
	a := agenttest.MustNew(t, Type{}, model.Resource{ID: "m", Params: map[string]any{"kind": "script", "path": "/bin/true"}}, env)
	agenttest.WantStatus(t, a, model.StatusStopped)
	if err := a.Start(agenttest.OpCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	agenttest.WantStatus(t, a, model.StatusRunning)
}

func TestAlert_NotifiersTriesEveryone(t *testing.T) {
	srv := newSMTPServer(t)
	good, _ := NewNotifier(map[string]any{"to": "ops@example.org", "server": srv.addr}, "cl1", nil)
	bad, _ := NewNotifier(map[string]any{"kind": "script", "path": "/nonexistent/alert"}, "cl1", nil)
	err := Notifiers{bad, good}.Notify(agenttest.OpCtx(t, 5*time.Second), Event{Kind: "node", Node: "cl2", Task: "lost"})
	if !errors.Is(err, agentkit.ErrNotInstalled) {
		t.Fatalf("Notify = %v, want the failing script's agentkit.ErrNotInstalled", err)
	}
	if m := srv.next(t); header(m.data, "Subject") != "Resource Group node cl2 lost" {
		t.Fatalf("subject %q", header(m.data, "Subject"))
	}
}
