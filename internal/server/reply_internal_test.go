package server

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/statebus/statebus/internal/protocol"
)

// A reply the bus cannot encode is its own failure: internal_error, not
// the client's invalid_json.
func TestUnencodableReplyIsAnInternalError(t *testing.T) {
	s, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(s, a)
	c.replyJSON(map[string]any{"bad": make(chan int)})
	c.mu.Lock()
	line := string(c.out)
	c.mu.Unlock()
	if !strings.Contains(line, `"Code":"internal_error"`) || !strings.Contains(line, `"Error":"Internal error: `) {
		t.Fatalf("reply %q", line)
	}
	if n := c.stats.failures[protocol.CodeInternal].Load(); n != 1 {
		t.Fatalf("internal_error counted %d times", n)
	}
}
