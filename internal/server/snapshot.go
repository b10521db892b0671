package server

import (
	"time"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/protocol"
)

// Snapshot returns the server's metrics now.
func (s *Server) Snapshot() metrics.Snapshot {
	snap := metrics.Snapshot{StartedAt: s.startedAt, Now: time.Now(), RoutingLatency: s.latency.Snapshot(), Process: metrics.Process()}
	snap.Build = s.limits().Build
	s.mu.Lock()
	snap.ConnectionCount = len(s.conns)
	snap.PeakConnections, snap.PeakConnectionsAt = s.peak, s.peakAt
	snap.Rejected = s.rejected
	s.totals.into(&snap.Counters)
	if s.refused > 0 {
		if snap.Failures == nil {
			snap.Failures = make(map[string]uint64)
		}
		snap.Failures[protocol.CodeUnauthorized.String()] += s.refused
	}
	for c := range s.conns {
		c.stats.into(&snap.Counters)
		c.mu.Lock()
		snap.QueuedBytes += c.queuedLocked()
		c.mu.Unlock()
	}
	s.mu.Unlock()
	snap.Monitors, snap.TracesDropped = s.Monitors(), s.TracesDropped()
	snap.RegisteredMachines = s.router.Count()
	snap.PendingRequests = s.router.PendingCount()
	if s.bridge != nil {
		st := s.bridge.Status()
		snap.Bridge = &metrics.BridgeStats{Connected: st.Connected, Hosts: st.Hosts, RemoteMachines: len(s.bridge.Machines())}
	}
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
		MaxConnections:  s.limits().MaxConnections,
	}
	limit := s.limits().MaxQueueBytes * 9 / 10
	for c := range s.conns {
		c.mu.Lock()
		if c.queuedLocked() >= limit {
			in.SaturatedQueues++
		}
		c.mu.Unlock()
	}
	s.mu.Unlock()
	in.Machines = s.router.Count()
	in.LastActivityAt = s.LastActivity()
	return metrics.Evaluate(in)
}

func (s *Server) healthData() protocol.HealthData {
	h := s.Health()
	w := protocol.HealthData{
		IsHealthy:          h.IsHealthy,
		ConnectionCount:    h.ConnectionCount,
		RegisteredMachines: h.RegisteredMachines,
		LastActivityAt:     protocol.Time(h.LastActivityAt),
		Version:            s.limits().Build.Version,
	}
	if h.ErrorMessage != "" {
		w.ErrorMessage = &h.ErrorMessage
	}
	if s.bridge != nil {
		st := s.bridge.Status()
		w.Bridge = &protocol.BridgeData{Connected: st.Connected, Hosts: st.Hosts, RemoteMachines: len(s.bridge.Machines()), Error: st.Error}
	}
	return w
}

// Metrics returns the bus's counters as the Metrics reply carries them
// (docs/protocol.md §4.10).
func (s *Server) Metrics() protocol.MetricsData { return s.metricsData() }

func (s *Server) metricsData() protocol.MetricsData {
	m := s.Snapshot()
	failures := m.Failures
	if failures == nil {
		failures = map[string]uint64{}
	}
	return protocol.MetricsData{
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
		DroppedLines:        m.LinesDropped,
		Failures:            failures,
		Goroutines:          m.Process.Goroutines,
		OpenFiles:           m.Process.OpenFiles,
		ResidentBytes:       m.Process.ResidentBytes,
		Monitors:            m.Monitors,
		TracesDropped:       m.TracesDropped,
	}
}

func (s *Server) machinesData() []protocol.MachineData {
	list := s.router.Machines()
	queued := make(map[uint64]int, len(list))
	s.mu.Lock()
	for c := range s.conns {
		c.mu.Lock()
		queued[c.id] = c.queuedLocked()
		c.mu.Unlock()
	}
	s.mu.Unlock()
	out := make([]protocol.MachineData, len(list))
	for i, m := range list {
		out[i] = protocol.MachineData{
			MachineId:    m.ID,
			ProcessName:  m.ProcessName,
			ProcessId:    m.ProcessID,
			RegisteredAt: protocol.Time(m.BoundAt),
			ConnectionId: m.ConnID,
			Subscribed:   m.Subscribed,
			PeerPid:      m.PeerPID,
			PeerUid:      m.PeerUID,
			State:        s.stateOf(m.ID),
			QueuedBytes:  queued[m.ConnID],
		}
	}
	if s.bridge != nil {
		for _, m := range s.bridge.Machines() {
			out = append(out, protocol.MachineData{MachineId: m.ID, Host: m.Host, PeerPid: -1, PeerUid: -1})
		}
	}
	return out
}
