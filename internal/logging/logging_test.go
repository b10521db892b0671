package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevelsByPrefix(t *testing.T) {
	l := NewLevels()
	l.Set(map[string]slog.Level{
		"Default":                        slog.LevelWarn,
		"Statebus.Server":                slog.LevelDebug,
		"XStateNet.InterProcess.Service": slog.LevelError,
	})
	for cat, want := range map[string]slog.Level{
		"Statebus.Server":         slog.LevelDebug,
		"statebus.server.routing": slog.LevelDebug,
		"Statebus.Health":         slog.LevelError, // from the original's category name
		"Other":                   slog.LevelWarn,
		"":                        slog.LevelWarn,
	} {
		if got := l.Level(cat); got != want {
			t.Errorf("Level(%q) = %v, want %v", cat, got, want)
		}
	}
}

func TestHandlerFiltersAndReloads(t *testing.T) {
	var buf bytes.Buffer
	levels := NewLevels()
	log := New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), levels)
	srv := For(log, CategoryServer)
	srv.Debug("hidden")
	srv.Info("shown")
	levels.Set(map[string]slog.Level{"Default": slog.LevelInfo, "Statebus.Server": slog.LevelDebug})
	srv.Debug("now shown")
	For(log, CategoryHealth).Debug("still hidden")
	out := buf.String()
	if strings.Contains(out, "msg=hidden") || strings.Contains(out, "still hidden") {
		t.Fatalf("filtered records were written:\n%s", out)
	}
	if !strings.Contains(out, "msg=shown") || !strings.Contains(out, `msg="now shown"`) || !strings.Contains(out, "category=Statebus.Server") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestJournalPrefixes(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Journal(&buf)).With("category", "Statebus.Server")
	log.Error("bad", "n", 1)
	log.Warn("careful")
	log.Info("fine")
	log.Debug("detail")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"<3>msg=bad category=Statebus.Server n=1", "<4>msg=careful category=Statebus.Server", "<6>msg=fine category=Statebus.Server", "<7>msg=detail category=Statebus.Server"}
	if len(lines) != len(want) {
		t.Fatalf("lines %q", lines)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
}
