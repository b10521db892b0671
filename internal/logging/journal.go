package logging

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
)

// journalHandler writes one line per record with an sd-daemon priority
// prefix ("<3>" for errors ... "<7>" for debug), which journald turns into
// the entry's priority; the time is left to journald.
type journalHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	inner slog.Handler // formats the attributes
	buf   *bytes.Buffer
}

// Journal returns a handler for journald's stdout/stderr stream.
func Journal(w io.Writer) slog.Handler {
	buf := new(bytes.Buffer)
	inner := slog.NewTextHandler(buf, &slog.HandlerOptions{
		Level: slog.LevelDebug - 4,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &journalHandler{mu: new(sync.Mutex), w: w, inner: inner, buf: buf}
}

// Priority maps a slog level to a syslog priority.
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	h.buf.WriteString("<")
	h.buf.WriteByte(byte('0' + Priority(r.Level)))
	h.buf.WriteString(">")
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.w.Write(h.buf.Bytes())
	return err
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.inner = h.inner.WithAttrs(attrs)
	return &n
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.inner = h.inner.WithGroup(name)
	return &n
}
