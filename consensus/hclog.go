package consensus

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog bridges raft's hclog.Logger onto a *slog.Logger. It is the one
// place raft's logging is adapted (CONVENTIONS habit 8).
type slogHCLog struct {
	l     *slog.Logger
	name  string
	args  []any
	level hclog.Level
}

func newHCLog(l *slog.Logger, name string) hclog.Logger {
	return &slogHCLog{l: l, name: name, level: hclog.Debug}
}

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (h *slogHCLog) Log(level hclog.Level, msg string, args ...interface{}) {
	if level < h.level && level != hclog.NoLevel {
		return
	}
	all := make([]any, 0, len(h.args)+len(args)+2)
	if h.name != "" {
		all = append(all, "component", h.name)
	}
	all = append(all, h.args...)
	for i := 0; i+1 < len(args); i += 2 {
		all = append(all, fmt.Sprint(args[i]), args[i+1])
	}
	h.l.Log(context.Background(), toSlog(level), msg, all...)
}

func (h *slogHCLog) Trace(msg string, args ...interface{}) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHCLog) Debug(msg string, args ...interface{}) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHCLog) Info(msg string, args ...interface{})  { h.Log(hclog.Info, msg, args...) }
func (h *slogHCLog) Warn(msg string, args ...interface{})  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHCLog) Error(msg string, args ...interface{}) { h.Log(hclog.Error, msg, args...) }
func (h *slogHCLog) IsTrace() bool                         { return h.level <= hclog.Trace }
func (h *slogHCLog) IsDebug() bool                         { return h.level <= hclog.Debug }
func (h *slogHCLog) IsInfo() bool                          { return h.level <= hclog.Info }
func (h *slogHCLog) IsWarn() bool                          { return h.level <= hclog.Warn }
func (h *slogHCLog) IsError() bool                         { return h.level <= hclog.Error }
func (h *slogHCLog) ImpliedArgs() []interface{}            { return h.args }
func (h *slogHCLog) Name() string                          { return h.name }
func (h *slogHCLog) SetLevel(level hclog.Level)            { h.level = level }
func (h *slogHCLog) GetLevel() hclog.Level                 { return h.level }

func (h *slogHCLog) With(args ...interface{}) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *slogHCLog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *slogHCLog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *slogHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		h.Info(strings.TrimSpace(string(p)))
		return len(p), nil
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
