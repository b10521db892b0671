package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// Literal lines as the C# InterProcessClient writes them (reference §1),
// without the BOM and the line terminator, which the Reader removes.
const (
	litRegister1   = `{"Type":0,"Payload":{"MachineId":"ping-client","ProcessName":"XStateNet.InterProcess.TestClient","ProcessId":12345,"RegisteredAt":"2025-10-04T02:24:27.1234567Z"}}`
	litRegister2   = `{"Type":0,"Payload":{"MachineId":"perf-receiver","ProcessName":"testhost","ProcessId":20880,"RegisteredAt":"2025-10-04T02:30:01.5Z"}}`
	litRegister3   = `{"Type":0,"Payload":{"MachineId":"pipe-test-client","ProcessName":"SelfTest","ProcessId":4242,"RegisteredAt":"2025-10-04T02:24:27.0000001Z"}}`
	litSubscribe1  = `{"Type":3,"Payload":"ping-client"}`
	litSubscribe2  = `{"Type":3,"Payload":"client-3"}`
	litSubscribe3  = `{"Type":3,"Payload":"pipe-test-client"}`
	litSendEvent1  = `{"Type":2,"Payload":{"SourceMachineId":"ping-client","TargetMachineId":"pong-client","EventName":"PING","Payload":{"Message":"Ping 1"},"Timestamp":"2025-10-04T02:24:28.5551234Z"}}`
	litSendEvent2  = `{"Type":2,"Payload":{"SourceMachineId":"sender","TargetMachineId":"receiver","EventName":"MULTI_EVENT","Payload":null,"Timestamp":"2025-10-04T02:24:29.01Z"}}`
	litSendEvent3  = `{"Type":2,"Payload":{"SourceMachineId":"client-1","TargetMachineId":"client-2","EventName":"BROADCAST","Payload":{"From":"client-1","Message":"Hello from client-1!"},"Timestamp":"2025-10-04T02:24:30.7654321Z"}}`
	litUnregister1 = `{"Type":1,"Payload":"ping-client"}`
)

// payloadOf returns the Payload value of a literal line.
func payloadOf(line string) string {
	i := strings.Index(line, `"Payload":`) + len(`"Payload":`)
	return line[i : len(line)-1]
}

// checkErr checks err against the expected code (CodeNone for success) and,
// when text is not empty, the exact reply text.
func checkErr(t *testing.T, what string, err error, code Code, text string) {
	t.Helper()
	if code == CodeNone {
		if err != nil {
			t.Errorf("%s: unexpected error %v", what, err)
		}
		return
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Errorf("%s: error %v (%T), want *Error with code %v", what, err, err, code)
		return
	}
	if pe.Code != code || text != "" && pe.Text != text {
		t.Errorf("%s: error {%v %q}, want {%v %q}", what, pe.Code, pe.Text, code, text)
	}
	if !errors.Is(err, &Error{Code: code}) {
		t.Errorf("%s: errors.Is(err, &Error{Code: %v}) = false", what, code)
	}
	if got := errors.Is(err, ErrInvalidJSON); got != (code == CodeInvalidJSON) {
		t.Errorf("%s: errors.Is(err, ErrInvalidJSON) = %v", what, got)
	}
	if got := errors.Is(err, ErrPayloadNull); got != (code == CodePayloadNull) {
		t.Errorf("%s: errors.Is(err, ErrPayloadNull) = %v", what, got)
	}
	if errors.Is(err, ErrLineTooLong) {
		t.Errorf("%s: errors.Is(err, ErrLineTooLong) = true", what)
	}
}

// tok renders an optional raw token for comparison: "" for nil.
func tok(b []byte) string { return string(b) }

const idText = "Id must be a string or a number"

var requestTests = []struct {
	line    string
	typ     Type
	id      string // raw Id; "" for nil
	payload string // raw Payload; "" for nil
	code    Code
	text    string
}{
	// The C# client's lines.
	{line: litRegister1, typ: TypeRegister, payload: payloadOf(litRegister1)},
	{line: litRegister2, typ: TypeRegister, payload: payloadOf(litRegister2)},
	{line: litRegister3, typ: TypeRegister, payload: payloadOf(litRegister3)},
	{line: litSubscribe1, typ: TypeSubscribe, payload: `"ping-client"`},
	{line: litSubscribe2, typ: TypeSubscribe, payload: `"client-3"`},
	{line: litSubscribe3, typ: TypeSubscribe, payload: `"pipe-test-client"`},
	{line: litSendEvent1, typ: TypeSendEvent, payload: payloadOf(litSendEvent1)},
	{line: litSendEvent2, typ: TypeSendEvent, payload: payloadOf(litSendEvent2)},
	{line: litSendEvent3, typ: TypeSendEvent, payload: payloadOf(litSendEvent3)},
	{line: litUnregister1, typ: TypeUnregister, payload: `"ping-client"`},

	// Numeric types.
	{line: `{"Type":0}`, typ: TypeRegister},
	{line: `{"Type":1}`, typ: TypeUnregister},
	{line: `{"Type":2}`, typ: TypeSendEvent},
	{line: `{"Type":3}`, typ: TypeSubscribe},
	{line: `{"Type":-0}`, typ: TypeRegister},
	{line: `{"Type":4}`, code: CodeUnknownType, text: "Unknown message type: 4"},
	{line: `{"Type":16}`, code: CodeUnknownType, text: "Unknown message type: 16"}, // extensions are names only
	{line: `{"Type":-1}`, code: CodeUnknownType, text: "Unknown message type: -1"},
	{line: `{"Type":2147483647}`, code: CodeUnknownType, text: "Unknown message type: 2147483647"},
	{line: `{"Type":-2147483648}`, code: CodeUnknownType, text: "Unknown message type: -2147483648"},
	{line: `{"Type":2147483648}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":-2147483649}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":1.5}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":1.0}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":1e0}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":99999999999}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":123456789012345678901234567890}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":null}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":true}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":false}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":{}}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":[0]}`, code: CodeInvalidJSON, text: TextInvalidJSON},

	// Names, any case (a superset of the original).
	{line: `{"Type":"Register","Payload":"a"}`, typ: TypeRegister, payload: `"a"`},
	{line: `{"Type":"register"}`, typ: TypeRegister},
	{line: `{"Type":"UNREGISTER"}`, typ: TypeUnregister},
	{line: `{"Type":"SENDEVENT"}`, typ: TypeSendEvent},
	{line: `{"Type":"sendEvent"}`, typ: TypeSendEvent},
	{line: `{"Type":"subscribe"}`, typ: TypeSubscribe},
	{line: `{"Type":"S\u0045NDEVENT"}`, typ: TypeSendEvent},
	{line: `{"Type":"Health"}`, typ: TypeHealth},
	{line: `{"Type":"metrics"}`, typ: TypeMetrics},
	{line: `{"Type":"ListMachines"}`, typ: TypeListMachines},
	{line: `{"Type":"PING"}`, typ: TypePing},
	{line: `{"Type":"publish"}`, typ: TypePublish},
	{line: `{"Type":"Request"}`, typ: TypeRequest},
	{line: `{"Type":"reply"}`, typ: TypeReply},
	{line: `{"Type":"Nope"}`, code: CodeUnknownType, text: "Unknown message type: Nope"},
	{line: `{"Type":""}`, code: CodeUnknownType, text: "Unknown message type: "},
	{line: `{"Type":"2"}`, code: CodeUnknownType, text: "Unknown message type: 2"},
	{line: `{"Type":" Ping"}`, code: CodeUnknownType, text: "Unknown message type:  Ping"},
	{line: `{"Type":"Pin\u0067s"}`, code: CodeUnknownType, text: "Unknown message type: Pings"},

	// Keys match ignoring ASCII case; the last duplicate wins.
	{line: `{"type":2,"payload":"x"}`, typ: TypeSendEvent, payload: `"x"`},
	{line: `{"TYPE":3,"PAYLOAD":1}`, typ: TypeSubscribe, payload: `1`},
	{line: `{"Typ\u0065":3,"P\u0061yload":"x"}`, typ: TypeSubscribe, payload: `"x"`},
	{line: `{"Type":9,"Type":2}`, typ: TypeSendEvent},
	{line: `{"Type":2,"Type":9}`, code: CodeUnknownType, text: "Unknown message type: 9"},
	{line: `{"Payload":"a","Payload":"b","Type":3}`, typ: TypeSubscribe, payload: `"b"`},
	{line: `{"Payload":"a","Payload":null,"Type":3}`, typ: TypeSubscribe},
	{line: `{"Types":3,"Typ":2,"Other":{"Type":1}}`, typ: TypeRegister},

	// A missing Type means Register, as in the original.
	{line: `{}`, typ: TypeRegister},
	{line: `{"Payload":"x"}`, typ: TypeRegister, payload: `"x"`},

	// Payload is kept raw; null and absent are nil.
	{line: `{"Type":2,"Payload":  {"a" : 1 ,"n":123456789012345678901234567890}  }`, typ: TypeSendEvent, payload: `{"a" : 1 ,"n":123456789012345678901234567890}`},
	{line: `{"Type":0,"Payload":null}`, typ: TypeRegister},
	{line: `{"Type":0}`, typ: TypeRegister},
	{line: `{"Type":1,"Payload":"null"}`, typ: TypeUnregister, payload: `"null"`},
	{line: `{"Type":1,"Payload":[null]}`, typ: TypeUnregister, payload: `[null]`},

	// Id is echoed raw: a string or a number; null is no Id.
	{line: `{"Type":3,"Payload":"a","Id":"r1"}`, typ: TypeSubscribe, id: `"r1"`, payload: `"a"`},
	{line: `{"Id":42,"Type":3}`, typ: TypeSubscribe, id: `42`},
	{line: `{"id":-1.5e3}`, typ: TypeRegister, id: `-1.5e3`},
	{line: `{"ID":"\u00e9\n"}`, typ: TypeRegister, id: `"\u00e9\n"`},
	{line: `{"Id":null}`, typ: TypeRegister},
	{line: `{"Id":1,"Id":null}`, typ: TypeRegister},
	{line: `{"Id":{},"Type":3}`, code: CodeInvalidJSON, text: idText},
	{line: `{"Id":{"a":1}}`, code: CodeInvalidJSON, text: idText},
	{line: `{"Id":[1]}`, code: CodeInvalidJSON, text: idText},
	{line: `{"Id":true}`, code: CodeInvalidJSON, text: idText},
	{line: `{"Id":false}`, code: CodeInvalidJSON, text: idText},
	// The Id survives a type error so the error reply can carry it...
	{line: `{"Type":4,"Id":7}`, id: `7`, code: CodeUnknownType, text: "Unknown message type: 4"},
	{line: `{"Id":"x","Type":"Nope"}`, id: `"x"`, code: CodeUnknownType, text: "Unknown message type: Nope"},
	{line: `{"Id":"x","Type":1.5}`, id: `"x"`, code: CodeInvalidJSON, text: TextInvalidJSON},
	// ...but not a syntax error.
	{line: `{"Id":7,"Type":}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Id":7} x`, code: CodeInvalidJSON, text: TextInvalidJSON},

	// Not a JSON object.
	{line: ``, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: ` `, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: "\t\r", code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `null`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `true`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `0`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `"Register"`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `[]`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `[{"Type":0}]`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":0`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":0,}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{Type:0}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{'Type':0}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":0}}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":0}{"Type":1}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":0} // comment`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":01}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":2,"Payload":{"a":[1,2}}`, code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: "\xEF\xBB\xBF" + litSubscribe1, code: CodeInvalidJSON, text: TextInvalidJSON}, // the Reader strips the BOM
	{line: litSubscribe1 + "\n", typ: TypeSubscribe, payload: `"ping-client"`},           // whitespace around is fine
	{line: " \t" + litSubscribe1 + "\r\n ", typ: TypeSubscribe, payload: `"ping-client"`},
	// MaxDepth bounds each member value; the envelope object is one level more.
	{line: `{"Type":2,"Payload":` + nest(MaxDepth, false, "1") + `}`, typ: TypeSendEvent, payload: nest(MaxDepth, false, "1")},
	{line: `{"Type":2,"Payload":` + nest(MaxDepth+1, false, "1") + `}`, code: CodeInvalidJSON, text: TextInvalidJSON},

	// Invalid UTF-8 and NUL bytes.
	{line: "{\"Type\":3,\"Payload\":\"\xff\"}", code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: "{\"Type\":3,\"Payload\":\"\xc0\xaf\"}", code: CodeInvalidJSON, text: TextInvalidJSON},     // overlong '/'
	{line: "{\"Type\":3,\"Payload\":\"\xed\xa0\x80\"}", code: CodeInvalidJSON, text: TextInvalidJSON}, // UTF-8 surrogate
	{line: "{\"Type\":3,\"Payload\":\"\xe2\x82\"}", code: CodeInvalidJSON, text: TextInvalidJSON},     // truncated
	{line: "{\"Type\":3,\"X\xff\":1}", code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: "{\"Type\":3,\"Payload\":\"a\x00b\"}", code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: "{\"Type\":3,\"Payload\":\"ab\"}\x00", code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: "\x00", code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: "{\"Type\":3,\"Payload\":\"a\nb\"}", code: CodeInvalidJSON, text: TextInvalidJSON},
	{line: `{"Type":3,"Payload":"a\u0000b"}`, typ: TypeSubscribe, payload: `"a\u0000b"`}, // escaped NUL is valid JSON
	{line: `{"Type":3,"Payload":"é€😀"}`, typ: TypeSubscribe, payload: `"é€😀"`},
}

func TestRequestDecode(t *testing.T) {
	var r Request
	for _, tt := range requestTests {
		// Dirty state from the previous line must not leak into this one.
		r = Request{Type: TypeReply, ID: []byte("stale"), Payload: []byte("stale")}
		err := r.Decode([]byte(tt.line))
		what := "Decode(" + tt.line + ")"
		checkErr(t, what, err, tt.code, tt.text)
		if tt.code == CodeNone && r.Type != tt.typ {
			t.Errorf("%s: Type = %v, want %v", what, r.Type, tt.typ)
		}
		if tok(r.ID) != tt.id || (tt.id == "") != (r.ID == nil) {
			t.Errorf("%s: ID = %q, want %q", what, r.ID, tt.id)
		}
		if tt.code == CodeNone && (tok(r.Payload) != tt.payload || (tt.payload == "") != (r.Payload == nil)) {
			t.Errorf("%s: Payload = %q, want %q", what, r.Payload, tt.payload)
		}
	}
}

// TestLiteralStream reads the C# client's lines as they arrive on a pipe
// (BOM first, CRLF, split reads) and decodes them.
func TestLiteralStream(t *testing.T) {
	lines := []string{litRegister1, litSubscribe1, litSendEvent1, litSendEvent2, litSendEvent3, litUnregister1}
	stream := "\xEF\xBB\xBF" + strings.Join(lines, "\r\n") + "\r\n"
	r := NewReader(iotest.HalfReader(iotest.OneByteReader(strings.NewReader(stream))), 0)
	want := []Type{TypeRegister, TypeSubscribe, TypeSendEvent, TypeSendEvent, TypeSendEvent, TypeUnregister}
	var req Request
	for i, typ := range want {
		line, err := r.ReadLine()
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if err := req.Decode(line); err != nil || req.Type != typ {
			t.Fatalf("line %d %q: Type %v, err %v; want %v", i, line, req.Type, err, typ)
		}
	}
	if _, err := r.ReadLine(); err != io.EOF {
		t.Fatalf("after the last line: %v, want io.EOF", err)
	}
}

var eventTests = []struct {
	payload    string // "<nil>" for a nil slice
	needTarget bool
	src, tgt   string
	name       string
	pl         string // raw event payload; "" for nil
	ts         string
	timeout    int64
	code       Code
	text       string
}{
	{payload: payloadOf(litSendEvent1), needTarget: true, src: `"ping-client"`, tgt: `"pong-client"`, name: `"PING"`,
		pl: `{"Message":"Ping 1"}`, ts: `"2025-10-04T02:24:28.5551234Z"`},
	{payload: payloadOf(litSendEvent2), needTarget: true, src: `"sender"`, tgt: `"receiver"`, name: `"MULTI_EVENT"`,
		pl: `null`, ts: `"2025-10-04T02:24:29.01Z"`},
	{payload: payloadOf(litSendEvent3), needTarget: true, src: `"client-1"`, tgt: `"client-2"`, name: `"BROADCAST"`,
		pl: `{"From":"client-1","Message":"Hello from client-1!"}`, ts: `"2025-10-04T02:24:30.7654321Z"`},
	// Optional fields absent or null.
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E"}`, needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E"`},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Timestamp":null}`, needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E"`},
	// Payload verbatim: big integers, escapes, key order, whitespace.
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":{"z":123456789012345678901234567890, "a":"\u00e9"}}`,
		needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E"`, pl: `{"z":123456789012345678901234567890, "a":"\u00e9"}`},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":"text"}`, needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E"`, pl: `"text"`},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":-1.5e300}`, needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E"`, pl: `-1.5e300`},
	// Keys in any case, escaped values kept as tokens, unknown keys ignored, last duplicate wins.
	{payload: `{"sourcemachineid":"a","TARGETMACHINEID":"b","eventName":"E\u0021","Extra":[1],"payload":1,"Payload":2}`,
		needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E\u0021"`, pl: `2`},
	// Publish needs no target.
	{payload: `{"SourceMachineId":"a","EventName":"E"}`, src: `"a"`, name: `"E"`},
	{payload: `{"SourceMachineId":"a","TargetMachineId":null,"EventName":"E"}`, src: `"a"`, name: `"E"`},
	// Request carries TimeoutMs.
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":5000}`, needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E"`, timeout: 5000},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":2147483647}`, needTarget: true, src: `"a"`, tgt: `"b"`, name: `"E"`, timeout: 2147483647},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":0}`, code: CodeInvalidPayload, text: "TimeoutMs must be a positive integer"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":-1}`, code: CodeInvalidPayload, text: "TimeoutMs must be a positive integer"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":1.5}`, code: CodeInvalidPayload, text: "TimeoutMs must be a positive integer"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":"5"}`, code: CodeInvalidPayload, text: "TimeoutMs must be a positive integer"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":2147483648}`, code: CodeInvalidPayload, text: "TimeoutMs must be a positive integer"},
	// Missing or null required fields.
	{payload: `<nil>`, needTarget: true, code: CodePayloadNull, text: TextPayloadNull},
	{payload: `{}`, needTarget: true, code: CodeInvalidPayload, text: "SourceMachineId is required"},
	{payload: `{"SourceMachineId":null,"TargetMachineId":"b","EventName":"E"}`, needTarget: true, code: CodeInvalidPayload, text: "SourceMachineId is required"},
	{payload: `{"sourceMachineID":"a","EventName":"E"}`, needTarget: true, code: CodeInvalidPayload, text: "TargetMachineId is required"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b"}`, needTarget: true, code: CodeInvalidPayload, text: "EventName is required"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":null}`, code: CodeInvalidPayload, text: "EventName is required"},
	// Wrong types.
	{payload: `{"SourceMachineId":5,"TargetMachineId":"b","EventName":"E"}`, needTarget: true, code: CodeInvalidPayload, text: "SourceMachineId must be a string"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":{},"EventName":"E"}`, needTarget: true, code: CodeInvalidPayload, text: "TargetMachineId must be a string"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":["E"]}`, needTarget: true, code: CodeInvalidPayload, text: "EventName must be a string"},
	{payload: `{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Timestamp":1696386267}`, needTarget: true, code: CodeInvalidPayload, text: "Timestamp must be a string"},
	{payload: `{"SourceMachineId":true}`, needTarget: true, code: CodeInvalidPayload, text: "SourceMachineId must be a string"},
	{payload: `"ping-client"`, needTarget: true, code: CodeInvalidPayload, text: "Payload must be an object"},
	{payload: `[1]`, needTarget: true, code: CodeInvalidPayload, text: "Payload must be an object"},
	{payload: `5`, needTarget: true, code: CodeInvalidPayload, text: "Payload must be an object"},
	{payload: ``, needTarget: true, code: CodeInvalidPayload, text: "Payload must be an object"},
	// Malformed input handed in directly (Request.Decode would have caught it).
	{payload: `{"SourceMachineId":"a",}`, needTarget: true, code: CodeInvalidJSON, text: TextInvalidJSON},
}

func payloadBytes(s string) []byte {
	if s == "<nil>" {
		return nil
	}
	return []byte(s)
}

func TestEventDecode(t *testing.T) {
	for _, tt := range eventTests {
		e := Event{Source: String("stale"), Payload: []byte("stale"), TimeoutMs: 9}
		err := e.Decode(payloadBytes(tt.payload), tt.needTarget)
		what := "Event.Decode(" + tt.payload + ")"
		checkErr(t, what, err, tt.code, tt.text)
		if tt.code != CodeNone {
			continue
		}
		got := []string{tok(e.Source), tok(e.Target), tok(e.Name), tok(e.Payload), tok(e.Timestamp)}
		want := []string{tt.src, tt.tgt, tt.name, tt.pl, tt.ts}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: field %d = %q, want %q", what, i, got[i], want[i])
			}
		}
		if (tt.pl == "") != (e.Payload == nil) || (tt.ts == "") != e.Timestamp.IsZero() || (tt.tgt == "") != e.Target.IsZero() {
			t.Errorf("%s: nil-ness of Payload/Timestamp/Target wrong: %+v", what, e)
		}
		if e.TimeoutMs != tt.timeout {
			t.Errorf("%s: TimeoutMs = %d, want %d", what, e.TimeoutMs, tt.timeout)
		}
	}
}

var registrationTests = []struct {
	payload string // "<nil>" for a nil slice
	id      string // raw MachineId token
	name    string
	pid     int64
	at      string
	code    Code
	text    string
}{
	{payload: payloadOf(litRegister1), id: `"ping-client"`, name: `"XStateNet.InterProcess.TestClient"`, pid: 12345, at: `"2025-10-04T02:24:27.1234567Z"`},
	{payload: payloadOf(litRegister2), id: `"perf-receiver"`, name: `"testhost"`, pid: 20880, at: `"2025-10-04T02:30:01.5Z"`},
	{payload: payloadOf(litRegister3), id: `"pipe-test-client"`, name: `"SelfTest"`, pid: 4242, at: `"2025-10-04T02:24:27.0000001Z"`},
	// Subscribe and Unregister: a bare id string.
	{payload: payloadOf(litSubscribe1), id: `"ping-client"`},
	{payload: `"client-3"`, id: `"client-3"`},
	{payload: `"caf\u00e9"`, id: `"caf\u00e9"`},
	// Optional fields.
	{payload: `{"MachineId":"m"}`, id: `"m"`},
	{payload: `{"machineid":"m","processname":null,"processid":null,"registeredat":null}`, id: `"m"`},
	{payload: `{"MachineId":"m","ProcessId":-5}`, id: `"m"`, pid: -5},
	{payload: `{"MachineId":"a","MachineId":"b"}`, id: `"b"`},
	{payload: `{"MachineId":"m","Other":{"MachineId":5}}`, id: `"m"`},
	// Machine id rules.
	{payload: `"` + strings.Repeat("x", MaxMachineIDBytes) + `"`, id: `"` + strings.Repeat("x", MaxMachineIDBytes) + `"`},
	{payload: `"` + strings.Repeat("x", MaxMachineIDBytes+1) + `"`, code: CodeInvalidPayload, text: "MachineId is longer than 256 bytes"},
	{payload: `"` + strings.Repeat(`\u0041`, MaxMachineIDBytes) + `"`, id: `"` + strings.Repeat(`\u0041`, MaxMachineIDBytes) + `"`},
	{payload: `"` + strings.Repeat(`\u0041`, MaxMachineIDBytes+1) + `"`, code: CodeInvalidPayload, text: "MachineId is longer than 256 bytes"},
	{payload: `"` + strings.Repeat("é", MaxMachineIDBytes/2) + `"`, id: `"` + strings.Repeat("é", MaxMachineIDBytes/2) + `"`},
	{payload: `"` + strings.Repeat("é", MaxMachineIDBytes/2) + `x"`, code: CodeInvalidPayload, text: "MachineId is longer than 256 bytes"},
	{payload: `""`, code: CodeInvalidPayload, text: "MachineId must not be empty"},
	{payload: `{"MachineId":""}`, code: CodeInvalidPayload, text: "MachineId must not be empty"},
	{payload: `"a\u0000b"`, code: CodeInvalidPayload, text: "MachineId must not contain control characters"},
	{payload: `"a\tb"`, code: CodeInvalidPayload, text: "MachineId must not contain control characters"},
	{payload: `"\u007f"`, code: CodeInvalidPayload, text: "MachineId must not contain control characters"},
	{payload: `{"MachineId":"\n"}`, code: CodeInvalidPayload, text: "MachineId must not contain control characters"},
	{payload: `{}`, code: CodeInvalidPayload, text: "MachineId is required"},
	{payload: `{"MachineId":null}`, code: CodeInvalidPayload, text: "MachineId is required"},
	{payload: `{"Machine":"m"}`, code: CodeInvalidPayload, text: "MachineId is required"},
	{payload: `<nil>`, code: CodePayloadNull, text: TextPayloadNull},
	// Wrong types.
	{payload: `{"MachineId":5}`, code: CodeInvalidPayload, text: "MachineId must be a string"},
	{payload: `{"MachineId":["m"]}`, code: CodeInvalidPayload, text: "MachineId must be a string"},
	{payload: `{"MachineId":"m","ProcessName":1}`, code: CodeInvalidPayload, text: "ProcessName must be a string"},
	{payload: `{"MachineId":"m","ProcessId":"1"}`, code: CodeInvalidPayload, text: "ProcessId must be a 32-bit integer"},
	{payload: `{"MachineId":"m","ProcessId":1.5}`, code: CodeInvalidPayload, text: "ProcessId must be a 32-bit integer"},
	{payload: `{"MachineId":"m","ProcessId":2147483648}`, code: CodeInvalidPayload, text: "ProcessId must be a 32-bit integer"},
	{payload: `{"MachineId":"m","RegisteredAt":0}`, code: CodeInvalidPayload, text: "RegisteredAt must be a string"},
	{payload: `5`, code: CodeInvalidPayload, text: "Payload must be a machine id string or a registration object"},
	{payload: `[]`, code: CodeInvalidPayload, text: "Payload must be a machine id string or a registration object"},
	{payload: `true`, code: CodeInvalidPayload, text: "Payload must be a machine id string or a registration object"},
	{payload: `null`, code: CodeInvalidPayload, text: "Payload must be a machine id string or a registration object"},
	{payload: ``, code: CodeInvalidPayload, text: "Payload must be a machine id string or a registration object"},
	// Malformed input handed in directly.
	{payload: `{"MachineId":"m",}`, code: CodeInvalidJSON, text: TextInvalidJSON},
}

func TestRegistrationDecode(t *testing.T) {
	for _, tt := range registrationTests {
		g := Registration{MachineID: String("stale"), ProcessID: 9}
		err := g.Decode(payloadBytes(tt.payload))
		what := "Registration.Decode(" + tt.payload + ")"
		checkErr(t, what, err, tt.code, tt.text)
		if tt.code != CodeNone {
			continue
		}
		if tok(g.MachineID) != tt.id || tok(g.ProcessName) != tt.name || g.ProcessID != tt.pid || tok(g.RegisteredAt) != tt.at {
			t.Errorf("%s = {%s %s %d %s}, want {%s %s %d %s}", what,
				g.MachineID, g.ProcessName, g.ProcessID, g.RegisteredAt, tt.id, tt.name, tt.pid, tt.at)
		}
	}
}

var answerTests = []struct {
	payload string // "<nil>" for a nil slice
	reqID   uint64
	pl      string
	errTok  string
	code    Code
	text    string
}{
	{payload: `{"RequestId":7,"Payload":{"ok":true}}`, reqID: 7, pl: `{"ok":true}`},
	{payload: `{"RequestId":7,"Payload":null}`, reqID: 7, pl: `null`},
	{payload: `{"RequestId":7}`, reqID: 7},
	{payload: `{"requestid":7,"error":"boom"}`, reqID: 7, errTok: `"boom"`},
	{payload: `{"RequestId":7,"Error":null}`, reqID: 7},
	{payload: `{"RequestId":7,"Error":"bad \"thing\"\n","Payload":[1]}`, reqID: 7, pl: `[1]`, errTok: `"bad \"thing\"\n"`},
	{payload: `{"RequestId":18446744073709551615}`, reqID: 1<<64 - 1},
	{payload: `{"RequestId":1,"RequestId":2}`, reqID: 2},
	{payload: `{"RequestId":18446744073709551616}`, code: CodeInvalidPayload, text: "RequestId must be a positive integer"},
	{payload: `{"RequestId":0}`, code: CodeInvalidPayload, text: "RequestId must be a positive integer"},
	{payload: `{"RequestId":-1}`, code: CodeInvalidPayload, text: "RequestId must be a positive integer"},
	{payload: `{"RequestId":1.5}`, code: CodeInvalidPayload, text: "RequestId must be a positive integer"},
	{payload: `{"RequestId":1e3}`, code: CodeInvalidPayload, text: "RequestId must be a positive integer"},
	{payload: `{"RequestId":"7"}`, code: CodeInvalidPayload, text: "RequestId must be a positive integer"},
	{payload: `{"RequestId":null}`, code: CodeInvalidPayload, text: "RequestId must be a positive integer"},
	{payload: `{"Payload":1}`, code: CodeInvalidPayload, text: "RequestId is required"},
	{payload: `{}`, code: CodeInvalidPayload, text: "RequestId is required"},
	{payload: `{"RequestId":7,"Error":5}`, code: CodeInvalidPayload, text: "Error must be a string"},
	{payload: `{"RequestId":7,"Error":{}}`, code: CodeInvalidPayload, text: "Error must be a string"},
	{payload: `<nil>`, code: CodePayloadNull, text: TextPayloadNull},
	{payload: `"x"`, code: CodeInvalidPayload, text: "Payload must be an object"},
	{payload: `[]`, code: CodeInvalidPayload, text: "Payload must be an object"},
	{payload: `{"RequestId":7,}`, code: CodeInvalidJSON, text: TextInvalidJSON},
}

func TestAnswerDecode(t *testing.T) {
	for _, tt := range answerTests {
		a := Answer{RequestID: 99, Payload: []byte("stale"), Error: String("stale")}
		err := a.Decode(payloadBytes(tt.payload))
		what := "Answer.Decode(" + tt.payload + ")"
		checkErr(t, what, err, tt.code, tt.text)
		if tt.code != CodeNone {
			continue
		}
		if a.RequestID != tt.reqID || tok(a.Payload) != tt.pl || tok(a.Error) != tt.errTok ||
			(tt.pl == "") != (a.Payload == nil) || (tt.errTok == "") != a.Error.IsZero() {
			t.Errorf("%s = {%d %q %q}, want {%d %q %q}", what, a.RequestID, a.Payload, a.Error, tt.reqID, tt.pl, tt.errTok)
		}
	}
}

// TestDecodeThroughRequest decodes payloads as they come out of a line, so
// the second stage sees exactly what Request.Decode hands it (null -> nil).
func TestDecodeThroughRequest(t *testing.T) {
	tests := []struct {
		line string
		code Code
		text string
	}{
		{`{"Type":2,"Payload":null}`, CodePayloadNull, TextPayloadNull},
		{`{"Type":2}`, CodePayloadNull, TextPayloadNull},
		{`{"Type":2,"Payload":"x"}`, CodeInvalidPayload, "Payload must be an object"},
		{`{"Type":0,"Payload":null}`, CodePayloadNull, TextPayloadNull},
		{`{"Type":0}`, CodePayloadNull, TextPayloadNull},
		{`{"Type":3,"Payload":""}`, CodeInvalidPayload, "MachineId must not be empty"},
		{`{"Type":3,"Payload":{"MachineId":"m"}}`, CodeNone, ""},
		{`{"Type":3,"Payload":  "m"  }`, CodeNone, ""},
		{`{"Type":"Reply","Payload":null}`, CodePayloadNull, TextPayloadNull},
	}
	for _, tt := range tests {
		var r Request
		if err := r.Decode([]byte(tt.line)); err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		var err error
		switch r.Type {
		case TypeSendEvent:
			var e Event
			err = e.Decode(r.Payload, true)
		case TypeReply:
			var a Answer
			err = a.Decode(r.Payload)
		default:
			var g Registration
			err = g.Decode(r.Payload)
		}
		checkErr(t, tt.line, err, tt.code, tt.text)
	}
}

// checkSubslice fails unless s is nil or a non-empty slice of line.
func checkSubslice(t *testing.T, line, s []byte, what string) {
	t.Helper()
	if s == nil {
		return
	}
	off := cap(line) - cap(s)
	if len(s) == 0 || off < 0 || off+len(s) > len(line) || &line[off] != &s[0] {
		t.Fatalf("%s = %q is not a non-empty subslice of the line %q", what, s, line)
	}
}

func checkToken(t *testing.T, line []byte, s String, what string) {
	t.Helper()
	checkSubslice(t, line, s, what)
	if s != nil && (s[0] != '"' || !json.Valid(s)) {
		t.Fatalf("%s = %q is not a JSON string", what, s)
	}
}

func checkDecodeError(t *testing.T, err error, what string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code == CodeNone || pe.Text == "" || pe.Code.Fatal() {
		t.Fatalf("%s: error %#v is not a non-fatal *Error with a code and text", what, err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, tt := range requestTests {
		f.Add([]byte(tt.line))
	}
	wrap := func(payload string) string { return `{"Type":2,"Payload":` + payload + `}` }
	for _, tt := range eventTests {
		f.Add([]byte(wrap(tt.payload)))
	}
	for _, tt := range registrationTests {
		f.Add([]byte(wrap(tt.payload)))
	}
	for _, tt := range answerTests {
		f.Add([]byte(wrap(tt.payload)))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		var r Request
		err := r.Decode(line)
		checkSubslice(t, line, r.ID, "Request.ID")
		checkSubslice(t, line, r.Payload, "Request.Payload")
		if r.ID != nil && !json.Valid(r.ID) {
			t.Fatalf("ID %q not valid JSON", r.ID)
		}
		if err != nil {
			checkDecodeError(t, err, "Request.Decode")
			return
		}
		if !json.Valid(line) || !utf8.Valid(line) {
			t.Fatalf("Decode accepted %q: json.Valid=%v utf8.Valid=%v", line, json.Valid(line), utf8.Valid(line))
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("Decode accepted %q, encoding/json: %v", line, err)
		}
		if r.Payload != nil && (!json.Valid(r.Payload) || isNull(r.Payload)) {
			t.Fatalf("Payload %q", r.Payload)
		}

		for _, needTarget := range []bool{true, false} {
			var e Event
			if err := e.Decode(r.Payload, needTarget); err != nil {
				checkDecodeError(t, err, "Event.Decode")
			} else if e.Source.IsZero() || e.Name.IsZero() || needTarget && e.Target.IsZero() {
				t.Fatalf("Event.Decode(%q) succeeded without required fields: %+v", r.Payload, e)
			}
			checkToken(t, line, e.Source, "Event.Source")
			checkToken(t, line, e.Target, "Event.Target")
			checkToken(t, line, e.Name, "Event.Name")
			checkToken(t, line, e.Timestamp, "Event.Timestamp")
			checkSubslice(t, line, e.Payload, "Event.Payload")
			if e.Payload != nil && !json.Valid(e.Payload) {
				t.Fatalf("Event.Payload %q not valid JSON", e.Payload)
			}
			// The one-pass reading of an object payload agrees with a
			// separate Event.Decode.
			var e2 Event
			err1 := e.Decode(r.Payload, needTarget)
			err2 := r.Event(&e2, needTarget)
			if fmt.Sprint(err1) != fmt.Sprint(err2) || err1 == nil && fmt.Sprintf("%s", []any{e.Source, e.Target, e.Name, e.Payload, e.Timestamp, e.TimeoutMs}) != fmt.Sprintf("%s", []any{e2.Source, e2.Target, e2.Name, e2.Payload, e2.Timestamp, e2.TimeoutMs}) {
				t.Fatalf("Request.Event differs from Event.Decode on %q:\n%v %+v\n%v %+v", r.Payload, err1, e, err2, e2)
			}
		}

		var g Registration
		if err := g.Decode(r.Payload); err != nil {
			checkDecodeError(t, err, "Registration.Decode")
		} else {
			v := g.MachineID.Value(nil)
			if len(v) == 0 || len(v) > MaxMachineIDBytes || bytes.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
				t.Fatalf("Registration.Decode(%q) accepted machine id %q", r.Payload, v)
			}
		}
		checkToken(t, line, g.MachineID, "Registration.MachineID")
		checkToken(t, line, g.ProcessName, "Registration.ProcessName")
		checkToken(t, line, g.RegisteredAt, "Registration.RegisteredAt")

		var a Answer
		if err := a.Decode(r.Payload); err != nil {
			checkDecodeError(t, err, "Answer.Decode")
		} else if a.RequestID == 0 {
			t.Fatalf("Answer.Decode(%q) accepted RequestId 0", r.Payload)
		}
		checkToken(t, line, a.Error, "Answer.Error")
		checkSubslice(t, line, a.Payload, "Answer.Payload")

		if !bytes.Equal(line, orig) {
			t.Fatalf("decoding modified the line: %q -> %q", orig, line)
		}
	})
}
