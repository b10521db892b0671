package server

import (
	"time"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/protocol"
)

// Snapshot returns the server's metrics now.
func (s *Server) Snapshot() metrics.Snapshot {
	snap := metrics.Snapshot{StartedAt: s.startedAt, Now: time.Now()}
	s.mu.Lock()
	snap.ConnectionCount = len(s.conns)
	snap.PeakConnections, snap.PeakConnectionsAt = s.peak, s.peakAt
	snap.Rejected = s.rejected
	s.totals.into(&snap.Counters)
	for c := range s.conns {
		c.stats.into(&snap.Counters)
		c.mu.Lock()
		snap.QueuedBytes += len(c.out)
		c.mu.Unlock()
	}
	s.mu.Unlock()
	snap.RegisteredMachines = s.router.Count()
	snap.PendingRequests = s.router.PendingCount()
	return snap
}

// LastActivity returns when a client last connected or sent a line.
func (s *Server) LastActivity() time.Time {
	last := s.lastSeen.Load()
	s.mu.Lock()
	for c := range s.conns {
		last = max(last, c.lastActive.Load())
	}
	s.mu.Unlock()
	return time.Unix(0, last)
}

// Health evaluates the server's health now.
func (s *Server) Health() metrics.Health {
	s.mu.Lock()
	in := metrics.HealthInput{
		Listening:       len(s.listeners) > 0,
		ShuttingDown:    s.closed,
		ConnectionCount: len(s.conns),
		MaxConnections:  s.cfg.MaxConnections,
	}
	s.mu.Unlock()
	in.Machines = s.router.Count()
	in.LastActivityAt = s.LastActivity()
	return metrics.Evaluate(in)
}

// Wire shapes of the extension replies. Field names are PascalCase, times
// in .NET form, as the original's HealthStatus and PerformanceMetrics.

type healthWire struct {
	IsHealthy          bool
	ConnectionCount    int
	RegisteredMachines int
	LastActivityAt     protocol.Time
	ErrorMessage       *string
}

func (s *Server) healthData() healthWire {
	h := s.Health()
	w := healthWire{
		IsHealthy:          h.IsHealthy,
		ConnectionCount:    h.ConnectionCount,
		RegisteredMachines: h.RegisteredMachines,
		LastActivityAt:     protocol.Time(h.LastActivityAt),
	}
	if h.ErrorMessage != "" {
		w.ErrorMessage = &h.ErrorMessage
	}
	return w
}

type metricsWire struct {
	StartedAt           protocol.Time
	Uptime              string  // .NET TimeSpan form
	UptimeSeconds       float64 //
	ConnectionCount     int
	RegisteredMachines  int
	PendingRequests     int
	PeakConnections     int
	PeakConnectionsAt   protocol.Time
	QueuedBytes         int
	LinesIn             uint64
	BytesIn             uint64
	BytesOut            uint64
	EventsRouted        uint64
	EventsPublished     uint64
	Requests            uint64
	Replies             uint64
	RejectedConnections uint64
	Failures            map[string]uint64
}

func (s *Server) metricsData() metricsWire {
	m := s.Snapshot()
	failures := m.Failures
	if failures == nil {
		failures = map[string]uint64{}
	}
	return metricsWire{
		StartedAt:           protocol.Time(m.StartedAt),
		Uptime:              metrics.FormatTimeSpan(m.Uptime()),
		UptimeSeconds:       m.Uptime().Seconds(),
		ConnectionCount:     m.ConnectionCount,
		RegisteredMachines:  m.RegisteredMachines,
		PendingRequests:     m.PendingRequests,
		PeakConnections:     m.PeakConnections,
		PeakConnectionsAt:   protocol.Time(m.PeakConnectionsAt),
		QueuedBytes:         m.QueuedBytes,
		LinesIn:             m.LinesIn,
		BytesIn:             m.BytesIn,
		BytesOut:            m.BytesOut,
		EventsRouted:        m.EventsRouted,
		EventsPublished:     m.EventsPublished,
		Requests:            m.Requests,
		Replies:             m.Replies,
		RejectedConnections: m.Rejected,
		Failures:            failures,
	}
}

type machineWire struct {
	MachineId    string //nolint:revive // wire name
	ProcessName  string
	ProcessId    int64 //nolint:revive // wire name
	RegisteredAt protocol.Time
	ConnectionId uint64 //nolint:revive // wire name
	Subscribed   bool
}

func (s *Server) machinesData() []machineWire {
	list := s.router.Machines()
	out := make([]machineWire, len(list))
	for i, m := range list {
		out[i] = machineWire{
			MachineId:    m.ID,
			ProcessName:  m.ProcessName,
			ProcessId:    m.ProcessID,
			RegisteredAt: protocol.Time(m.BoundAt),
			ConnectionId: m.ConnID,
			Subscribed:   m.Subscribed,
		}
	}
	return out
}
