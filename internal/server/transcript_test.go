package server_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/statebus/statebus/internal/server"
)

// TestTranscripts replays testdata/transcripts/*.txt (format in its
// README.md) against a real server.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runTranscript(t, file)
		})
	}
}

var sendTokens = strings.NewReplacer("<BOM>", "\xEF\xBB\xBF", "<CRLF>", "\r\n", "<LF>", "\n", "<NUL>", "\x00", "<FF>", "\xFF")

// expectPattern turns an expected line into an anchored regexp.
func expectPattern(s string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, "<TIME>"):
			b.WriteString(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z`)
			s = s[len("<TIME>"):]
		case strings.HasPrefix(s, "<N>"):
			b.WriteString(`\d+`)
			s = s[len("<N>"):]
		default:
			i := strings.Index(s[1:], "<")
			if i < 0 {
				i = len(s)
			} else {
				i++
			}
			b.WriteString(regexp.QuoteMeta(s[:i]))
			s = s[i:]
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func runTranscript(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bus := startBus(t, server.Config{Peer: peerFromOS})
	conns := map[string]*client{}
	get := func(n int, name string) *client {
		c := conns[name]
		if c == nil {
			t.Fatalf("%s:%d: connection %q is not open", file, n, name)
		}
		return c
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "open "):
			conns[line[5:]] = bus.dial(t)
		case strings.HasPrefix(line, "close "):
			get(n, line[6:]).nc.Close()
			delete(conns, line[6:])
		case strings.HasPrefix(line, "wait unbound "):
			id := line[len("wait unbound "):]
			waitFor(t, id+" to be released", func() bool {
				for _, m := range bus.Router().Machines() {
					if m.ID == id {
						return false
					}
				}
				return true
			})
		case strings.HasSuffix(line, "<EOF"):
			get(n, strings.TrimSuffix(line, "<EOF")).expectEOF()
		default:
			i := strings.IndexAny(line, "<>")
			if i < 0 {
				t.Fatalf("%s:%d: cannot parse %q", file, n, line)
			}
			c, body := get(n, line[:i]), strings.TrimPrefix(line[i+1:], " ")
			if line[i] == '>' {
				c.send(sendTokens.Replace(body))
				continue
			}
			got := c.line()
			if !expectPattern(body).MatchString(got) {
				t.Fatalf("%s:%d: server wrote\n  %s\nwant\n  %s", file, n, got, body)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
