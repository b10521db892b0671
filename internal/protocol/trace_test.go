package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "x", true}, {"w*", "worker-1", true}, {"w*", "ui", false},
		{"ui", "ui", true}, {"ui", "ui2", false}, {"", "", true}, {"", "x", false}, {"a*b", "a*b", true}, {"a*b", "axb", false}, {"a*", "a", true},
	} {
		if got := MatchPattern(c.p, c.s); got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestTraceFilterMatch(t *testing.T) {
	f := TraceFilter{Machines: []string{"w*"}, Events: []string{"JOB"}, Kinds: []string{"event", "register"}}
	for _, c := range []struct {
		kind, src, tgt, ev string
		want               bool
	}{
		{"event", "ui", "worker-1", "JOB", true},
		{"event", "worker-1", "ui", "JOB", true},
		{"event", "ui", "ui", "JOB", false},
		{"event", "ui", "worker-1", "PING", false},
		{"publish", "worker-1", "", "JOB", false},
		{"register", "worker-2", "", "", true}, // no event name: not filtered by Events
		{"register", "", "", "", false},        // no machine: only an empty Machines matches
	} {
		if got := f.Match(c.kind, c.src, c.tgt, c.ev); got != c.want {
			t.Errorf("Match(%q, %q, %q, %q) = %v", c.kind, c.src, c.tgt, c.ev, got)
		}
	}
	var all TraceFilter
	if !all.Match("connect", "", "", "") {
		t.Error("the zero filter refuses a trace")
	}
}

func TestDecodeTraceFilter(t *testing.T) {
	f, err := DecodeTraceFilter([]byte(`{"Machines":["a*"],"Events":["E"],"Kinds":["event","state"],"Payload":false,"MaxPayloadBytes":9}`))
	if err != nil || len(f.Machines) != 1 || f.Events[0] != "E" || len(f.Kinds) != 2 || !f.NoPayload || f.MaxPayloadBytes != 9 {
		t.Fatalf("%+v %v", f, err)
	}
	b, _ := json.Marshal(f)
	if g, err := DecodeTraceFilter(b); err != nil || !g.NoPayload || g.MaxPayloadBytes != 9 || g.Kinds[1] != "state" {
		t.Fatalf("round trip %s: %+v %v", b, g, err)
	}
	for _, in := range []string{"", "null"} {
		if f, err := DecodeTraceFilter([]byte(in)); err != nil || f.NoPayload || len(f.Kinds) != 0 {
			t.Fatalf("%q: %+v %v", in, f, err)
		}
	}
	for _, in := range []string{`[]`, `"x"`, `{"Kinds":["nope"]}`, `{"MaxPayloadBytes":-1}`, `{"Machines":"a"}`, `{`} {
		_, err := DecodeTraceFilter([]byte(in))
		var pe *Error
		if err == nil || !errorsAs(err, &pe) || pe.Code != CodeInvalidPayload {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func errorsAs(err error, pe **Error) bool {
	e, ok := err.(*Error)
	*pe = e
	return ok
}

func TestCutPayload(t *testing.T) {
	f := TraceFilter{MaxPayloadBytes: 3}
	p, cut := f.CutPayload([]byte(`"hé"`))
	if !cut || string(p) != `"\"h"` {
		t.Fatalf("%s %v", p, cut)
	}
	if p, cut := f.CutPayload([]byte(`12`)); cut || string(p) != "12" {
		t.Fatalf("%s %v", p, cut)
	}
	f.NoPayload = true
	if p, _ := f.CutPayload([]byte(`12`)); p != nil {
		t.Fatalf("%s", p)
	}
}

func TestAppendTraceRoundTrip(t *testing.T) {
	in := Trace{Seq: 3, Time: Time(time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)), Type: "event", Outcome: "delivered",
		Source: "a\"b", Target: "t\n", Event: "E", Conn: 1, Pid: 2, Uid: 3, TargetConn: 4, TargetPid: 5, RequestID: 6,
		Recipients: 7, Size: 8, Error: "x", Payload: json.RawMessage(`{"k":[1,2]}`), PayloadBytes: 11, Truncated: true, Count: 9}
	line := AppendTrace(nil, &in)
	if !strings.HasSuffix(string(line), `},"Error":null,"Kind":"Trace"}`+"\n") || !strings.HasPrefix(string(line), `{"Success":true,"Data":{"Seq":3,`) {
		t.Fatalf("%s", line)
	}
	var w struct {
		Data Trace
		Kind string
	}
	if err := json.Unmarshal(line, &w); err != nil {
		t.Fatal(err)
	}
	out := w.Data
	if time.Time(out.Time) != time.Time(in.Time) {
		t.Fatalf("time %v", time.Time(out.Time))
	}
	out.Time, in.Time = Time{}, Time{}
	if string(out.Payload) != string(in.Payload) || out.Source != in.Source || out.Target != in.Target || out.Count != 9 || !out.Truncated || out.RequestID != 6 {
		t.Fatalf("round trip %+v", out)
	}
}

func TestDecodeStateReport(t *testing.T) {
	r, err := DecodeStateReport([]byte(`{"MachineId":"m","Value":{"a":"b"},"Status":"active","Context":null,"Definition":{"id":"m"}}`))
	if err != nil || r.MachineID != "m" || string(r.Value) != `{"a":"b"}` || r.Context != nil || string(r.Definition) != `{"id":"m"}` || r.Status != "active" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, in := range []string{`null`, ``, `[]`, `{"Value":1}`, `{"MachineId":""}`, `{"MachineId":"m","Status":1}`,
		`{"MachineId":"m","Value":"` + strings.Repeat("v", MaxStateBytes) + `"}`} {
		if _, err := DecodeStateReport([]byte(in)); err == nil {
			t.Errorf("%.40s: accepted", in)
		}
	}
}

// FuzzTraceFilter: any payload either decodes to a filter that marshals
// and decodes back the same, or is refused with invalid_payload.
func FuzzTraceFilter(f *testing.F) {
	for _, s := range []string{`{"Machines":["a*"],"Events":["E"],"Kinds":["event"],"Payload":false,"MaxPayloadBytes":9}`, `null`, `{}`, `{"Kinds":[]}`, `[1]`, `{"MaxPayloadBytes":1e3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := DecodeTraceFilter(b)
		if err != nil {
			if e, ok := err.(*Error); !ok || (e.Code != CodeInvalidPayload) {
				t.Fatalf("%q: %v", b, err)
			}
			return
		}
		out, err := json.Marshal(flt)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeTraceFilter(out)
		if err != nil || again.NoPayload != flt.NoPayload || again.MaxPayloadBytes != flt.MaxPayloadBytes || len(again.Kinds) != len(flt.Kinds) {
			t.Fatalf("%q -> %s -> %+v %v", b, out, again, err)
		}
		flt.Match("event", "a", "b", "E")
		if p, cut := flt.CutPayload(b); cut && !json.Valid(p) {
			t.Fatalf("cut payload %q is not JSON", p)
		}
	})
}

// FuzzStateReport: any payload decodes or is refused with a protocol error.
func FuzzStateReport(f *testing.F) {
	for _, s := range []string{`{"MachineId":"m","Value":"a","Status":"active","Context":{},"Definition":{"id":"m"}}`, `null`, `{"MachineId":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeStateReport(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%q: %v", b, err)
			}
			return
		}
		if r.MachineID == "" || len(r.Value)+len(r.Context) > MaxStateBytes {
			t.Fatalf("%q accepted as %+v", b, r)
		}
		for _, raw := range []json.RawMessage{r.Value, r.Context, r.Definition} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("%q kept invalid JSON %q", b, raw)
			}
		}
	})
}

// FuzzAppendTrace: traces with any strings encode to valid JSON lines.
func FuzzAppendTrace(f *testing.F) {
	f.Add("a", "b", "E", "err", []byte(`{"k":1}`))
	f.Add("\x00\xff", "\u2028", "", "\"", []byte(nil))
	f.Fuzz(func(t *testing.T, src, tgt, ev, errText string, payload []byte) {
		// Payloads come from request lines: valid JSON on one line.
		if len(payload) > 0 && !json.Valid(payload) {
			payload = AppendQuoted(nil, string(payload))
		}
		if strings.ContainsAny(string(payload), "\r\n") {
			var b bytes.Buffer
			json.Compact(&b, payload)
			payload = b.Bytes()
		}
		tr := Trace{Type: "event", Outcome: "ok", Source: src, Target: tgt, Event: ev, Error: errText, Payload: payload, Pid: -1}
		line := AppendTrace(nil, &tr)
		if !json.Valid(line) || line[len(line)-1] != '\n' || strings.Count(string(line), "\n") != 1 {
			t.Fatalf("invalid line %q", line)
		}
		var w struct{ Data Trace }
		if err := json.Unmarshal(line, &w); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(src) && w.Data.Source != src {
			t.Fatalf("source %q came back %q", src, w.Data.Source)
		}
	})
}
