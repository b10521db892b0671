package metrics

import (
	"bytes"
	"log/slog"
	"strings"
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
