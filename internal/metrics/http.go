package metrics

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source is what the HTTP endpoints report on.
type Source interface {
	Snapshot() Snapshot
	Health() Health
}

// Handler serves /healthz (200 or 503 with the health as JSON) and
// /metrics (Prometheus text exposition, read from a fresh Snapshot on
// every scrape; nothing is counted on the routing path for it).
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{src: src})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		h := src.Health()
		w.Header().Set("Content-Type", "application/json")
		if !h.IsHealthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	return mux
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("statebus_"+name, help, labels, nil)
}

var (
	descUp           = desc("healthy", "1 when the bus is healthy, else 0.")
	descConns        = desc("connections", "Open client connections.")
	descPeak         = desc("connections_peak", "Most connections open at once since start.")
	descMachines     = desc("machines", "Registered machine ids.")
	descPending      = desc("pending_requests", "Requests waiting for their target's reply.")
	descQueued       = desc("queued_bytes", "Bytes waiting in outbound queues.")
	descUptime       = desc("uptime_seconds", "Seconds since the bus started.")
	descLines        = desc("lines_received_total", "Request lines read from clients.")
	descBytesIn      = desc("received_bytes_total", "Bytes read from clients.")
	descBytesOut     = desc("sent_bytes_total", "Bytes written to clients.")
	descRouted       = desc("events_routed_total", "SendEvent lines delivered to a target's queue.")
	descPublished    = desc("events_published_total", "Publish deliveries, one per receiving machine.")
	descRequests     = desc("requests_total", "Requests delivered to a target.")
	descReplies      = desc("replies_total", "Replies matched to a pending request.")
	descRefused      = desc("connections_refused_total", "Connections refused at MaxConnections.")
	descFailures     = desc("failures_total", "Failed request lines by error code.", "code")
	descBridgeUp     = desc("bridge_up", "1 when the bridge to other hosts is connected, 0 when down (absent without a bridge).")
	descBridgeHosts  = desc("bridge_hosts", "Other hosts seen through the bridge.")
	descRemote       = desc("remote_machines", "Machines on other hosts, through the bridge.")
	descDropped      = desc("dropped_lines_total", "Queued lines (events, replies) never written because the peer went away.")
	descGoroutines   = desc("goroutines", "Goroutines in the bus process.")
	descOpenFiles    = desc("open_files", "Open file descriptors of the bus process.")
	descResident     = desc("resident_bytes", "Resident memory of the bus process.")
	descRouteLatency = desc("routing_latency_seconds", "Time to route a decoded SendEvent to its target's queue (one event in 64).")
	descMonitors     = desc("monitors", "Monitors attached (statebus monitor, top, the web inspector).")
	descTraceDropped = desc("monitor_dropped_total", "Traces monitors missed because they fell behind (their queue was full).")
	descBuild        = desc("build_info", "Always 1; the labels say which statebus binary is serving (absent when unknown).", "version", "commit", "goversion")
)

type collector struct{ src Source }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descConns, descPeak, descMachines, descPending, descQueued, descUptime,
		descLines, descBytesIn, descBytesOut, descRouted, descPublished, descRequests, descReplies, descRefused, descFailures, descRouteLatency, descGoroutines, descOpenFiles, descResident, descDropped, descBridgeUp, descBridgeHosts, descRemote, descBuild, descMonitors, descTraceDropped} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	healthy := 0.0
	if c.src.Health().IsHealthy {
		healthy = 1
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if b := s.Build; b.Version != "" {
		ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, b.Version, b.Commit, b.GoVersion)
	}
	gauge(descUp, healthy)
	gauge(descConns, float64(s.ConnectionCount))
	gauge(descPeak, float64(s.PeakConnections))
	gauge(descMachines, float64(s.RegisteredMachines))
	gauge(descPending, float64(s.PendingRequests))
	gauge(descQueued, float64(s.QueuedBytes))
	gauge(descUptime, s.Uptime().Seconds())
	counter(descLines, s.LinesIn)
	counter(descBytesIn, s.BytesIn)
	counter(descBytesOut, s.BytesOut)
	counter(descRouted, s.EventsRouted)
	counter(descPublished, s.EventsPublished)
	counter(descRequests, s.Requests)
	counter(descReplies, s.Replies)
	counter(descRefused, s.Rejected)
	counter(descDropped, s.LinesDropped)
	gauge(descMonitors, float64(s.Monitors))
	counter(descTraceDropped, s.TracesDropped)
	if b := s.Bridge; b != nil {
		up := 0.0
		if b.Connected {
			up = 1
		}
		gauge(descBridgeUp, up)
		gauge(descBridgeHosts, float64(b.Hosts))
		gauge(descRemote, float64(b.RemoteMachines))
	}
	gauge(descGoroutines, float64(s.Process.Goroutines))
	gauge(descOpenFiles, float64(s.Process.OpenFiles))
	gauge(descResident, float64(s.Process.ResidentBytes))
	for code, n := range s.Failures {
		counter(descFailures, n, code)
	}
	buckets := make(map[float64]uint64, len(LatencyBuckets))
	for i, b := range LatencyBuckets {
		buckets[b.Seconds()] = s.RoutingLatency.Cumulative[i]
	}
	ch <- prometheus.MustNewConstHistogram(descRouteLatency, s.RoutingLatency.Count, s.RoutingLatency.Sum.Seconds(), buckets)
}
