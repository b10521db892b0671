// Package logging builds statebus's log/slog loggers: per-category levels
// as in .NET's Logging.LogLevel (changeable at run time, for config
// reload), and output for a console, for journald (priority prefixes), or
// any other slog.Handler such as the Windows Event Log's.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
)

// Categories statebus logs under. Logging.LogLevel keys match them by
// dotted prefix, ignoring case; "XStateNet.InterProcess.Service", the
// original's category, is accepted as a name for "Statebus".
const (
	CategoryServer  = "Statebus.Server"
	CategoryHealth  = "Statebus.Health"
	CategoryService = "Statebus.Service"
	CategoryConfig  = "Statebus.Config"
	CategoryHTTP    = "Statebus.Http"
	CategoryClient  = "Statebus.Client"
	legacyCategory  = "xstatenet.interprocess.service"
)

// Levels maps categories to minimum levels. It is safe for concurrent use;
// Set swaps the whole table atomically.
type Levels struct {
	table atomic.Pointer[map[string]slog.Level] // lower-cased category -> level
}

// NewLevels returns levels with Default at Information.
func NewLevels() *Levels {
	l := &Levels{}
	l.Set(map[string]slog.Level{"default": slog.LevelInfo})
	return l
}

// Set replaces the table. Keys are category names or "Default"; a key of
// the original's category is taken as "Statebus".
func (l *Levels) Set(levels map[string]slog.Level) {
	t := make(map[string]slog.Level, len(levels))
	for k, v := range levels {
		k = strings.ToLower(k)
		if k == legacyCategory || strings.HasPrefix(k, legacyCategory+".") {
			k = "statebus" + k[len(legacyCategory):]
		}
		t[k] = v
	}
	if _, ok := t["default"]; !ok {
		t["default"] = slog.LevelInfo
	}
	l.table.Store(&t)
}

// Level returns the level for category: the longest configured dotted
// prefix of it, else Default.
func (l *Levels) Level(category string) slog.Level {
	t := *l.table.Load()
	c := strings.ToLower(category)
	for c != "" {
		if v, ok := t[c]; ok {
			return v
		}
		i := strings.LastIndexByte(c, '.')
		if i < 0 {
			break
		}
		c = c[:i]
	}
	return t["default"]
}

// handler filters records by their category's level and passes the rest
// to an inner handler.
type handler struct {
	inner    slog.Handler
	levels   *Levels
	category string
}

// NewHandler wraps inner with per-category filtering. A logger's category
// is the value of its "category" attribute (set with With).
func NewHandler(inner slog.Handler, levels *Levels) slog.Handler {
	return &handler{inner: inner, levels: levels}
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.levels.Level(h.category) && h.inner.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error { return h.inner.Handle(ctx, r) }

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	for _, a := range attrs {
		if a.Key == "category" {
			n.category = a.Value.String()
		}
	}
	n.inner = h.inner.WithAttrs(attrs)
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	n := *h
	n.inner = h.inner.WithGroup(name)
	return &n
}

// Console returns a text handler for w that passes every level (the
// category filter decides). Under systemd (JOURNAL_STREAM set) it writes
// journald priority prefixes instead of timestamps.
func Console(w io.Writer) slog.Handler {
	if os.Getenv("JOURNAL_STREAM") != "" {
		return Journal(w)
	}
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug - 4})
}

// New returns a logger writing through inner with per-category levels.
func New(inner slog.Handler, levels *Levels) *slog.Logger {
	return slog.New(NewHandler(inner, levels))
}

// For returns l with its category set.
func For(l *slog.Logger, category string) *slog.Logger { return l.With("category", category) }
