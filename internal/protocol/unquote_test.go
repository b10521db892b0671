package protocol

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// unquoteTests are valid JSON string tokens in valid UTF-8; the expected
// value is what encoding/json decodes.
var unquoteTests = []string{
	`""`,
	`"abc"`,
	`"ping-client"`,
	`"\""`,
	`"\\"`,
	`"\/"`,
	`"/"`,
	`"\b\f\n\r\t"`,
	`"\"\\\/\b\f\n\r\t"`,
	`"a\nb\tc"`,
	`"\u0000"`,
	`"\u001f\u007F"`,
	`"\u0041\u0062"`,
	`"\u00e9"`,
	`"\u00E9"`,
	`"caf\u00e9 cr\u00E8me"`,
	`"\u20ac"`,
	`"\uFFFF"`,
	`"\uFFFD"`,
	`"\ud83d\ude00"`,       // surrogate pair
	`"\uD83D\uDE00"`,       // upper-case hex
	`"\ud800\udc00"`,       // smallest pair
	`"\udbff\udfff"`,       // largest pair
	`"\ud83d"`,             // lone high surrogate
	`"\ud83dx"`,            // high surrogate followed by text
	`"\ud83d\n"`,           // high surrogate followed by another escape
	`"\ude00"`,             // lone low surrogate
	`"\ude00\ud83d"`,       // reversed pair
	`"\ud83d\u0041"`,       // high surrogate then a non-surrogate
	`"\ud83d\ud83d\ude00"`, // high, then a pair
	`"\ud83d\\ude00"`,      // escaped backslash, not a pair
	`"x\ud83d\ude00\ud83d\ude00y"`,
	`"é€😀"`, // raw UTF-8 passes through
	"\"\x7f\"",
	"\"\u2028\u2029\"",
	`"<>&'+` + "`" + `"`,
	`"\u003c\u003E\u0026\u0027\u002B\u0060"`, // System.Text.Json's escapes
}

func TestAppendUnquoted(t *testing.T) {
	for _, tok := range unquoteTests {
		var want string
		if err := json.Unmarshal([]byte(tok), &want); err != nil {
			t.Fatalf("table entry %s: %v", tok, err)
		}
		got, ok := appendUnquoted(nil, []byte(tok))
		if !ok || string(got) != want {
			t.Errorf("appendUnquoted(%s) = %q, %v; want %q", tok, got, ok, want)
		}
		// Appends to what dst already holds.
		got, ok = appendUnquoted([]byte("pre:"), []byte(tok))
		if !ok || string(got) != "pre:"+want {
			t.Errorf("appendUnquoted(pre:, %s) = %q, %v", tok, got, ok)
		}
		var buf [8]byte
		if got := String(tok).Value(buf[:0]); string(got) != want {
			t.Errorf("String(%s).Value = %q, want %q", tok, got, want)
		}
	}
}

func TestAppendUnquotedMalformed(t *testing.T) {
	// appendUnquoted expects tokens validated by skipString, but must not
	// panic or claim success on anything else.
	for _, tok := range []string{
		``, `"`, `a`, `"abc`, `abc"`, `'a'`,
		`"\"`, `"\q"`, `"\x41"`, `"\u"`, `"\u1"`, `"\u12"`, `"\u123"`, `"\u12G4"`, `"\uZZZZ"`,
	} {
		if got, ok := appendUnquoted(nil, []byte(tok)); ok {
			t.Errorf("appendUnquoted(%s) = %q, true; want false", tok, got)
		}
	}
}

// TestAppendUnquotedRawBytes documents the contract: raw bytes are copied as
// they are. Invalid UTF-8 is not replaced (encoding/json would write U+FFFD)
// because Request.Decode rejects such lines before any string is unquoted.
func TestAppendUnquotedRawBytes(t *testing.T) {
	got, ok := appendUnquoted(nil, []byte("\"a\xffb\""))
	if !ok || string(got) != "a\xffb" {
		t.Errorf("got %q, %v", got, ok)
	}
}

func TestStringValue(t *testing.T) {
	// Without escapes Value returns a slice of the token, allocating nothing.
	tok := String(`"ping-client"`)
	v := tok.Value(nil)
	if string(v) != "ping-client" || &v[0] != &tok[1] {
		t.Errorf("Value(%s) = %q, not aliasing the token", tok, v)
	}
	// With escapes it writes into buf when buf is large enough.
	var buf [16]byte
	tok = String(`"ping\u002dclient"`)
	v = tok.Value(buf[:0])
	if string(v) != "ping-client" || &v[0] != &buf[0] {
		t.Errorf("Value(%s) = %q, not in buf", tok, v)
	}
	// A nil buf is fine; the result is allocated.
	if v := tok.Value(nil); string(v) != "ping-client" {
		t.Errorf("Value(nil) = %q", v)
	}
	// The zero String.
	var zero String
	if !zero.IsZero() || zero.Value(nil) != nil {
		t.Errorf("zero String: IsZero=%v Value=%q", zero.IsZero(), zero.Value(nil))
	}
	if String(`""`).IsZero() {
		t.Error(`String("") reported as zero`)
	}
	if v := String(`""`).Value(nil); len(v) != 0 {
		t.Errorf(`Value("") = %q`, v)
	}
}

func FuzzUnquote(f *testing.F) {
	for _, tok := range unquoteTests {
		f.Add([]byte(tok))
	}
	for _, tt := range validTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' || !json.Valid(b) {
			return
		}
		// encoding/json replaces invalid UTF-8 with U+FFFD; appendUnquoted
		// only ever sees lines that passed utf8.Valid (Request.Decode).
		if !utf8.Valid(b) {
			return
		}
		end, _, ok := skipString(b, 0)
		if !ok || skipWS(b, end) != len(b) {
			t.Fatalf("skipString(%q) = %d, %v; json.Valid accepts it", b, end, ok)
		}
		tok := b[:end]
		var want string
		if err := json.Unmarshal(tok, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", tok, err)
		}
		got, ok := appendUnquoted(nil, tok)
		if !ok || string(got) != want {
			t.Fatalf("appendUnquoted(%q) = %q, %v; encoding/json gives %q", tok, got, ok, want)
		}
		var buf [64]byte
		if v := String(tok).Value(buf[:0]); string(v) != want {
			t.Fatalf("String(%q).Value = %q, want %q", tok, v, want)
		}
	})
}
