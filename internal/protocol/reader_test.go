package protocol

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const bom = "\xEF\xBB\xBF"

// splitLines is the reference the Reader is checked against: a BOM is
// stripped from the start of the stream only, lines end at "\n", one "\r"
// before it is removed, and an empty remainder after the last "\n" is no
// line. tooLong reports that lines[len(lines)] would have exceeded max: the
// Reader must return lines and then ErrLineTooLong.
func splitLines(data string, max int) (lines []string, tooLong bool) {
	data = strings.TrimPrefix(data, bom)
	parts := strings.Split(data, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	for _, p := range parts {
		p = strings.TrimSuffix(p, "\r")
		if len(p) > max {
			return lines, true
		}
		lines = append(lines, p)
	}
	return lines, false
}

// readAll reads lines until an error, checking the buffer bound on the way.
func readAll(t *testing.T, r *Reader) ([]string, error) {
	t.Helper()
	var lines []string
	for {
		line, err := r.ReadLine()
		if len(r.buf) > r.max+5 {
			t.Fatalf("buffer grew to %d bytes for max %d", len(r.buf), r.max)
		}
		if err != nil {
			if line != nil {
				t.Fatalf("ReadLine returned %q with error %v", line, err)
			}
			return lines, err
		}
		lines = append(lines, string(line))
	}
}

// splitReader returns data[:at] from its first Read and the rest after.
type splitReader struct {
	data []byte
	at   int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	chunk := s.data
	if s.at > 0 && s.at < len(chunk) {
		chunk = chunk[:s.at]
	}
	s.at = 0
	n := copy(p, chunk)
	s.data = s.data[n:]
	return n, nil
}

// readers returns the ways a stream is fed to the Reader under test.
func readers(data string, split int) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":   strings.NewReader(data),
		"onebyte": iotest.OneByteReader(strings.NewReader(data)),
		"half":    iotest.HalfReader(strings.NewReader(data)),
		"dataerr": iotest.DataErrReader(strings.NewReader(data)),
		"split":   &splitReader{data: []byte(data), at: split},
	}
}

// checkStream checks every way of feeding data against the reference.
func checkStream(t *testing.T, data string, max, split int) {
	t.Helper()
	want, tooLong := splitLines(data, max)
	wantErr := io.EOF
	if tooLong {
		wantErr = ErrLineTooLong
	}
	for name, src := range readers(data, split) {
		r := NewReader(src, max)
		got, err := readAll(t, r)
		if err != wantErr || strings.Join(got, "\x00|") != strings.Join(want, "\x00|") || len(got) != len(want) {
			t.Fatalf("%s reader over %q (max %d): got %q, %v; want %q, %v", name, data, max, got, err, want, wantErr)
		}
		// The error is sticky.
		for range 2 {
			if line, err := r.ReadLine(); line != nil || err != wantErr {
				t.Fatalf("%s reader over %q: after %v, ReadLine = %q, %v", name, data, wantErr, line, err)
			}
		}
	}
}

var readerTests = []struct {
	name string
	data string
	max  int
}{
	{"empty", "", 64},
	{"lf", "a\nb\n", 64},
	{"crlf", "a\r\nb\r\n", 64},
	{"mixed", "a\r\nb\nc\r\n", 64},
	{"unterminated", "a\nb", 64},
	{"unterminated cr", "a\nb\r", 64},
	{"double cr", "a\r\r\n", 64},
	{"lone cr", "a\rb\n", 64},
	{"empty lines", "\n\n\r\n\n", 64},
	{"only lf", "\n", 64},
	{"only crlf", "\r\n", 64},
	{"bom", bom + "a\r\nb\r\n", 64},
	{"bom only", bom, 64},
	{"bom lf", bom + "\n", 64},
	{"bom cr", bom + "\r", 64},
	{"bom twice", bom + bom + "a\n", 64},
	{"bom second line", "a\n" + bom + "b\n", 64},
	{"partial bom", "\xEF\xBB\n", 64},
	{"bom unterminated", bom + "a", 64},
	{"exactly max", strings.Repeat("x", 64) + "\nb\n", 64},
	{"exactly max crlf", strings.Repeat("x", 64) + "\r\nb\r\n", 64},
	{"exactly max bom crlf", bom + strings.Repeat("x", 64) + "\r\nb\r\n", 64},
	{"exactly max unterminated", "a\n" + strings.Repeat("x", 64), 64},
	{"exactly max bom cr unterminated", bom + strings.Repeat("x", 64) + "\r", 64},
	{"max+1", "a\n" + strings.Repeat("x", 65) + "\nb\n", 64},
	{"max+1 first", strings.Repeat("x", 65) + "\n", 64},
	{"max+1 unterminated", "a\n" + strings.Repeat("x", 65), 64},
	{"max+1 with cr", "a\n" + strings.Repeat("x", 65) + "\r\n", 64},
	{"max+1 bom", bom + strings.Repeat("x", 65) + "\n", 64},
	{"bom on second line counts", "a\n" + bom + strings.Repeat("x", 62) + "\n", 64},
	{"much too long", "a\n" + strings.Repeat("x", 1000) + "\nb\n", 64},
	{"max 1", "a\n\nbc\n", 1},
	{"many lines", strings.Repeat("line of text\r\n", 100), 64},
	{"literal stream", bom + litRegister1 + "\r\n" + litSubscribe1 + "\r\n" + litSendEvent1 + "\r\n", DefaultMaxLine},
	{"literal stream tight", bom + litSendEvent1 + "\r\n" + litSendEvent3 + "\r\n", len(litSendEvent3)},
}

func TestReadLine(t *testing.T) {
	for _, tt := range readerTests {
		t.Run(tt.name, func(t *testing.T) {
			for split := 0; split <= len(tt.data) && split < 200; split++ {
				checkStream(t, tt.data, tt.max, split)
			}
		})
	}
}

func TestReadLineExamples(t *testing.T) {
	// Spell out a few results instead of trusting the reference splitter.
	tests := []struct {
		data string
		want []string
		err  error
	}{
		{"a\r\nb\n", []string{"a", "b"}, io.EOF},
		{bom + "a\n" + bom + "b\n", []string{"a", bom + "b"}, io.EOF},
		{"a\r\r\n", []string{"a\r"}, io.EOF},
		{"a\rb", []string{"a\rb"}, io.EOF},
		{"\n\n", []string{"", ""}, io.EOF},
		{"x\n" + strings.Repeat("y", 9) + "\nz\n", []string{"x"}, ErrLineTooLong},
		{bom, nil, io.EOF},
	}
	for _, tt := range tests {
		got, err := readAll(t, NewReader(iotest.OneByteReader(strings.NewReader(tt.data)), 8))
		if err != tt.err || strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("%q: got %q, %v; want %q, %v", tt.data, got, err, tt.want, tt.err)
		}
	}
}

func TestReadLineErrors(t *testing.T) {
	// A read error other than io.EOF is returned as it is, after the lines
	// already buffered, and is sticky.
	r := NewReader(iotest.TimeoutReader(strings.NewReader("a\nb\n")), 0)
	got, err := readAll(t, r)
	if err != iotest.ErrTimeout || strings.Join(got, "|") != "a|b" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := r.ReadLine(); err != iotest.ErrTimeout {
		t.Fatalf("second call: %v", err)
	}
	// ErrLineTooLong is the protocol error, fatal for the connection.
	_, err = NewReader(strings.NewReader("toolong\n"), 3).ReadLine()
	var pe *Error
	if !errors.Is(err, ErrLineTooLong) || !errors.As(err, &pe) || pe.Code != CodeLineTooLong || !pe.Code.Fatal() || pe.Text != TextLineTooLong {
		t.Fatalf("too long: %#v", err)
	}
	if NewReader(nil, 0).max != DefaultMaxLine || NewReader(nil, -1).max != DefaultMaxLine {
		t.Fatal("max <= 0 is not DefaultMaxLine")
	}
}

// endless yields 'a' forever and counts what it gave.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += len(p)
	return len(p), nil
}

func TestReadLineEndless(t *testing.T) {
	for _, max := range []int{1, 64, 5000, DefaultMaxLine} {
		src := &endless{}
		r := NewReader(src, max)
		line, err := r.ReadLine()
		if line != nil || err != ErrLineTooLong {
			t.Fatalf("max %d: got %d bytes, %v", max, len(line), err)
		}
		if len(r.buf) > max+5 || cap(r.buf) > max+5 || src.n > max+5 {
			t.Fatalf("max %d: buffer %d (cap %d), read %d bytes", max, len(r.buf), cap(r.buf), src.n)
		}
		// Sticky, and nothing more is read.
		n := src.n
		if _, err := r.ReadLine(); err != ErrLineTooLong || src.n != n {
			t.Fatalf("max %d: second call %v, read %d more bytes", max, err, src.n-n)
		}
	}
	// Byte by byte too.
	src := &endless{}
	r := NewReader(iotest.OneByteReader(src), 100)
	if _, err := r.ReadLine(); err != ErrLineTooLong || len(r.buf) > 105 || src.n > 105 {
		t.Fatalf("one byte: %v, buffer %d, read %d", err, len(r.buf), src.n)
	}
}

func TestReadLineShrinks(t *testing.T) {
	big := strings.Repeat("b", 200<<10)
	data := "small\n" + big + "\nafter\n"
	for name, src := range readers(data, 3) {
		r := NewReader(src, 0)
		var lines [][]byte
		for {
			line, err := r.ReadLine()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			lines = append(lines, line)
			if r.Buffered() == 0 && len(r.buf) > streamReadBuf {
				t.Fatalf("%s: drained buffer of %d bytes kept", name, len(r.buf))
			}
		}
		if len(lines) != 3 || string(lines[1]) != big {
			t.Fatalf("%s: %d lines", name, len(lines))
		}
		// The big line stays intact after the buffer was dropped (it aliases
		// the old buffer, which is no longer reused).
		if len(r.buf) > streamReadBuf {
			t.Fatalf("%s: buffer still %d bytes at EOF", name, len(r.buf))
		}
		if string(lines[1]) != big {
			t.Fatalf("%s: big line overwritten", name)
		}
	}
}

func TestReadLineBufferReuse(t *testing.T) {
	// Small lines reuse one buffer: the slices alias it and are valid only
	// until the next call.
	r := NewReader(strings.NewReader("first\nsecond\n"), 0)
	a, _ := r.ReadLine()
	if string(a) != "first" {
		t.Fatalf("got %q", a)
	}
	b, _ := r.ReadLine()
	if string(b) != "second" || &a[:cap(a)][cap(a)-1] != &b[:cap(b)][cap(b)-1] {
		t.Fatalf("lines do not share the buffer")
	}
}

func TestHasLine(t *testing.T) {
	r := NewReader(&splitReader{data: []byte("a\nb\nc"), at: 3}, 0)
	if r.HasLine() || r.Buffered() != 0 {
		t.Fatal("HasLine before any read")
	}
	if line, err := r.ReadLine(); string(line) != "a" || err != nil {
		t.Fatalf("%q, %v", line, err)
	}
	// The first read gave "a\nb".
	if r.HasLine() || r.Buffered() != 1 {
		t.Fatalf("HasLine with %d bytes buffered", r.Buffered())
	}
	if line, err := r.ReadLine(); string(line) != "b" || err != nil {
		t.Fatalf("%q, %v", line, err)
	}
	r = NewReader(strings.NewReader("a\nb\nc"), 0)
	r.ReadLine()
	for range 2 {
		if !r.HasLine() {
			t.Fatal("HasLine false with b\\n buffered")
		}
	}
	if line, _ := r.ReadLine(); string(line) != "b" {
		t.Fatalf("after HasLine: %q", line)
	}
	if r.HasLine() {
		t.Fatal("HasLine true with only c buffered")
	}
	if line, _ := r.ReadLine(); string(line) != "c" {
		t.Fatalf("%q", line)
	}
	if !r.HasLine() {
		t.Fatal("HasLine false at EOF; ReadLine would not block")
	}
}

func FuzzReader(f *testing.F) {
	for _, tt := range readerTests {
		if len(tt.data) < 4096 {
			f.Add([]byte(tt.data), uint16(len(tt.data)/2))
		}
	}
	for _, tt := range requestTests {
		if len(tt.line) < 4096 {
			f.Add([]byte(bom+tt.line+"\r\n"+tt.line), uint16(7))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		const max = 64
		checkStream(t, string(data), max, int(split)%(len(data)+1))
		// Whatever was fed, the buffer holds at most max+5 bytes.
		r := NewReader(bytes.NewReader(data), max)
		readAll(t, r)
	})
}
