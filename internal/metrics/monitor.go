package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// MonitorConfig tunes a Monitor. Zero IdleAlert turns the idle alert off.
type MonitorConfig struct {
	Interval               time.Duration // between checks; the original's HealthCheckIntervalSeconds
	IdleAlert              time.Duration // alert when no activity for this long (original: 5 minutes)
	ConnectionAlertPercent int           // alert above this share of MaxConnections (original: 80)
	MaxConnections         int
}

// Report is the outcome of one check.
type Report struct {
	Health Health
	Alerts []string
}

// Monitor checks health periodically, logs one status line per check and
// raises the original service's alerts: no activity for a while, and a
// connection count near MaxConnections. It is safe for concurrent use.
type Monitor struct {
	log    *slog.Logger
	health func() Health

	mu  sync.Mutex
	cfg MonitorConfig
	set chan struct{} // signals Run that cfg changed
}

// NewMonitor returns a monitor of the health source.
func NewMonitor(log *slog.Logger, cfg MonitorConfig, health func() Health) *Monitor {
	return &Monitor{log: log, health: health, cfg: cfg, set: make(chan struct{}, 1)}
}

// SetConfig changes the configuration; Run picks up a new interval at once.
func (m *Monitor) SetConfig(cfg MonitorConfig) {
	m.mu.Lock()
	m.cfg = cfg
	m.mu.Unlock()
	select {
	case m.set <- struct{}{}:
	default:
	}
}

func (m *Monitor) config() MonitorConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// Check evaluates health as of now, logs the status line and any alerts,
// and returns them.
func (m *Monitor) Check(now time.Time) Report {
	cfg := m.config()
	h := m.health()
	r := Report{Health: h}
	if cfg.IdleAlert > 0 && !h.LastActivityAt.IsZero() {
		if idle := now.Sub(h.LastActivityAt); idle > cfg.IdleAlert {
			r.Alerts = append(r.Alerts, fmt.Sprintf("ALERT: No activity for %d minutes", int(idle.Minutes())))
		}
	}
	if cfg.MaxConnections > 0 && cfg.ConnectionAlertPercent > 0 {
		pct := 100 * float64(h.ConnectionCount) / float64(cfg.MaxConnections)
		if pct > float64(cfg.ConnectionAlertPercent) {
			r.Alerts = append(r.Alerts, fmt.Sprintf("ALERT: High connection count: %d/%d (%.0f%%)", h.ConnectionCount, cfg.MaxConnections, pct))
		}
	}
	status := "OK"
	if !h.IsHealthy {
		status = "UNHEALTHY (" + h.ErrorMessage + ")"
	}
	line := fmt.Sprintf("Health: %s | Connections: %d | Machines: %d | Last Activity: %s",
		status, h.ConnectionCount, h.RegisteredMachines, h.LastActivityAt.UTC().Format("2006-01-02 15:04:05"))
	// The line reads as the original service's; the fields are for
	// log processors.
	fields := []any{"healthy", h.IsHealthy, "connections", h.ConnectionCount, "machines", h.RegisteredMachines, "lastActivity", h.LastActivityAt.UTC()}
	if h.IsHealthy {
		m.log.Info(line, fields...)
	} else {
		m.log.Warn(line, append(fields, "reason", h.ErrorMessage)...)
	}
	for _, a := range r.Alerts {
		m.log.Warn(a, "alert", true)
	}
	return r
}

// Run checks every interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	interval := m.config().Interval
	m.log.Info("Health Monitor started", "interval", interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.set:
			if iv := m.config().Interval; iv != interval {
				interval = iv
				t.Reset(interval)
				m.log.Info("Health Monitor interval changed", "interval", interval)
			}
		case now := <-t.C:
			m.Check(now)
		}
	}
}
