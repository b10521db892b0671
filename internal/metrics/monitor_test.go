package metrics

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMonitorAlertsOnAFakeClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := Health{IsHealthy: true, ConnectionCount: 5, RegisteredMachines: 3, LastActivityAt: start}
	var buf bytes.Buffer
	m := NewMonitor(slog.New(slog.NewTextHandler(&buf, nil)),
		MonitorConfig{Interval: 30 * time.Second, IdleAlert: 5 * time.Minute, ConnectionAlertPercent: 80, MaxConnections: 10},
		func() Health { return h })

	if r := m.Check(start.Add(time.Minute)); len(r.Alerts) != 0 {
		t.Fatalf("alerts while fine: %v", r.Alerts)
	}
	r := m.Check(start.Add(6*time.Minute + time.Second))
	if len(r.Alerts) != 1 || r.Alerts[0] != "ALERT: No activity for 6 minutes" {
		t.Fatalf("idle: %v", r.Alerts)
	}
	h.ConnectionCount = 9
	r = m.Check(start.Add(time.Minute))
	if len(r.Alerts) != 1 || r.Alerts[0] != "ALERT: High connection count: 9/10 (90%)" {
		t.Fatalf("connections: %v", r.Alerts)
	}
	h.ConnectionCount = 8 // exactly 80% is not above it
	if r := m.Check(start.Add(time.Minute)); len(r.Alerts) != 0 {
		t.Fatalf("at threshold: %v", r.Alerts)
	}
	m.SetConfig(MonitorConfig{Interval: time.Minute}) // alerts off
	if r := m.Check(start.Add(time.Hour)); len(r.Alerts) != 0 {
		t.Fatalf("alerts after turning them off: %v", r.Alerts)
	}
	if !strings.Contains(buf.String(), "Health: OK | Connections: 5 | Machines: 3 | Last Activity: 2026-01-02 03:04:05") {
		t.Fatalf("status line missing:\n%s", buf.String())
	}
}

func TestEvaluate(t *testing.T) {
	base := HealthInput{Listening: true, ConnectionCount: 1, MaxConnections: 10}
	if h := Evaluate(base); !h.IsHealthy || h.ErrorMessage != "" {
		t.Fatalf("%+v", h)
	}
	for name, in := range map[string]HealthInput{
		"not listening": {ConnectionCount: 1, MaxConnections: 10},
		"shutting down": {Listening: true, ShuttingDown: true, MaxConnections: 10},
		"full":          {Listening: true, ConnectionCount: 10, MaxConnections: 10},
		"saturated":     {Listening: true, ConnectionCount: 2, MaxConnections: 10, SaturatedQueues: 1},
	} {
		if h := Evaluate(in); h.IsHealthy || h.ErrorMessage == "" {
			t.Errorf("%s: %+v", name, h)
		}
	}
	if got := FormatTimeSpan(26*time.Hour + 3*time.Minute + 4*time.Second + 500*time.Millisecond); got != "1.02:03:04.5000000" {
		t.Errorf("FormatTimeSpan = %s", got)
	}
}

// logRecorder is a slog.Handler that keeps every record, for tests that
// read what a Monitor logged while it runs in another goroutine.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// lines returns the messages logged so far, as "LEVEL message".
func (r *logRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		out = append(out, rec.Level.String()+" "+rec.Message)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMonitorCheckAlerts(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	on := MonitorConfig{Interval: time.Minute, IdleAlert: 5 * time.Minute, ConnectionAlertPercent: 80, MaxConnections: 10}
	tests := []struct {
		name   string
		cfg    MonitorConfig
		health Health
		alerts []string
	}{
		{"quiet", on, Health{IsHealthy: true, ConnectionCount: 2, LastActivityAt: now.Add(-time.Minute)}, nil},
		{"idle exactly the limit", on, Health{IsHealthy: true, LastActivityAt: now.Add(-5 * time.Minute)}, nil},
		{"idle just over", on, Health{IsHealthy: true, LastActivityAt: now.Add(-5*time.Minute - time.Nanosecond)},
			[]string{"ALERT: No activity for 5 minutes"}},
		{"idle minutes are truncated", on, Health{IsHealthy: true, LastActivityAt: now.Add(-125*time.Minute + time.Second)},
			[]string{"ALERT: No activity for 124 minutes"}},
		{"never active", on, Health{IsHealthy: true}, nil},
		{"idle alert off", MonitorConfig{IdleAlert: 0, ConnectionAlertPercent: 80, MaxConnections: 10},
			Health{IsHealthy: true, LastActivityAt: now.Add(-time.Hour)}, nil},
		{"connections over the share", on, Health{IsHealthy: true, ConnectionCount: 9, LastActivityAt: now},
			[]string{"ALERT: High connection count: 9/10 (90%)"}},
		{"percent rounds", MonitorConfig{ConnectionAlertPercent: 50, MaxConnections: 3}, Health{IsHealthy: true, ConnectionCount: 2},
			[]string{"ALERT: High connection count: 2/3 (67%)"}},
		{"no connection limit", MonitorConfig{ConnectionAlertPercent: 80}, Health{IsHealthy: true, ConnectionCount: 1000}, nil},
		{"connection alert off", MonitorConfig{MaxConnections: 10}, Health{IsHealthy: true, ConnectionCount: 10}, nil},
		{"both, idle first", on, Health{IsHealthy: false, ErrorMessage: "x", ConnectionCount: 10, LastActivityAt: now.Add(-10 * time.Minute)},
			[]string{"ALERT: No activity for 10 minutes", "ALERT: High connection count: 10/10 (100%)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			m := NewMonitor(slog.New(rec), tt.cfg, func() Health { return tt.health })
			r := m.Check(now)
			if !slices.Equal(r.Alerts, tt.alerts) || r.Health != tt.health {
				t.Fatalf("alerts %q health %+v, want %q", r.Alerts, r.Health, tt.alerts)
			}
			// One status line, then each alert as a warning.
			lines := rec.lines()
			if len(lines) != 1+len(tt.alerts) {
				t.Fatalf("logged %q", lines)
			}
			for i, a := range tt.alerts {
				if lines[1+i] != "WARN "+a {
					t.Errorf("log line %d: %q, want WARN %q", 1+i, lines[1+i], a)
				}
			}
		})
	}
}

func TestMonitorStatusLine(t *testing.T) {
	rec := &logRecorder{}
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.FixedZone("X", 2*3600))
	h := Health{IsHealthy: true, ConnectionCount: 4, RegisteredMachines: 2, LastActivityAt: at}
	m := NewMonitor(slog.New(rec), MonitorConfig{}, func() Health { return h })
	m.Check(at)
	h = Health{IsHealthy: false, ErrorMessage: "shutting down", LastActivityAt: at}
	m.Check(at)
	want := []string{
		"INFO Health: OK | Connections: 4 | Machines: 2 | Last Activity: 2026-05-06 05:08:09", // in UTC
		"WARN Health: UNHEALTHY (shutting down) | Connections: 0 | Machines: 0 | Last Activity: 2026-05-06 05:08:09",
	}
	if got := rec.lines(); !slices.Equal(got, want) {
		t.Fatalf("logged\n%q\nwant\n%q", got, want)
	}
}

// SetConfig never blocks, with or without a Run to pick it up.
func TestMonitorSetConfigWithoutRun(t *testing.T) {
	m := NewMonitor(slog.New(&logRecorder{}), MonitorConfig{Interval: time.Hour}, func() Health { return Health{} })
	for i := range 3 {
		m.SetConfig(MonitorConfig{Interval: time.Duration(i+1) * time.Minute})
	}
	if got := m.config().Interval; got != 3*time.Minute {
		t.Fatalf("interval %v", got)
	}
}

// Run checks on its ticker, takes a new interval from SetConfig, and
// returns when its context ends.
func TestMonitorRun(t *testing.T) {
	rec := &logRecorder{}
	var checks atomic.Int64
	m := NewMonitor(slog.New(rec), MonitorConfig{Interval: time.Hour}, func() Health {
		checks.Add(1)
		return Health{IsHealthy: true}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()

	waitFor(t, "the start line", func() bool {
		return slices.Contains(rec.lines(), "INFO Health Monitor started")
	})
	if n := checks.Load(); n != 0 {
		t.Fatalf("%d checks before the first hour", n)
	}
	m.SetConfig(MonitorConfig{Interval: time.Millisecond})
	waitFor(t, "the interval change", func() bool {
		return slices.Contains(rec.lines(), "INFO Health Monitor interval changed")
	})
	waitFor(t, "three checks", func() bool { return checks.Load() >= 3 })
	// Setting the same interval again logs nothing new.
	before := len(rec.lines())
	m.SetConfig(MonitorConfig{Interval: time.Millisecond})
	waitFor(t, "another check", func() bool { return checks.Load() >= 5 })
	for _, l := range rec.lines()[before:] {
		if strings.Contains(l, "interval changed") {
			t.Fatalf("logged %q for an unchanged interval", l)
		}
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
