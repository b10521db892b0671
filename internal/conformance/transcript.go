package conformance

import (
	"bufio"
	"embed"
	"fmt"
	"path"
	"regexp"
	"strings"
	"testing"
)

// transcripts are the golden conversations; their format is in
// testdata/transcripts/README.md.
//
//go:embed testdata/transcripts/*.txt
var transcripts embed.FS

// runTranscripts replays every transcript on a fresh bus each.
func runTranscripts(t *testing.T, h Harness) {
	files, err := transcripts.ReadDir("testdata/transcripts")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, ".txt") {
			continue
		}
		t.Run(strings.TrimSuffix(name, ".txt"), func(t *testing.T) {
			data, err := transcripts.ReadFile(path.Join("testdata/transcripts", name))
			if err != nil {
				t.Fatal(err)
			}
			r := &replay{t: t, h: h, file: name, bus: h.Start(t, Limits{}), conns: map[string]*conn{}}
			r.run(string(data))
		})
	}
}

// replay is one transcript being replayed.
type replay struct {
	t     *testing.T
	h     Harness
	file  string
	n     int // current line number
	bus   Bus
	conns map[string]*conn
}

func (r *replay) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s:%d: %s", r.file, r.n, fmt.Sprintf(format, args...))
}

func (r *replay) run(data string) {
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for r.n = 1; sc.Scan(); r.n++ {
		line, ok := r.guard(sc.Text())
		if ok {
			r.step(line)
		}
	}
	if err := sc.Err(); err != nil {
		r.t.Fatal(err)
	}
}

// guard strips a "[Flag] " or "[!Flag] " prefix and reports whether the
// line applies to this harness; a line that does not is logged.
func (r *replay) guard(line string) (string, bool) {
	if !strings.HasPrefix(line, "[") {
		return line, true
	}
	end := strings.Index(line, "] ")
	if end < 0 {
		r.fatalf("unterminated feature guard in %q", line)
	}
	name, rest := line[1:end], line[end+2:]
	want := !strings.HasPrefix(name, "!")
	name = strings.TrimPrefix(name, "!")
	set, known := r.h.Features.flag(name)
	if !known {
		r.fatalf("unknown feature %q", name)
	}
	if set != want {
		if want {
			r.t.Logf("%s:%d: applies only where %s: %s", r.file, r.n, name, rest)
		} else {
			r.t.Logf("%s:%d: skipped where %s: %s", r.file, r.n, name, rest)
		}
		return "", false
	}
	return rest, true
}

// flag returns the feature called name, and whether there is one.
func (f Features) flag(name string) (set, known bool) {
	switch name {
	case "CrossHost":
		return f.CrossHost, true
	case "PeerPID":
		return f.PeerPID, true
	case "PeerUID":
		return f.PeerUID, true
	}
	return false, false
}

// sendTokens are the byte names of transcript send lines.
var sendTokens = strings.NewReplacer("<BOM>", "\xEF\xBB\xBF", "<CRLF>", "\r\n", "<LF>", "\n", "<NUL>", "\x00", "<FF>", "\xFF")

// step performs one transcript line.
func (r *replay) step(line string) {
	r.t.Helper()
	switch {
	case line == "" || strings.HasPrefix(line, "#"):
	case strings.HasPrefix(line, "open "):
		name, side := strings.TrimPrefix(line, "open "), A
		if n, ok := strings.CutSuffix(name, " on B"); ok {
			name, side = n, B
		}
		c := dialBus(r.t, r.bus, side, name)
		r.conns[name] = c
	case strings.HasPrefix(line, "close "):
		r.get(line[len("close "):]).nc.Close()
		delete(r.conns, line[len("close "):])
	case strings.HasPrefix(line, "wait unbound "):
		id := line[len("wait unbound "):]
		waitFor(r.t, id+" to be released", func() bool { return !r.bus.Bound(id) })
	case strings.HasSuffix(line, "<EOF"):
		r.get(strings.TrimSuffix(line, "<EOF")).expectEOF()
	default:
		i := strings.IndexAny(line, "<>")
		if i < 0 {
			r.fatalf("cannot parse %q", line)
		}
		c, body := r.get(line[:i]), strings.TrimPrefix(line[i+1:], " ")
		if line[i] == '>' {
			c.send(sendTokens.Replace(body))
			return
		}
		if got := c.line(); !pattern(r.h.Features, body).MatchString(got) {
			r.fatalf("server wrote\n  %s\nwant\n  %s", got, body)
		}
	}
}

func (r *replay) get(name string) *conn {
	r.t.Helper()
	c := r.conns[name]
	if c == nil {
		r.fatalf("connection %q is not open", name)
	}
	return c
}

// pattern turns an expected line into an anchored regexp: <TIME> matches a
// .NET UTC timestamp, <N> an unsigned integer, <TEXT> the inside of any
// JSON string, <PEERPID> and <PEERUID> an
// unsigned integer where the transport reports it (Features.PeerPID,
// PeerUID) and -1 where it does not; everything else matches itself.
func pattern(f Features, s string) *regexp.Regexp {
	peer := func(known bool) string {
		if known {
			return `\d+`
		}
		return `-1`
	}
	tokens := map[string]string{
		"<TIME>":    `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z`,
		"<N>":       `\d+`,
		"<TEXT>":    `([^"\\]|\\.)*`,
		"<PEERPID>": peer(f.PeerPID),
		"<PEERUID>": peer(f.PeerUID),
	}
	var b strings.Builder
	b.WriteString("^")
	for len(s) > 0 {
		if tok, ok := tokenAt(s, tokens); ok {
			b.WriteString(tokens[tok])
			s = s[len(tok):]
			continue
		}
		i := strings.Index(s[1:], "<")
		if i < 0 {
			i = len(s)
		} else {
			i++
		}
		b.WriteString(regexp.QuoteMeta(s[:i]))
		s = s[i:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func tokenAt(s string, tokens map[string]string) (string, bool) {
	for tok := range tokens {
		if strings.HasPrefix(s, tok) {
			return tok, true
		}
	}
	return "", false
}
