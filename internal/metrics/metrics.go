// Package metrics holds the bus's health and metrics shapes and the rules
// that compute health. It is a leaf: the server fills a Snapshot from its
// own counters; this package decides what healthy means and how the
// snapshot is presented.
package metrics

import (
	"fmt"
	"time"
)

// Counters are monotonic totals since the bus started.
type Counters struct {
	LinesIn         uint64            // request lines read
	BytesIn         uint64            // bytes read from clients
	BytesOut        uint64            // bytes written to clients
	EventsRouted    uint64            // SendEvent lines delivered to a target queue
	EventsPublished uint64            // Publish deliveries (one per receiving machine)
	Requests        uint64            // Request lines delivered to a target
	Replies         uint64            // Reply lines matched to a pending request
	Rejected        uint64            // connections refused at MaxConnections
	LinesDropped    uint64            // queued lines never written because the peer went away
	Failures        map[string]uint64 // failed request lines by error code
}

// Snapshot is everything the Metrics request reports.
type Snapshot struct {
	StartedAt          time.Time
	Now                time.Time
	ConnectionCount    int
	RegisteredMachines int
	PendingRequests    int
	PeakConnections    int
	PeakConnectionsAt  time.Time
	QueuedBytes        int // bytes waiting in outbound queues
	RoutingLatency     HistogramSnapshot
	Process            ProcessStats
	Bridge             *BridgeStats // nil without a bridge to other hosts
	Build              BuildInfo    // which binary is serving; zero when not told
	Monitors           int          // monitors attached (wire and in-process)
	TracesDropped      uint64       // traces monitors missed because they fell behind
	Counters
}

// BuildInfo identifies the running binary, for the statebus_build_info
// metric. The server is told it (server.Config.Build); this package does
// not read it itself.
type BuildInfo struct {
	Version   string // "v1.2.3", "(devel)"
	Commit    string // VCS revision, "" when unknown
	GoVersion string // "go1.26.8"
}

// BridgeStats is the state of the link to other hosts.
type BridgeStats struct {
	Connected      bool
	Hosts          int
	RemoteMachines int
}

// Uptime is Now - StartedAt.
func (s *Snapshot) Uptime() time.Duration { return s.Now.Sub(s.StartedAt) }

// HealthInput is what health is computed from.
type HealthInput struct {
	Listening       bool // at least one listener is accepting
	ShuttingDown    bool
	ConnectionCount int
	MaxConnections  int
	Machines        int
	LastActivityAt  time.Time
	SaturatedQueues int // connections whose outbound queue is at least 90% full
}

// Health is the health status, in the original's HealthStatus shape.
type Health struct {
	IsHealthy          bool
	ConnectionCount    int
	RegisteredMachines int
	LastActivityAt     time.Time
	ErrorMessage       string // empty when healthy
}

// Evaluate computes health: the bus is healthy when it is accepting
// connections, is not shutting down, has room for another connection and
// no connection's outbound queue is saturated.
func Evaluate(in HealthInput) Health {
	h := Health{
		IsHealthy:          true,
		ConnectionCount:    in.ConnectionCount,
		RegisteredMachines: in.Machines,
		LastActivityAt:     in.LastActivityAt,
	}
	switch {
	case in.ShuttingDown:
		h.IsHealthy, h.ErrorMessage = false, "shutting down"
	case !in.Listening:
		h.IsHealthy, h.ErrorMessage = false, "not accepting connections"
	case in.MaxConnections > 0 && in.ConnectionCount >= in.MaxConnections:
		h.IsHealthy, h.ErrorMessage = false, fmt.Sprintf("connection limit reached (%d/%d)", in.ConnectionCount, in.MaxConnections)
	case in.SaturatedQueues > 0:
		h.IsHealthy, h.ErrorMessage = false, fmt.Sprintf("%d connection queue(s) saturated: events to them fail with queue_full", in.SaturatedQueues)
	}
	return h
}

// FormatTimeSpan writes d as .NET's TimeSpan "c" format,
// [-][d.]hh:mm:ss[.fffffff], as System.Text.Json serializes a TimeSpan.
func FormatTimeSpan(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	ticks := int64(d / 100)
	frac := ticks % 10_000_000
	secs := ticks / 10_000_000
	days, secs := secs/86400, secs%86400
	s := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
	if days > 0 {
		s = fmt.Sprintf("%d.%s", days, s)
	}
	if frac != 0 {
		s += fmt.Sprintf(".%07d", frac)
	}
	if neg {
		s = "-" + s
	}
	return s
}
