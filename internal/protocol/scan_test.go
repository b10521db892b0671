package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
	"unicode/utf8"
)

// nest returns n nested containers around inner: arrays when obj is false,
// objects with key "k" otherwise.
func nest(n int, obj bool, inner string) string {
	if obj {
		return strings.Repeat(`{"k":`, n) + inner + strings.Repeat("}", n)
	}
	return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
}

// alternate returns n nested containers that alternate between objects and
// arrays, so every bit of skipValue's container stack is exercised.
func alternate(n int) string {
	var open, close strings.Builder
	for d := 0; d < n; d++ {
		if d%2 == 0 {
			open.WriteString(`{"k":`)
		} else {
			open.WriteString("[")
		}
	}
	for d := n - 1; d >= 0; d-- {
		if d%2 == 0 {
			close.WriteString("}")
		} else {
			close.WriteString("]")
		}
	}
	return open.String() + "1" + close.String()
}

// mismatchAt returns n nested arrays whose closing bracket at depth d (1 is
// the outermost) is '}' instead of ']'.
func mismatchAt(n, d int) string {
	closing := []byte(strings.Repeat("]", n))
	closing[n-d] = '}'
	return strings.Repeat("[", n) + "0" + string(closing)
}

var validTests = []struct {
	in   string
	want bool
}{
	// Literals.
	{`true`, true},
	{`false`, true},
	{`null`, true},
	{`tru`, false},
	{`nul`, false},
	{`truex`, false},
	{`True`, false},
	{`NULL`, false},
	{`nulll`, false},

	// Numbers.
	{`0`, true},
	{`-0`, true},
	{`-0.0`, true},
	{`1`, true},
	{`-1`, true},
	{`123456789012345678901234567890`, true},
	{`1e5`, true},
	{`1E5`, true},
	{`1e+5`, true},
	{`1e-5`, true},
	{`1.5E-3`, true},
	{`0.5`, true},
	{`0e0`, true},
	{`-0E-0`, true},
	{`01`, false},
	{`00`, false},
	{`-01`, false},
	{`1.`, false},
	{`.5`, false},
	{`-`, false},
	{`+1`, false},
	{`1e`, false},
	{`1e+`, false},
	{`1E-`, false},
	{`1.e5`, false},
	{`0x10`, false},
	{`1_000`, false},
	{`NaN`, false},
	{`Infinity`, false},
	{`-Infinity`, false},
	{`- 1`, false},
	{`1 2`, false},

	// Strings.
	{`""`, true},
	{`"abc"`, true},
	{`"\"\\\/\b\f\n\r\t"`, true},
	{`"\u0000\u00e9\u00E9\uFFFF\uabcd"`, true},
	{`"\ud83d\ude00"`, true},
	{`"\ud83d"`, true}, // lone surrogate: syntactically valid
	{`"é€😀"`, true},
	{"\"\x7f\"", true},
	{"\"\xff\xfe\"", false}, // strings must be UTF-8 (see TestValidChecksUTF8)
	{`"\a"`, false},
	{`"\x41"`, false},
	{`"\U00e9"`, false},
	{`"\u00e"`, false},
	{`"\u00eg"`, false},
	{`"\u"`, false},
	{`"\`, false},
	{`"\"`, false},
	{`"abc`, false},
	{`"`, false},
	{`'a'`, false},
	{"\"a\x00b\"", false},
	{"\"a\nb\"", false},
	{"\"a\tb\"", false},
	{"\"a\rb\"", false},
	{"\"\x1f\"", false},

	// Arrays and objects.
	{`[]`, true},
	{`{}`, true},
	{` [ ] `, true},
	{"\t{\r\n}\n", true},
	{`[1,"a",true,null,{},[]]`, true},
	{`{"a":1,"b":[1,2,{"c":null}],"d":{"e":"f"}}`, true},
	{`{ "a" : 1 , "b" : 2 }`, true},
	{`{"a":1,"a":2}`, true},
	{`[1,]`, false},
	{`[,1]`, false},
	{`[1 2]`, false},
	{`[`, false},
	{`]`, false},
	{`[1`, false},
	{`[1,`, false},
	{`{`, false},
	{`}`, false},
	{`{,}`, false},
	{`{"a"}`, false},
	{`{"a":}`, false},
	{`{"a" 1}`, false},
	{`{"a":1,}`, false},
	{`{"a":1 "b":2}`, false},
	{`{a:1}`, false},
	{`{1:1}`, false},
	{`{"a":1]`, false},
	{`[1}`, false},
	{`{"a":[1}}`, false},
	{`[{"a":1]}`, false},

	// Whitespace and trailing garbage.
	{``, false},
	{` `, false},
	{" \t\r\n1 \t\r\n", true},
	{"\f1", false},
	{"1\f", false},
	{"\v1", false},
	{"\u00a01", false},
	{`1 x`, false},
	{`{}x`, false},
	{`{}{}`, false},
	{`[] []`, false},
	{`"a""b"`, false},
	{`{},`, false},
	{"{}\x00", false},
	{"\xEF\xBB\xBF{}", false},

	// Depth.
	{nest(MaxDepth, false, "1"), true},
	{nest(MaxDepth, false, ""), true},
	{nest(MaxDepth, true, "1"), true},
	{nest(MaxDepth, true, "{}"), false},
	{nest(MaxDepth+1, false, "1"), false},
	{nest(MaxDepth+1, false, ""), false},
	{nest(MaxDepth+1, true, "1"), false},
	{nest(MaxDepth-1, true, "[]"), true},
	{nest(MaxDepth-1, true, "[[]]"), false},
	{alternate(MaxDepth), true},
	{alternate(MaxDepth + 1), false},
	{"[" + strings.Repeat(nest(MaxDepth-1, false, "0")+",", 3) + "0]", true},
	{mismatchAt(200, 1), false},
	{mismatchAt(200, 64), false},
	{mismatchAt(200, 65), false},
	{mismatchAt(200, 130), false},
	{mismatchAt(MaxDepth, MaxDepth), false},
}

func TestValid(t *testing.T) {
	for _, tt := range validTests {
		if got := Valid([]byte(tt.in)); got != tt.want {
			t.Errorf("Valid(%.60q) = %v, want %v", tt.in, got, tt.want)
		}
		// Below the depth limit the scanner agrees with encoding/json.
		if strings.Count(tt.in, "[")+strings.Count(tt.in, "{") <= MaxDepth {
			if got := json.Valid([]byte(tt.in)) && utf8.ValidString(tt.in); got != tt.want {
				t.Errorf("json.Valid(%.60q) = %v, table says %v", tt.in, got, tt.want)
			}
		}
	}
}

// TestValidChecksUTF8 pins the contract FuzzValid relies on: Valid is
// encoding/json.Valid plus valid UTF-8 in strings (encoding/json accepts any
// bytes there), which is what Request.Decode needs for a whole line.
func TestValidChecksUTF8(t *testing.T) {
	for _, in := range []string{"\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "[\"\xe2\x82\"]", "{\"\xff\":1}",
		"\"abcdefgh\xff\"", "\"abcdefghijklmnop\xe2\x82\"", "\"abcdefg\xf4\x90\x80\x80\""} {
		if !json.Valid([]byte(in)) {
			t.Errorf("json.Valid(%q) = false; the fuzz comparison assumes it does not check UTF-8", in)
		}
		if Valid([]byte(in)) {
			t.Errorf("Valid(%q) = true, want false", in)
		}
	}
	for _, in := range []string{"\"caf\xc3\xa9\"", "\"\xe2\x82\xac 12345678\"", "\"12345678\xf0\x9f\x98\x80\"", "\"\xef\xbb\xbf\""} {
		if !Valid([]byte(in)) {
			t.Errorf("Valid(%q) = false, want true", in)
		}
	}
	// Outside strings, a non-ASCII byte is a syntax error for both.
	for _, in := range []string{"\xff", "[\xff]", "1\xff"} {
		if json.Valid([]byte(in)) || Valid([]byte(in)) {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestStopMask checks the eight-byte string scan against the byte table at
// every position and for every byte value, with plain bytes before and
// special bytes after (whose borrows must not disturb the first).
func TestStopMask(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for _, after := range []byte{'a', 0, '"', 0xff, 0x1f} {
				var w [8]byte
				for j := range w {
					w[j] = 'x'
					if j > pos {
						w[j] = after
					}
				}
				w[pos] = byte(c)
				m := stopMask(binary.LittleEndian.Uint64(w[:]))
				first := -1
				for j, b := range w {
					if strSpecial[b] {
						first = j
						break
					}
				}
				got := -1
				if m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != first {
					t.Fatalf("stopMask(%q) finds %d, want %d", w, got, first)
				}
			}
		}
	}
}

func TestSkipValueEnd(t *testing.T) {
	tests := []struct {
		in    string
		start int
		end   int
	}{
		{`1 ,`, 0, 1},
		{`-0.5e+7]`, 0, 7},
		{`"a\"b"x`, 0, 6},
		{`  true  `, 0, 6},
		{`{"a":[1]}  tail`, 0, 9},
		{`[[],{}],`, 0, 7},
		{`x: null}`, 2, 7},
		{`0123`, 0, 1}, // one value "0"; the caller rejects what follows
	}
	for _, tt := range tests {
		for _, plain := range []bool{false, isPlain([]byte(tt.in))} {
			end, ok := skipValue([]byte(tt.in), tt.start, plain)
			if !ok || end != tt.end {
				t.Errorf("skipValue(%q, %d, %v) = %d, %v; want %d, true", tt.in, tt.start, plain, end, ok, tt.end)
			}
		}
	}
}

func TestIsPlain(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{``, true},
		{`{"a":"b"}`, true},
		{`{"Type":2,"Payload":{"SourceMachineId":"s000","TargetMachineId":"r000"}}`, true},
		{`{"a":"b\"c"}`, false},
		{`{"a":"b\\"}`, false},
		{"{\"a\":\"\tb\"}", false},
		{"{\"a\": 1}", true},
		{"{\"a\":\n1}", false},
		{"{\"a\":\"caf\xc3\xa9\"}", false},
		{"12345678\x7f", true},
		{"1234567\x00", false},
		{"12345678\x1f", false},
		{"123456789\\", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if got := isPlain([]byte(tt.in)); got != tt.want {
			t.Errorf("isPlain(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

type member struct{ key, name, val string }

func iterate(t *testing.T, in string) (ms []member, bad bool, rest string) {
	t.Helper()
	var it objectIter
	if !it.reset([]byte(in)) {
		if !it.err() {
			t.Errorf("reset(%q) = false but err() = false", in)
		}
		return nil, true, ""
	}
	for it.next() {
		name, ok := appendUnquoted(nil, it.key)
		if !ok {
			t.Errorf("%q: key %q does not unquote", in, it.key)
		}
		if !it.is(string(name)) {
			t.Errorf("%q: is(%q) = false for its own key", in, name)
		}
		ms = append(ms, member{string(it.key), string(name), string(it.val)})
	}
	if it.next() {
		t.Errorf("%q: next() after the end returned true", in)
	}
	if it.err() {
		return ms, true, ""
	}
	return ms, false, string(it.rest())
}

func TestObjectIter(t *testing.T) {
	tests := []struct {
		in   string
		want []member
		bad  bool
		rest string
	}{
		{in: `{}`},
		{in: ` { } `, rest: " "},
		{in: `{}x`, rest: "x"},
		{in: `{"a":1}`, want: []member{{`"a"`, "a", "1"}}},
		{in: "{ \"a\" :\t[1, 2] ,\n\"b\": {\"c\":\"d\"} }", want: []member{{`"a"`, "a", "[1, 2]"}, {`"b"`, "b", `{"c":"d"}`}}},
		{in: `{"Type":1,"Type":2}`, want: []member{{`"Type"`, "Type", "1"}, {`"Type"`, "Type", "2"}}},
		{in: `{"Typ\u0065":2}`, want: []member{{`"Typ\u0065"`, "Type", "2"}}},
		{in: `{"\u0054\u0079\u0070\u0065":2}`, want: []member{{`"\u0054\u0079\u0070\u0065"`, "Type", "2"}}},
		{in: `{"a\"b":null}`, want: []member{{`"a\"b"`, `a"b`, "null"}}},
		{in: `{"":""}`, want: []member{{`""`, "", `""`}}},
		{in: `{"` + strings.Repeat("x", 100) + `\n":0}`, want: []member{{`"` + strings.Repeat("x", 100) + `\n"`, strings.Repeat("x", 100) + "\n", "0"}}},
		{in: `{"a":1,}`, want: []member{{`"a"`, "a", "1"}}, bad: true},
		{in: `{"a":1 "b":2}`, want: []member{{`"a"`, "a", "1"}}, bad: true},
		{in: `{"a"}`, bad: true},
		{in: `{"a":}`, bad: true},
		// The value ends after "0"; the stray "1" is caught by the next call.
		{in: `{"a":01}`, want: []member{{`"a"`, "a", "0"}}, bad: true},
		{in: `{a:1}`, bad: true},
		{in: `{,"a":1}`, bad: true},
		{in: `{`, bad: true},
		{in: `{"a":1`, want: []member{{`"a"`, "a", "1"}}, bad: true},
		{in: `[]`, bad: true},
		{in: `null`, bad: true},
		{in: ``, bad: true},
		{in: `  `, bad: true},
	}
	for _, tt := range tests {
		got, bad, rest := iterate(t, tt.in)
		if bad != tt.bad || rest != tt.rest || len(got) != len(tt.want) {
			t.Errorf("%q: got %q bad=%v rest=%q; want %q bad=%v rest=%q", tt.in, got, bad, rest, tt.want, tt.bad, tt.rest)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q: member %d = %q, want %q", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestObjectIterIs(t *testing.T) {
	tests := []struct {
		in   string
		name string
		want bool
	}{
		{`{"Type":0}`, "Type", true},
		{`{"type":0}`, "Type", true},
		{`{"TYPE":0}`, "Type", true},
		{`{"tYpE":0}`, "Type", true},
		{`{"Typ\u0065":0}`, "Type", true},
		{`{"TYP\u0045":0}`, "Type", true},
		{`{"Types":0}`, "Type", false},
		{`{"Typ":0}`, "Type", false},
		{`{"Tipe":0}`, "Type", false},
		{`{"T\u00FDpe":0}`, "Type", false},
		{`{"Type\u0000":0}`, "Type", false},
		{`{"machineid":"x"}`, "MachineId", true},
		{`{"MACHINEID":"x"}`, "MachineId", true},
		{`{"Machine_Id":"x"}`, "MachineId", false},
		// ASCII folding only: '@' and '`' are not the case pair of anything.
		{`{"@":0}`, "`", false},
		{`{"[":0}`, "{", false},
		{`{"":0}`, "", true},
		// Long escaped keys still compare correctly.
		{`{"` + strings.Repeat("x", 70) + `\u0059":0}`, strings.Repeat("X", 70) + "y", true},
		{`{"` + strings.Repeat("x", 70) + `\u0059":0}`, strings.Repeat("X", 70), false},
	}
	for _, tt := range tests {
		var it objectIter
		if !it.reset([]byte(tt.in)) || !it.next() {
			t.Fatalf("%q: no member", tt.in)
		}
		if got := it.is(tt.name); got != tt.want {
			t.Errorf("%q: is(%q) = %v, want %v", tt.in, tt.name, got, tt.want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, tt := range validTests {
		f.Add([]byte(tt.in))
	}
	for _, tt := range requestTests {
		f.Add([]byte(tt.line))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > MaxDepth {
			t.Skip("may nest deeper than MaxDepth")
		}
		got := Valid(b)
		if want := json.Valid(b) && utf8.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid = %v (utf8.Valid = %v)", b, got, want, utf8.Valid(b))
		}
		// The shortcut for plain input agrees with the full scan.
		if isPlain(b) {
			e1, ok1 := skipValue(b, 0, true)
			e2, ok2 := skipValue(b, 0, false)
			if e1 != e2 || ok1 != ok2 {
				t.Fatalf("skipValue(%q): plain %d %v, full %d %v", b, e1, ok1, e2, ok2)
			}
		}
		if !got {
			return
		}
		// A valid object iterates to its end without error.
		i := skipWS(b, 0)
		if b[i] != '{' {
			return
		}
		var it objectIter
		if !it.reset(b) {
			t.Fatalf("reset(%q) = false", b)
		}
		for it.next() {
			if !Valid(it.val) || !Valid(it.key) || it.key[0] != '"' {
				t.Fatalf("%q: bad member %q: %q", b, it.key, it.val)
			}
		}
		if it.err() || skipWS(it.rest(), 0) != len(it.rest()) {
			t.Fatalf("objectIter over valid %q: err=%v rest=%q", b, it.err(), it.rest())
		}
	})
}
