package top

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// sample builds a sample at t0+sec with the given bus totals and
// per-machine traffic.
func sample(sec float64, routed, failed uint64, traffic map[string]Traffic, ids ...string) Sample {
	s := Sample{
		At:      t0.Add(time.Duration(sec * float64(time.Second))),
		Health:  client.Health{IsHealthy: true, Version: "v1.2.3"},
		Metrics: client.Metrics{ConnectionCount: len(ids), StartedAt: t0.Add(-time.Hour), Uptime: time.Hour, EventsRouted: routed, Failures: map[string]uint64{"queue_full": failed}},
		Traffic: traffic,
		Monitor: MonitorStatus{OK: traffic != nil, Reason: "per-machine rates need monitor access (unauthorized)"},
	}
	for i, id := range ids {
		s.Machines = append(s.Machines, client.MachineInfo{ID: id, ProcessName: "proc", PeerPID: 100 + i, ProcessID: 7})
	}
	return s
}

func TestModelRates(t *testing.T) {
	var m Model
	v := m.Update(sample(0, 10, 1, map[string]Traffic{"a": {In: 5, Out: 2}}, "a", "b"))
	if v.HaveRates || v.Rows[0].HaveRates {
		t.Fatalf("rates after one sample: %+v", v)
	}
	if got := Layout(v, Order{}).Rows[0]; !strings.Contains(got, "  -  ") {
		t.Errorf("first row %q: want - for unknown rates", got)
	}
	v = m.Update(sample(2, 30, 5, map[string]Traffic{"a": {In: 25, Out: 3, Failures: 4}, "b": {Out: 8}}, "a", "b"))
	if !v.HaveRates || v.EventsPerSec != 10 || v.FailuresPerSec != 2 {
		t.Errorf("bus rates = %v/%v/%v, want 10 events/s, 2 failures/s", v.HaveRates, v.EventsPerSec, v.FailuresPerSec)
	}
	a, b := v.Rows[0], v.Rows[1]
	if a.InPerSec != 10 || a.OutPerSec != 0.5 || a.Failures != 4 {
		t.Errorf("row a = %+v, want in 10/s, out 0.5/s, 4 failures", a)
	}
	if b.InPerSec != 0 || b.OutPerSec != 4 {
		t.Errorf("row b = %+v, want in 0/s, out 4/s", b)
	}
}

func TestModelRestartAndNoMonitor(t *testing.T) {
	var m Model
	m.Update(sample(0, 100, 0, nil, "a"))
	s := sample(1, 3, 0, nil, "a")
	s.Metrics.StartedAt = t0 // the bus restarted: counters start again
	if v := m.Update(s); v.HaveRates {
		t.Errorf("rates across a restart: %+v", v)
	}
	v := m.Update(sample(2, 5, 0, nil, "a"))
	v = m.Update(sample(3, 7, 0, nil, "a"))
	if !v.HaveRates || v.EventsPerSec != 2 {
		t.Errorf("bus rate = %v, want 2/s", v.EventsPerSec)
	}
	if v.Rows[0].HaveRates {
		t.Errorf("per-machine rates without a monitor: %+v", v.Rows[0])
	}
	text := Layout(v, Order{})
	if !strings.Contains(strings.Join(text.Header, "\n"), "per-machine rates need monitor access (unauthorized)") {
		t.Errorf("header does not say monitoring was refused:\n%s", strings.Join(text.Header, "\n"))
	}
}

func rows(ids ...string) []Row {
	var out []Row
	for i, id := range ids {
		out = append(out, Row{ID: id, PID: int64(len(ids) - i), InPerSec: float64(i), OutPerSec: float64(len(ids) - i),
			Failures: uint64(i % 2), LastAt: t0.Add(time.Duration(i) * time.Second), State: string(rune('z' - i))})
	}
	return out
}

func ids(rs []Row) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID)
	}
	return strings.Join(s, " ")
}

func TestOrder(t *testing.T) {
	rs := rows("a", "b", "c", "d")
	for _, tc := range []struct {
		o    Order
		want string
	}{
		{Order{}, "a b c d"},
		{Order{Reverse: true}, "d c b a"},
		{Order{By: ByIn}, "d c b a"},
		{Order{By: ByIn, Reverse: true}, "a b c d"},
		{Order{By: ByOut}, "a b c d"},
		{Order{By: ByFailures}, "b d a c"},                // 1,1 then 0,0; ties by id
		{Order{By: ByFailures, Reverse: true}, "a c b d"}, // ties stay by id
		{Order{By: ByLast}, "d c b a"},
		{Order{By: ByPID}, "d c b a"},
		{Order{By: ByState}, "d c b a"},
		{Order{Filter: "B"}, "b"},
		{Order{By: ByIn, Filter: "x"}, ""},
	} {
		if got := ids(tc.o.Apply(rs)); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.o, got, tc.want)
		}
	}
	c := ByMachine
	var names []string
	for range numColumns + 1 {
		names = append(names, c.String())
		c = c.Next()
	}
	if got := strings.Join(names, " "); got != "MACHINE IN/s OUT/s FAILS QUEUE LAST PID STATE MACHINE" {
		t.Errorf("s cycles %s", got)
	}
	for _, n := range []string{"in", "IN/s", "fails", "failures", "machine", "id", "last", "pid", "state", "out"} {
		if _, ok := ParseColumn(n); !ok {
			t.Errorf("ParseColumn(%q) failed", n)
		}
	}
	if _, ok := ParseColumn("bogus"); ok {
		t.Error("ParseColumn(bogus) ok")
	}
	if got := (Order{By: ByIn}).Describe(); got != "IN/s descending" {
		t.Errorf("Describe = %q", got)
	}
}

func TestTally(t *testing.T) {
	tl := NewTally()
	tl.Record("event", "delivered", "ui", "w1", "JOB", t0)
	tl.Record("request", "delivered", "ui", "w1", "STATUS", t0.Add(time.Second))
	tl.Record("reply", "delivered", "w1", "ui", "STATUS", t0.Add(2*time.Second))
	tl.Record("publish", "delivered", "ui", "", "PING", t0.Add(3*time.Second))
	tl.Record("event", "target_not_connected", "ui", "nobody", "JOB", t0.Add(4*time.Second))
	tl.Record("failure", "invalid_json", "", "", "", t0)
	tl.Record("state", "ok", "w1", "", "", t0.Add(9*time.Second))
	tl.Record("register", "ok", "w2", "", "", t0)
	tl.Record("event", "delivered", "w1", "ui", "OLD", t0) // late, older: not the last event
	tl.AddDropped(3)
	got, dropped := tl.Snapshot()
	want := map[string]Traffic{
		"ui":     {In: 2, Out: 3, Failures: 1, LastEvent: "JOB", LastAt: t0.Add(4 * time.Second)},
		"w1":     {In: 2, Out: 2, LastEvent: "STATUS", LastAt: t0.Add(2 * time.Second)},
		"nobody": {LastEvent: "JOB", LastAt: t0.Add(4 * time.Second)},
	}
	if dropped != 3 || len(got) != len(want) {
		t.Fatalf("snapshot = %+v dropped %d", got, dropped)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s = %+v, want %+v", id, got[id], w)
		}
	}
	tl.Keep(func(id string) bool { return id != "nobody" })
	if got, _ := tl.Snapshot(); len(got) != 2 {
		t.Errorf("after Keep: %+v", got)
	}
}

func TestStateValue(t *testing.T) {
	for _, tc := range []struct{ value, status, want string }{
		{`"idle"`, "active", "idle"},
		{`{"active":"waiting"}`, "", "active.waiting"},
		{`{"a":{"b":"c"}}`, "", "a.b.c"},
		{`{"right":"off","left":{"x":"on"}}`, "", "{left.x.on, right.off}"},
		{`"final"`, "done", "final (done)"},
		{`null`, "error", "error"},
		{``, "", ""},
		{`42`, "", "42"},
	} {
		if got := StateValue(json.RawMessage(tc.value), tc.status); got != tc.want {
			t.Errorf("StateValue(%s, %q) = %q, want %q", tc.value, tc.status, got, tc.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 59 * time.Second: "59s", 125 * time.Second: "2m05s", 3*time.Hour + 7*time.Minute: "3h07m",
		51 * time.Hour: "2d03h",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
	if Ago(t0, time.Time{}) != "-" || Ago(t0, t0.Add(time.Second)) != "0s" || Ago(t0.Add(4*time.Second), t0) != "4s" {
		t.Error("Ago")
	}
	for n, want := range map[int]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if Cut("abcdef", 4) != "abc…" || Cut("abc", 4) != "abc" || Cut("abcdef", 0) != "abcdef" {
		t.Error("Cut")
	}
	if rateText(true, 12345.6) != "12346" || rateText(true, 2.25) != "2.2" || rateText(false, 1) != "-" {
		t.Error("rateText")
	}
}

func TestWriteText(t *testing.T) {
	var m Model
	m.Update(sample(0, 0, 0, map[string]Traffic{}, "worker-1", "a-very-long-machine-id-that-goes-on-and-on-forever"))
	s := sample(1, 4, 0, map[string]Traffic{"worker-1": {In: 4, LastEvent: "JOB", LastAt: t0}}, "worker-1", "a-very-long-machine-id-that-goes-on-and-on-forever")
	s.Machines[0].QueuedBytes = 2048
	s.Machines = append(s.Machines, client.MachineInfo{ID: "remote-1", Host: "hostB", PeerPID: -1})
	v := m.Update(s)
	var b bytes.Buffer
	if err := WriteText(&b, v, Order{By: ByIn}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	lines := strings.Split(out, "\n")
	want := []string{
		"statebus top - 10:00:01 - v1.2.3 - up 1h00m - healthy",
		"connections 2 (peak 0)  machines 3  pending requests 0  queued 0 B",
		"events/s 4.0 (total 4)  failures/s 0.0 (total 0)  dropped traces 0",
		"",
		"MACHINE                           HOST   PID  PROCESS  STATE  IN/s  OUT/s  FAILS    QUEUE  LAST EVENT  AGO",
		"worker-1                          -      100  proc     -       4.0    0.0      0  2.0 KiB  JOB          1s",
		"a-very-long-machine-id-that-goe…  -      101  proc     -       0.0    0.0      0      0 B  -             -",
		"remote-1                          hostB    -  -        -       0.0    0.0      0        -  -             -",
	}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], w)
		}
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Error("control codes in plain text")
	}
	b.Reset()
	if err := WriteText(&b, v, Order{Filter: "work"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `(1 of 3 machines shown: filter "work")`) || strings.Contains(b.String(), "remote-1") {
		t.Errorf("filtered:\n%s", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, v, Order{Filter: "remote"}); err != nil {
		t.Fatal(err)
	}
	var back View
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Rows) != 1 || back.Rows[0].Host != "hostB" {
		t.Errorf("JSON %s: %v", b.String(), err)
	}
}
