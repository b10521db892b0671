package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkLine checks the invariants of every server line: one JSON object
// terminated by '\n' whose first keys are Success, Data and Error in that
// order.
func checkLine(t *testing.T, line []byte) {
	t.Helper()
	body, ok := bytes.CutSuffix(line, []byte("\n"))
	if !ok || bytes.IndexByte(body, '\n') >= 0 {
		t.Fatalf("line %q is not exactly one '\\n'-terminated line", line)
	}
	if !json.Valid(body) || !utf8.Valid(body) {
		t.Fatalf("line %q is not valid JSON in UTF-8", line)
	}
	if !bytes.HasPrefix(body, []byte(`{"Success":`)) {
		t.Fatalf("line %q does not start with {\"Success\":", line)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tk, err := dec.Token(); err != nil || tk != json.Delim('{') {
		t.Fatalf("line %q: first token %v, %v", line, tk, err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
	}
	if len(keys) < 3 || keys[0] != "Success" || keys[1] != "Data" || keys[2] != "Error" {
		t.Fatalf("line %q: keys %q, want Success, Data, Error first", line, keys)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("line %q: duplicate key %q", line, k)
		}
		seen[k] = true
	}
}

// checkAppend checks that got equals prefix+want and is a valid line.
func checkAppend(t *testing.T, what string, got []byte, prefix, want string) {
	t.Helper()
	if string(got) != prefix+want {
		t.Errorf("%s:\n got %q\nwant %q", what, got, prefix+want)
		return
	}
	checkLine(t, got[len(prefix):])
}

var (
	now     = time.Date(2025, 10, 4, 2, 24, 27, 130987600, time.UTC)
	nowText = "2025-10-04T02:24:27.1309876Z"
)

// The reference's server lines end with "}"; ours continue with extension
// keys, so the reference line minus its closing brace is a prefix of ours.
func refPrefix(ref string) string { return strings.TrimSuffix(ref, "}") }

func TestAppendOK(t *testing.T) {
	checkAppend(t, "AppendOK(nil)", AppendOK(nil, nil, nil), "",
		`{"Success":true,"Data":null,"Error":null,"Kind":"Reply"}`+"\n")
	checkAppend(t, "AppendOK(data, id)", AppendOK([]byte("x\n"), []byte(`"r1"`), []byte(`{"a":1,"n":123456789012345678901234567890}`)), "x\n",
		`{"Success":true,"Data":{"a":1,"n":123456789012345678901234567890},"Error":null,"Kind":"Reply","Id":"r1"}`+"\n")
	checkAppend(t, "AppendOK(numeric id)", AppendOK(nil, []byte(`42`), []byte(`[]`)), "",
		`{"Success":true,"Data":[],"Error":null,"Kind":"Reply","Id":42}`+"\n")
	// Unregister's reply in the original.
	got := AppendOK(nil, nil, nil)
	if ref := refPrefix(`{"Success":true,"Data":null,"Error":null}`); !bytes.HasPrefix(got, []byte(ref)) {
		t.Errorf("%q does not extend %q", got, ref)
	}
}

func TestAppendError(t *testing.T) {
	checkAppend(t, "AppendError", AppendError(nil, nil, CodeInvalidJSON, TextInvalidJSON), "",
		`{"Success":false,"Data":null,"Error":"Invalid JSON format","Kind":"Reply","Code":"invalid_json"}`+"\n")
	checkAppend(t, "AppendError(id)", AppendError([]byte("{}"), []byte(`"q"`), CodePayloadNull, TextPayloadNull), "{}",
		`{"Success":false,"Data":null,"Error":"Payload is null","Kind":"Reply","Code":"payload_null","Id":"q"}`+"\n")
	checkAppend(t, "AppendError(fatal)", AppendError(nil, []byte(`7`), CodeLineTooLong, TextLineTooLong), "",
		`{"Success":false,"Data":null,"Error":"Message exceeds the maximum line length","Kind":"Reply","Code":"line_too_long","Id":7}`+"\n")
	checkAppend(t, "AppendError(escapes)", AppendError(nil, nil, CodeInvalidPayload, "say \"hi\"\\\n"), "",
		`{"Success":false,"Data":null,"Error":"say \"hi\"\\\n","Kind":"Reply","Code":"invalid_payload"}`+"\n")
	for _, ref := range []string{
		`{"Success":false,"Data":null,"Error":"Invalid JSON format"}`,
		`{"Success":false,"Data":null,"Error":"Payload is null"}`,
	} {
		var e Error
		if err := json.Unmarshal([]byte(ref), &struct{ Error *string }{&e.Text}); err != nil {
			t.Fatal(err)
		}
		code := CodeInvalidJSON
		if e.Text == TextPayloadNull {
			code = CodePayloadNull
		}
		if got := AppendError(nil, nil, code, e.Text); !bytes.HasPrefix(got, []byte(refPrefix(ref))) {
			t.Errorf("%q does not extend %q", got, ref)
		}
	}
}

func TestAppendErrorArg(t *testing.T) {
	const head = `{"Success":false,"Data":null,"Error":"`
	const tail = `","Kind":"Reply","Code":"target_not_connected"}` + "\n"
	tests := []struct {
		prefix string
		arg    string
		want   string // the escaped Error text
	}{
		{TextNotConnected, "pong-client", `Target machine not connected: pong-client`},
		{TextNotConnected, "", `Target machine not connected: `},
		{"", "", ``},
		{"", `a"b\c/d`, `a\"b\\c/d`},
		{"", "\n\r\t", `\n\r\t`},
		{"", "\x00\x01\x08\x0c\x1f", `\u0000\u0001\u0008\u000C\u001F`},
		{"", "\x7f", "\x7f"},
		{"", "<>&'+`", "<>&'+`"},
		{"", "é€😀\u2028", "é€😀\u2028"},
		{"", "\xff", `\uFFFD`},
		{"", "a\xffb", `a\uFFFDb`},
		{"", "\xc0\xaf", `\uFFFD\uFFFD`},                     // overlong
		{"", "\xed\xa0\x80", `\uFFFD\uFFFD\uFFFD`},           // UTF-8 surrogate
		{"", "x\xe2\x82", `x\uFFFD\uFFFD`},                   // truncated at the end
		{"", "\xe2\x82x", `\uFFFD\uFFFDx`},                   // truncated in the middle
		{"", "\xf4\x90\x80\x80", `\uFFFD\uFFFD\uFFFD\uFFFD`}, // above U+10FFFF
		{"bad \"", "id\n", `bad \"id\n`},
	}
	for _, tt := range tests {
		got := AppendErrorArg(nil, nil, CodeNotConnected, tt.prefix, []byte(tt.arg))
		checkAppend(t, "AppendErrorArg("+tt.prefix+tt.arg+")", got, "", head+tt.want+tail)
		var v struct{ Error string }
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatal(err)
		}
		// Valid text survives exactly; invalid bytes become U+FFFD each.
		if in := tt.prefix + tt.arg; utf8.ValidString(in) && v.Error != in || !utf8.ValidString(v.Error) {
			t.Errorf("Error decodes to %q from %q", v.Error, in)
		}
	}
	checkAppend(t, "AppendErrorArg(id)", AppendErrorArg(nil, []byte(`"q"`), CodeIDTaken, TextIDTaken, []byte("m")), "",
		`{"Success":false,"Data":null,"Error":"Machine id is owned by another connection: m","Kind":"Reply","Code":"id_taken","Id":"q"}`+"\n")
	ref := `{"Success":false,"Data":null,"Error":"Target machine not connected: pong-client"}`
	if got := AppendErrorArg(nil, nil, CodeNotConnected, TextNotConnected, []byte("pong-client")); !bytes.HasPrefix(got, []byte(refPrefix(ref))) {
		t.Errorf("%q does not extend %q", got, ref)
	}
}

func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "abc", `"\`, "\x00\n", "é\xff"} {
		got := AppendQuoted(nil, s)
		if string(AppendQuoted(nil, []byte(s))) != string(got) {
			t.Errorf("AppendQuoted string and []byte differ for %q", s)
		}
		var v string
		if err := json.Unmarshal(got, &v); err != nil || v != strings.ToValidUTF8(s, "\uFFFD") {
			t.Errorf("AppendQuoted(%q) = %s, decodes to %q, %v", s, got, v, err)
		}
	}
}

func TestAppendRegistered(t *testing.T) {
	ref := `{"Success":true,"Data":{"MachineId":"ping-client","RegisteredAt":"2025-10-04T02:24:27.1234567Z"},"Error":null}`
	got := AppendRegistered(nil, nil, String(`"ping-client"`), String(`"2025-10-04T02:24:27.1234567Z"`), now)
	checkAppend(t, "AppendRegistered(echo)", got, "", refPrefix(ref)+`,"Kind":"Reply"}`+"\n")
	// Without a client timestamp the server's now is used.
	got = AppendRegistered([]byte("p"), []byte(`1`), String(`"caf\u00e9"`), nil, now)
	checkAppend(t, "AppendRegistered(now)", got, "p",
		`{"Success":true,"Data":{"MachineId":"caf\u00e9","RegisteredAt":"`+nowText+`"},"Error":null,"Kind":"Reply","Id":1}`+"\n")
}

func TestAppendSubscribed(t *testing.T) {
	ref := `{"Success":true,"Data":{"MachineId":"ping-client","SubscribedAt":"2025-10-04T02:24:27.1309876Z"},"Error":null}`
	got := AppendSubscribed(nil, nil, String(`"ping-client"`), now)
	checkAppend(t, "AppendSubscribed", got, "", refPrefix(ref)+`,"Kind":"Reply"}`+"\n")
	got = AppendSubscribed(nil, []byte(`"s"`), String(`"m"`), now.Add(-130987600))
	checkAppend(t, "AppendSubscribed(id)", got, "",
		`{"Success":true,"Data":{"MachineId":"m","SubscribedAt":"2025-10-04T02:24:27Z"},"Error":null,"Kind":"Reply","Id":"s"}`+"\n")
}

func TestAppendDelivered(t *testing.T) {
	ref := `{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"pong-client"},"Error":null}`
	checkAppend(t, "AppendDelivered", AppendDelivered(nil, nil, String(`"pong-client"`)), "", refPrefix(ref)+`,"Kind":"Reply"}`+"\n")
	checkAppend(t, "AppendDelivered(id)", AppendDelivered(nil, []byte(`9`), String(`"p\"q"`)), "",
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"p\"q"},"Error":null,"Kind":"Reply","Id":9}`+"\n")
}

func decodeEvent(t *testing.T, line string) *Event {
	t.Helper()
	var r Request
	if err := r.Decode([]byte(line)); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	e := new(Event)
	if err := e.Decode(r.Payload, false); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return e
}

func TestAppendEvent(t *testing.T) {
	// The pushed line of the reference, from the literal SendEvent line.
	ref := `{"Success":true,"Data":{"SourceMachineId":"ping-client","TargetMachineId":"pong-client","EventName":"PING","Payload":{"Message":"Ping 1"},"Timestamp":"2025-10-04T02:24:28.5551234Z"},"Error":null}`
	e := decodeEvent(t, litSendEvent1)
	checkAppend(t, "AppendEvent(literal)", AppendEvent(nil, KindEvent, e, e.Target, now, 0), "", refPrefix(ref)+`,"Kind":"Event"}`+"\n")

	// Payload null and absent; Timestamp absent uses now.
	e = decodeEvent(t, litSendEvent2)
	checkAppend(t, "AppendEvent(null payload)", AppendEvent(nil, KindEvent, e, e.Target, now, 0), "",
		`{"Success":true,"Data":{"SourceMachineId":"sender","TargetMachineId":"receiver","EventName":"MULTI_EVENT","Payload":null,"Timestamp":"2025-10-04T02:24:29.01Z"},"Error":null,"Kind":"Event"}`+"\n")
	e = decodeEvent(t, `{"Type":"Publish","Payload":{"EventName":"E","SourceMachineId":"a"}}`)
	checkAppend(t, "AppendEvent(publish)", AppendEvent([]byte("prev\n"), KindEvent, e, String(`"b"`), now, 0), "prev\n",
		`{"Success":true,"Data":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":null,"Timestamp":"`+nowText+`"},"Error":null,"Kind":"Event"}`+"\n")

	// Payload bytes verbatim: big integers, escapes, key order, spacing.
	const payload = `{"z":123456789012345678901234567890,"a":"\u00e9\ud83d\ude00","m":[1.50,-0,1E+2],"k":{ "y" : null }}`
	e = decodeEvent(t, `{"Type":2,"Payload":{"SourceMachineId":"s\u0041","TargetMachineId":"t","EventName":"E","Payload":`+payload+`,"Timestamp":"2025-10-04T02:24:28.5Z"}}`)
	got := AppendEvent(nil, KindEvent, e, e.Target, now, 0)
	checkAppend(t, "AppendEvent(verbatim)", got, "",
		`{"Success":true,"Data":{"SourceMachineId":"s\u0041","TargetMachineId":"t","EventName":"E","Payload":`+payload+`,"Timestamp":"2025-10-04T02:24:28.5Z"},"Error":null,"Kind":"Event"}`+"\n")
	if !bytes.Contains(got, []byte(payload)) {
		t.Errorf("payload not copied verbatim")
	}

	// A Request push carries RequestId and Kind "Request".
	e = decodeEvent(t, `{"Type":"Request","Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"Q","Payload":{"x":1},"TimeoutMs":500}}`)
	checkAppend(t, "AppendEvent(request)", AppendEvent(nil, KindRequest, e, e.Target, now, 18446744073709551615), "",
		`{"Success":true,"Data":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"Q","Payload":{"x":1},"Timestamp":"`+nowText+`","RequestId":18446744073709551615},"Error":null,"Kind":"Request"}`+"\n")
}

func TestAppendAnswer(t *testing.T) {
	a := &Answer{RequestID: 3, Payload: []byte(`{"x":123456789012345678901234567890}`)}
	checkAppend(t, "AppendAnswer", AppendAnswer(nil, []byte(`"q"`), 42, String(`"b"`), a), "",
		`{"Success":true,"Data":{"RequestId":42,"SourceMachineId":"b","Payload":{"x":123456789012345678901234567890}},"Error":null,"Kind":"Reply","Id":"q"}`+"\n")
	a = &Answer{RequestID: 3}
	checkAppend(t, "AppendAnswer(nil payload)", AppendAnswer(nil, nil, 1, String(`"b"`), a), "",
		`{"Success":true,"Data":{"RequestId":1,"SourceMachineId":"b","Payload":null},"Error":null,"Kind":"Reply"}`+"\n")
	a = &Answer{RequestID: 3, Payload: []byte(`1`), Error: String(`"boom \"x\"\u00e9\n"`)}
	checkAppend(t, "AppendAnswer(error)", AppendAnswer([]byte("p"), []byte(`5`), 42, String(`"b"`), a), "p",
		`{"Success":false,"Data":null,"Error":"boom \"x\"é\n","Kind":"Reply","Code":"remote_error","Id":5}`+"\n")
	// A long error text does not need to fit any internal buffer.
	long := strings.Repeat(`\u0041`, 400)
	a = &Answer{RequestID: 3, Error: String(`"` + long + `"`)}
	checkAppend(t, "AppendAnswer(long error)", AppendAnswer(nil, nil, 1, String(`"b"`), a), "",
		`{"Success":false,"Data":null,"Error":"`+strings.Repeat("A", 400)+`","Kind":"Reply","Code":"remote_error"}`+"\n")
}

func TestAppendTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2025, 10, 4, 2, 24, 27, 123456700, time.UTC), "2025-10-04T02:24:27.1234567Z"},
		{time.Date(2025, 10, 4, 2, 24, 27, 120000000, time.UTC), "2025-10-04T02:24:27.12Z"},
		{time.Date(2025, 10, 4, 2, 24, 27, 0, time.UTC), "2025-10-04T02:24:27Z"},
		{time.Date(2025, 10, 4, 2, 30, 1, 500000000, time.UTC), "2025-10-04T02:30:01.5Z"},
		{time.Date(2025, 10, 4, 2, 24, 29, 10000000, time.UTC), "2025-10-04T02:24:29.01Z"},
		{time.Date(2025, 10, 4, 2, 24, 27, 100, time.UTC), "2025-10-04T02:24:27.0000001Z"},
		{time.Date(2025, 10, 4, 2, 24, 27, 123456789, time.UTC), "2025-10-04T02:24:27.1234567Z"}, // 100 ns ticks truncate
		{time.Date(2025, 10, 4, 2, 24, 27, 999999999, time.UTC), "2025-10-04T02:24:27.9999999Z"},
		{time.Date(2025, 10, 4, 2, 24, 27, 99, time.UTC), "2025-10-04T02:24:27Z"},
		{time.Date(2025, 10, 4, 2, 24, 27, 1000, time.UTC), "2025-10-04T02:24:27.000001Z"},
		{time.Date(2025, 10, 4, 4, 24, 27, 0, time.FixedZone("CEST", 2*3600)), "2025-10-04T02:24:27Z"},
		{time.Date(2025, 10, 3, 19, 24, 27, 0, time.FixedZone("PDT", -7*3600)), "2025-10-04T02:24:27Z"},
		{time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC), "2024-02-29T23:59:59Z"},
		{time.Time{}, "0001-01-01T00:00:00Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC), "9999-12-31T23:59:59.9999999Z"},
	}
	for _, tt := range tests {
		if got := AppendTime(nil, tt.t); string(got) != tt.want {
			t.Errorf("AppendTime(%v) = %s, want %s", tt.t, got, tt.want)
		}
		if got := AppendTime([]byte(`"`), tt.t); string(got) != `"`+tt.want {
			t.Errorf("AppendTime does not append: %s", got)
		}
	}
}

func TestTimeJSON(t *testing.T) {
	// Marshal in the .NET form, including default(DateTime).
	type doc struct{ At Time }
	b, err := json.Marshal(doc{Time(time.Date(2025, 10, 4, 4, 24, 27, 123456789, time.FixedZone("", 7200)))})
	if err != nil || string(b) != `{"At":"2025-10-04T02:24:27.1234567Z"}` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
	b, err = json.Marshal(doc{})
	if err != nil || string(b) != `{"At":"0001-01-01T00:00:00"}` {
		t.Errorf("Marshal(zero) = %s, %v", b, err)
	}

	// Round trip, to 100 ns.
	for _, in := range []time.Time{
		time.Date(2025, 10, 4, 2, 24, 27, 123456789, time.UTC),
		time.Date(2025, 10, 4, 2, 24, 27, 0, time.UTC),
		time.Date(2025, 10, 4, 2, 24, 27, 500000000, time.FixedZone("", -3600)),
		time.Now(),
		{},
	} {
		b, err := Time(in).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var out Time
		if err := out.UnmarshalJSON(b); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", b, err)
		}
		want := in.Add(-time.Duration(in.Nanosecond() % 100))
		if !time.Time(out).Equal(want) || time.Time(out).IsZero() != in.IsZero() {
			t.Errorf("round trip of %v via %s = %v", in, b, time.Time(out))
		}
	}

	// What .NET and Go write.
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{`"2025-10-04T02:24:27.1234567Z"`, time.Date(2025, 10, 4, 2, 24, 27, 123456700, time.UTC)},
		{`"2025-10-04T02:24:27.12Z"`, time.Date(2025, 10, 4, 2, 24, 27, 120000000, time.UTC)},
		{`"2025-10-04T02:24:27Z"`, time.Date(2025, 10, 4, 2, 24, 27, 0, time.UTC)},
		{`"2025-10-04T02:24:27.123456789Z"`, time.Date(2025, 10, 4, 2, 24, 27, 123456789, time.UTC)},
		{`"2025-10-04T04:24:27.5+02:00"`, time.Date(2025, 10, 4, 2, 24, 27, 500000000, time.UTC)},
		{`"2025-10-04T02:24:27.1234567"`, time.Date(2025, 10, 4, 2, 24, 27, 123456700, time.UTC)}, // Unspecified kind
		{`"0001-01-01T00:00:00"`, time.Time{}},
		{`"2025-10-04T02:24:27\u002E5Z"`, time.Date(2025, 10, 4, 2, 24, 27, 500000000, time.UTC)},
	} {
		var got Time
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil || !time.Time(got).Equal(tt.want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tt.in, time.Time(got), err, tt.want)
		}
	}
	for _, in := range []string{`"nope"`, `"2025-10-04"`, `"2025-13-04T02:24:27Z"`, `1696386267`, `true`, `{}`} {
		var got Time
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", in, time.Time(got))
		}
	}
	// null is a no-op, as the json.Unmarshaler convention asks.
	v := doc{Time(now)}
	if err := json.Unmarshal([]byte(`{"At":null}`), &v); err != nil || !time.Time(v.At).Equal(now) {
		t.Errorf("Unmarshal(null) = %v, %v; want the value unchanged", time.Time(v.At), err)
	}
}

// TestDecodeEncodeRoundTrip checks that what a sender put in a SendEvent
// line reaches the target unchanged.
func TestDecodeEncodeRoundTrip(t *testing.T) {
	for _, line := range []string{litSendEvent1, litSendEvent2, litSendEvent3} {
		e := decodeEvent(t, line)
		out := AppendEvent(nil, KindEvent, e, e.Target, now, 0)
		checkLine(t, out)
		var got, want struct {
			Data struct {
				SourceMachineId, TargetMachineId, EventName string
				Payload                                     json.RawMessage
				Timestamp                                   string
			}
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(strings.Replace(line, `"Payload":{"Source`, `"Data":{"Source`, 1)), &want); err != nil {
			t.Fatal(err)
		}
		if got.Data.SourceMachineId != want.Data.SourceMachineId || got.Data.TargetMachineId != want.Data.TargetMachineId ||
			got.Data.EventName != want.Data.EventName || string(got.Data.Payload) != string(want.Data.Payload) ||
			got.Data.Timestamp != want.Data.Timestamp {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", line, got.Data, want.Data)
		}
	}
}
