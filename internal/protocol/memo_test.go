package protocol

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// describe renders everything a decoded request tells its caller, for
// comparing two decodings.
func describe(r *Request, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	s := fmt.Sprintf("type %d id %q payload %q token %q", r.Type, r.ID, r.Payload, r.Token)
	for _, needTarget := range []bool{true, false} {
		var e Event
		err := r.Event(&e, needTarget)
		s += fmt.Sprintf("\nevent %v: %q %q %q %q %q %d", err, e.Source, e.Target, e.Name, e.Payload, e.Timestamp, e.TimeoutMs)
	}
	return s
}

// checkDecoder decodes lines in turn with one Decoder and checks every
// result against a fresh Request.Decode.
func checkDecoder(t *testing.T, lines ...[]byte) *Decoder {
	t.Helper()
	var d Decoder
	for _, line := range lines {
		orig := bytes.Clone(line)
		var got, want Request
		gerr := d.Decode(&got, line)
		werr := want.Decode(line)
		if g, w := describe(&got, gerr), describe(&want, werr); g != w {
			t.Fatalf("after %q\nDecoder on %q:\n%s\nRequest.Decode:\n%s", lines[0], line, g, w)
		}
		if !bytes.Equal(line, orig) {
			t.Fatalf("Decode modified its input")
		}
	}
	return &d
}

var memoBases = []string{
	string(plainLine),
	`{"Type":2,"Id":42,"Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":{"n":-10.25e+3,"s":"xyz","t":true,"z":null,"a":[1,"2"]},"Timestamp":"2025-10-04T02:24:28.5551234Z"}}`,
	`{"Type":"Request","Id":"r-17","Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","TimeoutMs":1500,"Payload":"x"}}`,
	`{ "Type" : "publish" , "Payload" : { "SourceMachineId" : "a" , "EventName" : "E" , "Payload" : [ 10 , 20 ] } , "Token" : "secret" }`,
	`{"Type":2,"Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":null,"Timestamp":null},"Payload":{"SourceMachineId":"c","TargetMachineId":"d","EventName":"F","Payload":7}}`,
}

// byteClasses holds a byte of every kind the scanner tells apart: every
// digit, letters that start literals or escapes, every structural and
// whitespace byte, quote, backslash, control characters, DEL and bytes
// outside ASCII. (All 256 values take ten times as long under -race for
// no more coverage.)
var byteClasses = []byte("0123456789abefnrtuxzAEZ{}[]:,\"\\ \t\r\n-+./\x00\x01\x1f\x7f\x80\xbf\xc3\xe2\xf0\xff")

// TestDecoderEveryByte changes every byte of several remembered lines to
// a byte of every kind and checks the Decoder agrees with a full decode
// each time.
func TestDecoderEveryByte(t *testing.T) {
	for _, base := range memoBases {
		b := []byte(base)
		d := checkDecoder(t, b, b)
		if d.hits != 1 {
			t.Fatalf("%s: the same line again was not decoded by comparison (hits %d)", base, d.hits)
		}
		for i := range b {
			for _, c := range byteClasses {
				m := bytes.Clone(b)
				m[i] = c
				checkDecoder(t, b, m)
			}
		}
	}
}

// TestDecoderRandomEdits applies several random edits at once, biased
// towards the bytes a Decoder may accept, over a longer stream.
func TestDecoderRandomEdits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("0123456789azAZ \"\\:,{}[]-+.eE\x00\x1f\x7f\x80\xc3\xa9\xff")
	for _, base := range memoBases {
		b := []byte(base)
		lines := [][]byte{b}
		for n := 0; n < 3000; n++ {
			m := bytes.Clone(b)
			for k := rng.IntN(4) + 1; k > 0; k-- {
				m[rng.IntN(len(m))] = alphabet[rng.IntN(len(alphabet))]
			}
			lines = append(lines, m)
			if rng.IntN(10) == 0 {
				lines = append(lines, b)
			}
		}
		checkDecoder(t, lines...)
	}
}

// TestDecoderHits pins where comparison applies: changed digits and string
// values hit; changed member names, Type or TimeoutMs, another length, or a
// line that is not plain are scanned in full.
func TestDecoderHits(t *testing.T) {
	base := []byte(memoBases[2])
	tests := []struct {
		from, to string
		hit      bool
	}{
		{`"r-17"`, `"r-18"`, true},
		{`"x"}}`, `"y"}}`, true},
		{`"E"`, `"Q"`, true},
		{`1500`, `1501`, false},
		{`"Request"`, `"Requesx"`, false},
		{`"EventName"`, `"EventNamf"`, false},
		{`"x"}}`, `"\u"}}`, false},
		{`"x"}}`, "\"\xc3\"}}", false},
		{`"r-17"`, `"r-1"`, false},
	}
	for _, tt := range tests {
		m := bytes.Replace(base, []byte(tt.from), []byte(tt.to), 1)
		d := checkDecoder(t, base, m)
		if got := d.hits == 1; got != tt.hit {
			t.Errorf("%s -> %s: hit %v, want %v", tt.from, tt.to, got, tt.hit)
		}
	}

	// The bench line with a new sequence number each time: every line after
	// the first is a hit.
	var lines [][]byte
	for seq := 0; seq < 100; seq++ {
		lines = append(lines, bytes.Replace(plainLine, []byte("000-000000012345"), fmt.Appendf(nil, "000-%012d", seq*7919), 1))
	}
	if d := checkDecoder(t, lines...); d.hits != 99 {
		t.Errorf("sequence numbers: %d hits, want 99", d.hits)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, b := range memoBases {
		f.Add([]byte(b), []byte(b), []byte(b))
		f.Add([]byte(b), bytes.Replace([]byte(b), []byte("1"), []byte("2"), -1), []byte(b))
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		checkDecoder(t, a, b, c, a, b)
	})
}

func BenchmarkDecoderHit(b *testing.B) {
	var d Decoder
	var req Request
	var ev Event
	line := bytes.Clone(plainLine)
	seq := bytes.Index(line, []byte("12345"))
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	n := 0
	for b.Loop() {
		n++
		line[seq] = byte('0' + n%10)
		if err := d.Decode(&req, line); err != nil {
			b.Fatal(err)
		}
		if err := req.Event(&ev, true); err != nil {
			b.Fatal(err)
		}
	}
	if d.hits < uint64(n-1) {
		b.Fatalf("%d hits in %d", d.hits, n)
	}
}

// TestDecoderShapes cycles through several shapes (event names of
// different lengths): as many as a Decoder remembers all hit after the
// first round; more than that never break a decoding.
func TestDecoderShapes(t *testing.T) {
	cycle := func(shapes, n int) [][]byte {
		var lines [][]byte
		for i := range n {
			name := bytes.Repeat([]byte("N"), 1+i%shapes)
			l := bytes.Replace(plainLine, []byte("TICK______"), name, 1)
			lines = append(lines, bytes.Replace(l, []byte("000-000000012345"), fmt.Appendf(nil, "000-%012d", i), 1))
		}
		return lines
	}
	if d := checkDecoder(t, cycle(memoShapes, 200)...); d.hits != 200-memoShapes {
		t.Errorf("%d shapes in turn: %d hits of 200, want %d", memoShapes, d.hits, 200-memoShapes)
	}
	// More shapes than fit, then back to two: the Decoder recovers.
	d := checkDecoder(t, cycle(3*memoShapes+1, 500)...)
	var before uint64
	for i, l := range cycle(2, 100) {
		if i == 50 {
			before = d.hits
		}
		var r Request
		if err := d.Decode(&r, l); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.hits - before; n != 50 {
		t.Errorf("two shapes after many: %d hits in the last 50 lines, want all", n)
	}
}
