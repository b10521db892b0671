package protocol

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// benchPayload is a 100-byte JSON event payload.
var benchPayload = `{"Message":"Ping 12345","Seq":12345,"Values":[1,2.5,-3e2],"Ok":true,"Note":"caf\u00e9 <ok>","N":[0]}`

// benchLine is a SendEvent line of about 240 bytes carrying benchPayload.
var benchLine = []byte(`{"Type":2,"Id":42,"Payload":{"SourceMachineId":"ping","TargetMachineId":"pong","EventName":"PING","Payload":` +
	benchPayload + `,"Timestamp":"2025-10-04T02:24:28.5551234Z"}}`)

func TestBenchData(t *testing.T) {
	if len(benchPayload) != 100 || !Valid([]byte(benchPayload)) {
		t.Fatalf("benchPayload: %d bytes, valid %v", len(benchPayload), Valid([]byte(benchPayload)))
	}
	if n := len(benchLine); n < 230 || n > 260 {
		t.Fatalf("benchLine is %d bytes", n)
	}
}

func decodeSendEvent(tb testing.TB, req *Request, ev *Event, line []byte) {
	if err := req.Decode(line); err != nil {
		tb.Fatal(err)
	}
	if err := req.Event(ev, true); err != nil {
		tb.Fatal(err)
	}
}

// TestZeroAllocs checks that the steady-state path of a SendEvent (read,
// decode, push, acknowledge) and of Register/Subscribe allocates nothing.
func TestZeroAllocs(t *testing.T) {
	var (
		req Request
		ev  Event
		reg Registration
		out = make([]byte, 0, 4096)
		now = time.Date(2025, 10, 4, 2, 24, 27, 123456700, time.UTC)
	)
	regLine := []byte(litRegister1)
	stream := bytes.Repeat(append(bytes.Clone(benchLine), '\r', '\n'), 64)
	src := bytes.NewReader(stream)
	r := NewReader(src, 0)
	r.ReadLine() // allocate the buffer

	tests := []struct {
		name string
		fn   func()
	}{
		{"Decode+Event.Decode+AppendEvent+AppendDelivered", func() {
			decodeSendEvent(t, &req, &ev, benchLine)
			out = AppendEvent(out[:0], KindEvent, &ev, ev.Target, now, 0)
			out = AppendDelivered(out, req.ID, ev.Target)
		}},
		{"Register+AppendRegistered+AppendSubscribed", func() {
			if err := req.Decode(regLine); err != nil {
				t.Fatal(err)
			}
			if err := reg.Decode(req.Payload); err != nil {
				t.Fatal(err)
			}
			out = AppendRegistered(out[:0], req.ID, reg.MachineID, reg.RegisteredAt, now)
			out = AppendSubscribed(out, req.ID, reg.MachineID, now)
		}},
		{"String.Value+AppendErrorArg", func() {
			var buf [64]byte
			v := String(`"pong\u002dclient"`).Value(buf[:0])
			out = AppendErrorArg(out[:0], req.ID, CodeNotConnected, TextNotConnected, v)
			out = AppendError(out, nil, CodeInvalidJSON, TextInvalidJSON)
		}},
		{"AppendAnswer+AppendEvent(Request)", func() {
			a := Answer{RequestID: 7, Payload: []byte(benchPayload)}
			out = AppendAnswer(out[:0], req.ID, 7, ev.Source, &a)
			out = AppendEvent(out, KindRequest, &ev, ev.Target, now, 7)
		}},
		{"ReadLine", func() {
			line, err := r.ReadLine()
			if err == io.EOF {
				src.Reset(stream)
				*r = Reader{r: src, max: r.max, buf: r.buf}
				line, err = r.ReadLine()
			}
			if err != nil || len(line) != len(benchLine) {
				t.Fatalf("ReadLine: %d bytes, %v", len(line), err)
			}
		}},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
}

func BenchmarkDecodeSendEvent(b *testing.B) { benchDecode(b, benchLine) }

// benchDecode measures a full decode of line (no Decoder: every time scanned).
func benchDecode(b *testing.B, line []byte) {
	var req Request
	var ev Event
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		decodeSendEvent(b, &req, &ev, line)
	}
}

// plainLine is a 240-byte SendEvent line as statebus-bench sends it: the
// C# client's field order, a payload of two plain strings.
var plainLine = []byte(`{"Type":2,"Payload":{"SourceMachineId":"s000","TargetMachineId":"r000","EventName":"TICK______","Payload":` +
	`{"id":"000-000000012345","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}` +
	`,"Timestamp":"2025-10-04T02:24:28Z"}}`)

func BenchmarkDecodeSendEventPlain(b *testing.B) { benchDecode(b, plainLine) }

func BenchmarkAppendEvent(b *testing.B) {
	var req Request
	var ev Event
	decodeSendEvent(b, &req, &ev, benchLine)
	now := time.Now()
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		out = AppendEvent(out[:0], KindEvent, &ev, ev.Target, now, 0)
	}
	b.SetBytes(int64(len(out)))
}

func BenchmarkReadLine(b *testing.B) {
	const lines = 1000
	data := []byte(strings.Repeat(string(benchLine)+"\r\n", lines))
	src := bytes.NewReader(data)
	r := NewReader(src, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		src.Reset(data)
		*r = Reader{r: src, max: r.max, buf: r.buf} // reuse the buffer
		n := 0
		for {
			line, err := r.ReadLine()
			if err == io.EOF {
				break
			}
			if err != nil || len(line) != len(benchLine) {
				b.Fatalf("line %d: %d bytes, %v", n, len(line), err)
			}
			n++
		}
		if n != lines {
			b.Fatalf("%d lines", n)
		}
	}
}

// BenchmarkAppendEventRequest is the line the Go client writes per event,
// stamped by AppendTime or by a Clock, at the time of each call.
func BenchmarkAppendEventRequest(b *testing.B) {
	payload := []byte(`{"seq":123456,"kind":"tick","values":[1,2,3,4,5,6,7,8]}`)
	for _, name := range []string{"AppendTime", "Clock"} {
		b.Run(name, func(b *testing.B) {
			var clk *Clock
			if name == "Clock" {
				clk = new(Clock)
			}
			out := make([]byte, 0, 1024)
			var id uint64
			b.ReportAllocs()
			for b.Loop() {
				id++
				out = AppendEventRequest(out[:0], TypeSendEvent, id, "src", "sink", "TICK", payload, clk, time.Now(), 0)
			}
			b.SetBytes(int64(len(out)))
		})
	}
}

func BenchmarkValid(b *testing.B) {
	payload := []byte(`{"seq":123456,"kind":"tick","values":[1,2,3,4,5,6,7,8]}`)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if !Valid(payload) {
			b.Fatal("not valid")
		}
	}
}
