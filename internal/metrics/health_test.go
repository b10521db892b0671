package metrics

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestEvaluateRules(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ok := HealthInput{Listening: true, ConnectionCount: 3, MaxConnections: 10, Machines: 2, LastActivityAt: at}
	tests := []struct {
		name    string
		edit    func(*HealthInput)
		healthy bool
		msg     string
	}{
		{"fine", func(*HealthInput) {}, true, ""},
		{"one below the limit", func(in *HealthInput) { in.ConnectionCount = 9 }, true, ""},
		{"at the limit", func(in *HealthInput) { in.ConnectionCount = 10 }, false, "connection limit reached (10/10)"},
		{"over the limit", func(in *HealthInput) { in.ConnectionCount = 12 }, false, "connection limit reached (12/10)"},
		{"no limit", func(in *HealthInput) { in.MaxConnections, in.ConnectionCount = 0, 1_000_000 }, true, ""},
		{"not listening", func(in *HealthInput) { in.Listening = false }, false, "not accepting connections"},
		{"shutting down", func(in *HealthInput) { in.ShuttingDown = true }, false, "shutting down"},
		{"saturated", func(in *HealthInput) { in.SaturatedQueues = 2 }, false, "2 connection queue(s) saturated: events to them fail with queue_full"},
		// When several rules fail, the first in this order is reported:
		// shutting down, not listening, the limit, saturated queues.
		{"shutting down wins", func(in *HealthInput) {
			in.ShuttingDown, in.Listening, in.ConnectionCount, in.SaturatedQueues = true, false, 10, 1
		}, false, "shutting down"},
		{"not listening before the limit", func(in *HealthInput) {
			in.Listening, in.ConnectionCount, in.SaturatedQueues = false, 10, 1
		}, false, "not accepting connections"},
		{"limit before saturation", func(in *HealthInput) { in.ConnectionCount, in.SaturatedQueues = 10, 1 }, false, "connection limit reached (10/10)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			h := Evaluate(in)
			if h.IsHealthy != tt.healthy || h.ErrorMessage != tt.msg {
				t.Fatalf("Evaluate(%+v) = healthy %v %q, want %v %q", in, h.IsHealthy, h.ErrorMessage, tt.healthy, tt.msg)
			}
			// The figures are carried through whatever the verdict.
			if h.ConnectionCount != in.ConnectionCount || h.RegisteredMachines != in.Machines || !h.LastActivityAt.Equal(in.LastActivityAt) {
				t.Fatalf("figures not carried: %+v from %+v", h, in)
			}
		})
	}
}

// Health is served as JSON in the original service's HealthStatus shape:
// these member names are what its clients read.
func TestHealthJSONShape(t *testing.T) {
	b, err := json.Marshal(Evaluate(HealthInput{Listening: true}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"ConnectionCount", "ErrorMessage", "IsHealthy", "LastActivityAt", "RegisteredMachines"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if m["IsHealthy"] != true || m["ErrorMessage"] != "" {
		t.Fatalf("%s", b)
	}
}

func TestFormatTimeSpan(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00:00"},
		{time.Second, "00:00:01"},
		{59*time.Minute + 59*time.Second, "00:59:59"},
		{23*time.Hour + 59*time.Minute + 59*time.Second, "23:59:59"},
		{24 * time.Hour, "1.00:00:00"},
		{26*time.Hour + 3*time.Minute + 4*time.Second + 500*time.Millisecond, "1.02:03:04.5000000"},
		{100 * time.Nanosecond, "00:00:00.0000001"}, // one tick
		{99 * time.Nanosecond, "00:00:00"},          // below a tick: dropped
		{time.Second + 250*time.Nanosecond, "00:00:01.0000002"},
		{-90 * time.Second, "-00:01:30"},
		{-(48*time.Hour + time.Millisecond), "-2.00:00:00.0010000"},
		{400 * 24 * time.Hour, "400.00:00:00"},
	}
	for _, tt := range tests {
		if got := FormatTimeSpan(tt.d); got != tt.want {
			t.Errorf("FormatTimeSpan(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestSnapshotUptime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Snapshot{StartedAt: start, Now: start.Add(90 * time.Minute)}
	if got := s.Uptime(); got != 90*time.Minute {
		t.Fatalf("Uptime = %v", got)
	}
}

// The counters are embedded, so a Snapshot marshals them as its own
// members; a bus without a bridge says so with a null Bridge.
func TestSnapshotJSONShape(t *testing.T) {
	s := Snapshot{Counters: Counters{LinesIn: 7, Failures: map[string]uint64{"unknown_target": 2}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if string(m["LinesIn"]) != "7" || string(m["Failures"]) != `{"unknown_target":2}` || string(m["Bridge"]) != "null" {
		t.Fatalf("%s", b)
	}
	if _, nested := m["Counters"]; nested {
		t.Fatalf("counters nested: %s", b)
	}
	for _, k := range []string{"RoutingLatency", "Process", "PeakConnectionsAt", "QueuedBytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %s", k, b)
		}
	}
}

func TestProcess(t *testing.T) {
	p := Process()
	if p.Goroutines < 1 || p.ResidentBytes == 0 {
		t.Fatalf("%+v", p)
	}
	if p.OpenFiles < -1 || p.OpenFiles == 0 {
		t.Fatalf("open files %d: want -1 (unknown) or a count including stdin", p.OpenFiles)
	}
}
