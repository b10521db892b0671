// Package top is the model and the screen of "statebus top": samples of a
// bus's counters and machines, the rates between two samples, sorting,
// filtering and formatting, all testable without a terminal, and the
// live full-screen view over a tcell screen.
//
// A Model is not safe for concurrent use: one goroutine (the view's loop,
// or "--once") feeds it samples and reads its views.
package top

import (
	"strings"
	"time"

	"github.com/statebus/statebus/client"
)

// Sample is what the bus said at one moment, and what its monitor
// stream had counted up to then.
type Sample struct {
	At       time.Time // the local time the sample was taken
	Health   client.Health
	Metrics  client.Metrics
	Machines []client.MachineInfo
	// Traffic holds the totals per machine id counted from the monitor
	// stream since it started (Tally.Snapshot); nil without a monitor.
	Traffic map[string]Traffic
	// Dropped is how many traces the bus dropped for this monitor.
	Dropped uint64
	// Monitor says whether per-machine counting works: MonitorOK, or
	// why not.
	Monitor MonitorStatus
}

// MonitorStatus says whether the per-machine counts come from a monitor
// subscription.
type MonitorStatus struct {
	OK     bool
	Reason string // when !OK: why, as the header says it ("per-machine rates need monitor access (...)")
}

// Traffic is what the monitor stream saw of one machine, totals since
// the stream started.
type Traffic struct {
	In        uint64    // events, requests and replies delivered to it
	Out       uint64    // events, publishes, requests and replies it sent that were delivered
	Failures  uint64    // actions it sent that failed
	LastEvent string    // the name of the last event it sent or received
	LastAt    time.Time // when (the bus's time)
}

// View is one screenful: the bus's figures and one row per machine.
// Rates are per second over the time between the last two samples;
// HaveRates is false after the first sample.
type View struct {
	At             time.Time
	Version        string
	Healthy        bool
	Problem        string // the health's error message
	Uptime         time.Duration
	Connections    int
	PeakConns      int
	Machines       int
	PendingReqs    int
	QueuedBytes    int
	Events         uint64 // routed + published + requests + replies, total
	Failures       uint64 // total
	HaveRates      bool
	EventsPerSec   float64
	FailuresPerSec float64
	Dropped        uint64
	Monitor        MonitorStatus
	Rows           []Row
}

// Row is one machine.
type Row struct {
	ID        string
	Host      string // the owning host of a bridged machine; "" for local
	PID       int64  // the peer's pid as the OS says, else as claimed; -1 unknown
	Process   string
	State     string // the reported state, "-" when none
	HaveRates bool   // false without a monitor or before the second sample
	InPerSec  float64
	OutPerSec float64
	Failures  uint64 // since top started
	Queued    int    // bytes waiting for its connection (shared by the connection's machines); -1 on another host
	LastEvent string
	LastAt    time.Time // zero: none seen
}

// Model keeps the previous sample so that each new one yields rates.
type Model struct {
	prev    *Sample
	current View
}

// Update takes a new sample and computes the view from it and the
// previous one.
func (m *Model) Update(s Sample) View {
	v := View{
		At:          s.At,
		Version:     s.Health.Version,
		Healthy:     s.Health.IsHealthy,
		Problem:     s.Health.ErrorMessage,
		Uptime:      s.Metrics.Uptime,
		Connections: s.Metrics.ConnectionCount,
		PeakConns:   s.Metrics.PeakConnections,
		Machines:    len(s.Machines),
		PendingReqs: s.Metrics.PendingRequests,
		QueuedBytes: s.Metrics.QueuedBytes,
		Events:      events(s.Metrics),
		Failures:    failures(s.Metrics),
		Dropped:     s.Dropped,
		Monitor:     s.Monitor,
	}
	var dt float64
	if p := m.prev; p != nil {
		dt = s.At.Sub(p.At).Seconds()
	}
	// A restarted bus starts its counters again: no rate across it.
	restarted := m.prev != nil && !s.Metrics.StartedAt.Equal(m.prev.Metrics.StartedAt)
	if dt > 0 && !restarted {
		v.HaveRates = true
		v.EventsPerSec = rate(events(m.prev.Metrics), v.Events, dt)
		v.FailuresPerSec = rate(failures(m.prev.Metrics), v.Failures, dt)
	}
	v.Rows = make([]Row, 0, len(s.Machines))
	for _, mi := range s.Machines {
		r := Row{ID: mi.ID, Host: mi.Host, PID: pid(mi), Process: mi.ProcessName, State: stateText(mi), Queued: mi.QueuedBytes}
		if mi.Host != "" {
			r.Queued = -1
		}
		if t, ok := s.Traffic[mi.ID]; ok {
			r.Failures, r.LastEvent, r.LastAt = t.Failures, t.LastEvent, t.LastAt
		}
		if s.Monitor.OK && dt > 0 && m.prev != nil && m.prev.Monitor.OK {
			now, before := s.Traffic[mi.ID], m.prev.Traffic[mi.ID]
			r.HaveRates = true
			r.InPerSec = rate(before.In, now.In, dt)
			r.OutPerSec = rate(before.Out, now.Out, dt)
		}
		v.Rows = append(v.Rows, r)
	}
	m.prev = &s
	m.current = v
	return v
}

// View returns the view of the last sample.
func (m *Model) View() View { return m.current }

func events(m client.Metrics) uint64 {
	return m.EventsRouted + m.EventsPublished + m.Requests + m.Replies
}

func failures(m client.Metrics) uint64 {
	var n uint64
	for _, c := range m.Failures {
		n += c
	}
	return n
}

// rate is the change from a to b per second over dt; a counter that went
// down (a restart) gives 0.
func rate(a, b uint64, dt float64) float64 {
	if b < a || dt <= 0 {
		return 0
	}
	return float64(b-a) / dt
}

// pid prefers the kernel's word over the client's claim.
func pid(m client.MachineInfo) int64 {
	switch {
	case m.Host != "":
		return -1
	case m.PeerPID >= 0:
		return int64(m.PeerPID)
	case m.ProcessID > 0:
		return m.ProcessID
	}
	return -1
}

// Matches reports whether a machine id passes the filter: a
// case-insensitive substring; "" passes everything.
func Matches(id, filter string) bool {
	return filter == "" || strings.Contains(strings.ToLower(id), strings.ToLower(filter))
}
