package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource is a Source whose answers a test sets.
type fakeSource struct {
	mu     sync.Mutex
	snap   Snapshot
	health Health
}

func (f *fakeSource) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeSource) Health() Health {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health
}

func (f *fakeSource) set(fn func(*fakeSource)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHealthz(t *testing.T) {
	src := &fakeSource{}
	srv := httptest.NewServer(Handler(src))
	defer srv.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		health Health
		code   int
	}{
		{Health{IsHealthy: true, ConnectionCount: 3, RegisteredMachines: 2, LastActivityAt: at}, http.StatusOK},
		{Health{IsHealthy: false, ConnectionCount: 10, ErrorMessage: "connection limit reached (10/10)", LastActivityAt: at}, http.StatusServiceUnavailable},
	} {
		src.set(func(f *fakeSource) { f.health = tt.health })
		resp, body := get(t, srv.URL+"/healthz")
		if resp.StatusCode != tt.code || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %q, want %d application/json", resp.StatusCode, resp.Header.Get("Content-Type"), tt.code)
		}
		var got Health
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if !got.LastActivityAt.Equal(tt.health.LastActivityAt) {
			t.Fatalf("LastActivityAt %v, want %v", got.LastActivityAt, tt.health.LastActivityAt)
		}
		got.LastActivityAt = tt.health.LastActivityAt
		if got != tt.health {
			t.Fatalf("got %+v, want %+v", got, tt.health)
		}
	}
}

// promSample is one sample line of the text exposition format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promName  = `[a-zA-Z_:][a-zA-Z0-9_:]*`
	sampleRe  = regexp.MustCompile(`^(` + promName + `)(\{(.*)\})? (\S+)( -?\d+)?$`)
	labelRe   = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)",?`)
	commentRe = regexp.MustCompile(`^# (HELP|TYPE) (` + promName + `) (.*)$`)
	typeNames = map[string]bool{"counter": true, "gauge": true, "histogram": true, "summary": true, "untyped": true}
)

// parseProm checks the text exposition format line by line: every line
// is a HELP or TYPE comment or `name{labels} value`, each metric family
// has one HELP and one TYPE before its samples, and the samples of a
// histogram are its _bucket, _sum and _count series. It returns the
// samples and each family's type.
func parseProm(text string) ([]promSample, map[string]string, error) {
	help, types := map[string]bool{}, map[string]string{}
	var samples []promSample
	if !strings.HasSuffix(text, "\n") {
		return nil, nil, errors.New("exposition does not end with a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if c := commentRe.FindStringSubmatch(line); c != nil {
			switch kind, name := c[1], c[2]; kind {
			case "HELP":
				if help[name] {
					return nil, nil, fmt.Errorf("line %d: second HELP for %s", i+1, name)
				}
				help[name] = true
			case "TYPE":
				if _, dup := types[name]; dup || !typeNames[c[3]] {
					return nil, nil, fmt.Errorf("line %d: bad or second TYPE: %q", i+1, line)
				}
				types[name] = c[3]
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue // other comments are allowed
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil {
			return nil, nil, fmt.Errorf("line %d is neither a comment nor a sample: %q", i+1, line)
		}
		s := promSample{name: m[1], labels: map[string]string{}}
		for rest := m[3]; rest != ""; {
			l := labelRe.FindStringSubmatch(rest)
			if l == nil {
				return nil, nil, fmt.Errorf("line %d: bad labels %q", i+1, m[3])
			}
			s.labels[l[1]] = l[2]
			rest = rest[len(l[0]):]
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: value %q: %v", i+1, m[4], err)
		}
		s.value = v
		family := s.name
		if _, ok := types[family]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, cut := strings.CutSuffix(s.name, suf); cut && (types[base] == "histogram" || types[base] == "summary") {
					family = base
				}
			}
		}
		if !help[family] || types[family] == "" {
			return nil, nil, fmt.Errorf("line %d: sample of %s before its HELP and TYPE", i+1, family)
		}
		samples = append(samples, s)
	}
	return samples, types, nil
}

func mustParseProm(t *testing.T, text string) ([]promSample, map[string]string) {
	t.Helper()
	s, types, err := parseProm(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return s, types
}

func find(samples []promSample, name string, labels map[string]string) (float64, bool) {
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && s.labels[k] == v
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

func TestMetricsExposition(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var h Histogram
	h.Observe(3 * time.Microsecond)
	h.Observe(3 * time.Microsecond)
	h.Observe(2 * time.Second)
	src := &fakeSource{
		health: Health{IsHealthy: true},
		snap: Snapshot{
			StartedAt: start, Now: start.Add(90 * time.Second),
			ConnectionCount: 3, RegisteredMachines: 2, PendingRequests: 1, PeakConnections: 7, QueuedBytes: 42,
			RoutingLatency: h.Snapshot(),
			Process:        ProcessStats{Goroutines: 11, OpenFiles: 9, ResidentBytes: 1 << 20},
			Counters: Counters{LinesIn: 100, BytesIn: 2000, BytesOut: 3000, EventsRouted: 50, EventsPublished: 6,
				Requests: 4, Replies: 3, Rejected: 2, LinesDropped: 1,
				Failures: map[string]uint64{"unknown_target": 5, "queue_full": 2}},
		},
	}
	srv := httptest.NewServer(Handler(src))
	defer srv.Close()

	resp, body := get(t, srv.URL+"/metrics")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	samples, types := mustParseProm(t, body)

	// Known metrics with their types and values. Others (added later,
	// such as a build_info gauge) are allowed.
	none := map[string]string{}
	for _, tt := range []struct {
		name, typ string
		labels    map[string]string
		value     float64
	}{
		{"statebus_healthy", "gauge", none, 1},
		{"statebus_connections", "gauge", none, 3},
		{"statebus_connections_peak", "gauge", none, 7},
		{"statebus_machines", "gauge", none, 2},
		{"statebus_pending_requests", "gauge", none, 1},
		{"statebus_queued_bytes", "gauge", none, 42},
		{"statebus_uptime_seconds", "gauge", none, 90},
		{"statebus_lines_received_total", "counter", none, 100},
		{"statebus_received_bytes_total", "counter", none, 2000},
		{"statebus_sent_bytes_total", "counter", none, 3000},
		{"statebus_events_routed_total", "counter", none, 50},
		{"statebus_events_published_total", "counter", none, 6},
		{"statebus_requests_total", "counter", none, 4},
		{"statebus_replies_total", "counter", none, 3},
		{"statebus_connections_refused_total", "counter", none, 2},
		{"statebus_dropped_lines_total", "counter", none, 1},
		{"statebus_failures_total", "counter", map[string]string{"code": "unknown_target"}, 5},
		{"statebus_failures_total", "counter", map[string]string{"code": "queue_full"}, 2},
		{"statebus_goroutines", "gauge", none, 11},
		{"statebus_open_files", "gauge", none, 9},
		{"statebus_resident_bytes", "gauge", none, 1 << 20},
		{"statebus_routing_latency_seconds_count", "", none, 3},
		{"statebus_routing_latency_seconds_bucket", "", map[string]string{"le": "5e-06"}, 2},
		{"statebus_routing_latency_seconds_bucket", "", map[string]string{"le": "1"}, 2},
		{"statebus_routing_latency_seconds_bucket", "", map[string]string{"le": "+Inf"}, 3},
	} {
		if tt.typ != "" && types[tt.name] != tt.typ {
			t.Errorf("%s: TYPE %q, want %q", tt.name, types[tt.name], tt.typ)
		}
		if got, ok := find(samples, tt.name, tt.labels); !ok || got != tt.value {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.value)
		}
	}
	if types["statebus_routing_latency_seconds"] != "histogram" {
		t.Errorf("latency TYPE %q", types["statebus_routing_latency_seconds"])
	}
	if sum, _ := find(samples, "statebus_routing_latency_seconds_sum", none); sum < 2.000006-1e-9 || sum > 2.000006+1e-9 {
		t.Errorf("latency sum %v", sum)
	}
	// One bucket per bound, plus +Inf, each le a bound in seconds.
	var les []string
	for _, s := range samples {
		if s.name == "statebus_routing_latency_seconds_bucket" {
			les = append(les, s.labels["le"])
		}
	}
	if len(les) != len(LatencyBuckets)+1 || les[len(les)-1] != "+Inf" {
		t.Fatalf("buckets %v", les)
	}
	for i, b := range LatencyBuckets {
		if v, err := strconv.ParseFloat(les[i], 64); err != nil || v != b.Seconds() {
			t.Errorf("bucket %d: le %q, want %v", i, les[i], b.Seconds())
		}
	}
	// Without a bridge its metrics are absent, not zero.
	for _, name := range []string{"statebus_bridge_up", "statebus_bridge_hosts", "statebus_remote_machines"} {
		if _, ok := find(samples, name, none); ok {
			t.Errorf("%s present without a bridge", name)
		}
	}
}

// Every scrape reads a fresh snapshot and health; the bridge's metrics
// appear with a bridge.
func TestMetricsFollowTheSource(t *testing.T) {
	src := &fakeSource{snap: Snapshot{RoutingLatency: (&Histogram{}).Snapshot()}}
	srv := httptest.NewServer(Handler(src))
	defer srv.Close()
	scrape := func() []promSample {
		_, body := get(t, srv.URL+"/metrics")
		s, _ := mustParseProm(t, body)
		return s
	}
	none := map[string]string{}
	if v, _ := find(scrape(), "statebus_healthy", none); v != 0 {
		t.Fatalf("healthy %v while unhealthy", v)
	}
	src.set(func(f *fakeSource) {
		f.health.IsHealthy = true
		f.snap.ConnectionCount = 5
		f.snap.Bridge = &BridgeStats{Connected: true, Hosts: 2, RemoteMachines: 9}
	})
	s := scrape()
	for name, want := range map[string]float64{"statebus_healthy": 1, "statebus_connections": 5,
		"statebus_bridge_up": 1, "statebus_bridge_hosts": 2, "statebus_remote_machines": 9} {
		if v, ok := find(s, name, none); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	src.set(func(f *fakeSource) { f.snap.Bridge.Connected = false })
	if v, ok := find(scrape(), "statebus_bridge_up", none); !ok || v != 0 {
		t.Errorf("bridge_up %v (present %v) with the bridge down", v, ok)
	}
}

// The parser itself must reject what is not the text format, or the
// tests above could pass on anything.
func TestParsePromRejects(t *testing.T) {
	for _, bad := range []string{
		"statebus_x 1\n", // no HELP/TYPE
		"# HELP statebus_x h\n# TYPE statebus_x gauge\nstatebus_x one\n",
		"# HELP statebus_x h\n# TYPE statebus_x gauge\nstatebus_x{a=b} 1\n",
		"# HELP statebus_x h\n# TYPE statebus_x gauge\nstatebus x 1\n",
		"# HELP statebus_x h\n# TYPE statebus_x weird\nstatebus_x 1\n",
		"# HELP statebus_x h\n# TYPE statebus_x gauge\nstatebus_x 1",
	} {
		if _, _, err := parseProm(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
