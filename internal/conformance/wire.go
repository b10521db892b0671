package conformance

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wait is the deadline of every wait in the suite: a line, a write, a
// condition. Generous for a loaded machine; a passing run never waits it.
const wait = 10 * time.Second

// conn is one raw wire connection.
type conn struct {
	t    testing.TB
	name string
	nc   net.Conn
	rd   *bufio.Reader
}

// dial opens a connection on side.
func (s *suite) dial(side Side) *conn {
	s.t.Helper()
	return dialBus(s.t, s.bus, side, side.String())
}

func dialBus(t testing.TB, bus Bus, side Side, name string) *conn {
	t.Helper()
	nc, err := bus.Dial(side)
	if err != nil {
		t.Fatalf("dial %s: %v", side, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &conn{t: t, name: name, nc: nc, rd: bufio.NewReaderSize(nc, 1<<16)}
}

// send writes s exactly, within the deadline.
func (c *conn) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// sendAsync writes s from another goroutine, for writes the bus may take
// only while the test reads (a pipe has no buffer). The channel yields the
// write's error once it ends.
func (c *conn) sendAsync(s string) <-chan error {
	done := make(chan error, 1)
	c.nc.SetWriteDeadline(time.Now().Add(wait))
	go func() {
		_, err := io.WriteString(c.nc, s)
		done <- err
	}()
	return done
}

// line reads one server line, without its "\n".
func (c *conn) line() string {
	c.t.Helper()
	s, err := c.tryLine(wait)
	if err != nil {
		c.t.Fatalf("%s: read: %v (got %q)", c.name, err, s)
	}
	return s
}

func (c *conn) tryLine(d time.Duration) (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	s, err := c.rd.ReadString('\n')
	if err != nil {
		return s, err
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// expect reads one line and checks it against want, a line in the
// transcripts' notation (<TIME>, <N> and the other tokens of pattern).
func (c *conn) expect(f Features, want string) string {
	c.t.Helper()
	got := c.line()
	if !pattern(f, want).MatchString(got) {
		c.t.Fatalf("%s: server wrote\n  %s\nwant\n  %s", c.name, got, want)
	}
	return got
}

// reply is a decoded server line.
type reply struct {
	Success bool
	Data    json.RawMessage
	Error   *string
	Kind    string
	Code    string
	ID      json.RawMessage `json:"Id"`
	raw     string
}

func (r reply) String() string { return r.raw }

// text is the reply's Error, or "" for none.
func (r reply) text() string {
	if r.Error == nil {
		return ""
	}
	return *r.Error
}

func (c *conn) reply() reply {
	c.t.Helper()
	s := c.line()
	r := reply{raw: s}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		c.t.Fatalf("%s: bad server line %q: %v", c.name, s, err)
	}
	return r
}

// call sends one request line and reads the next line as its reply.
func (c *conn) call(s string) reply {
	c.t.Helper()
	c.send(s + "\n")
	return c.reply()
}

// mustOK sends a request and fails unless it succeeds.
func (c *conn) mustOK(s string) reply {
	c.t.Helper()
	r := c.call(s)
	if !r.Success || r.Kind != "Reply" {
		c.t.Fatalf("%s: %s: got %s", c.name, s, r)
	}
	return r
}

// mustFail sends a request and checks it fails with code and text.
func (c *conn) mustFail(s, code, text string) {
	c.t.Helper()
	r := c.call(s)
	if r.Success || r.Kind != "Reply" || r.Code != code || r.text() != text {
		c.t.Fatalf("%s: %s: got %s, want %s %q", c.name, s, r, code, text)
	}
}

// register binds id on c.
func (c *conn) register(id string) {
	c.t.Helper()
	c.mustOK(fmt.Sprintf(`{"Type":0,"Payload":{"MachineId":%q,"ProcessName":"conformance","ProcessId":1}}`, id))
}

// ping checks that c is still served, and that nothing arrived before
// the Ping's reply.
func (c *conn) ping() {
	c.t.Helper()
	if r := c.call(`{"Type":"Ping","Id":"alive"}`); !r.Success || string(r.ID) != `"alive"` {
		c.t.Fatalf("%s: Ping: got %s", c.name, r)
	}
}

// expectEOF reads until the bus closes c, which it must within the
// deadline. Lines before the end are ignored.
func (c *conn) expectEOF() {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		s, err := c.tryLine(time.Until(deadline))
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrClosedPipe),
			errors.Is(err, syscall.ECONNRESET):
			return
		default:
			c.t.Fatalf("%s: want the bus to close the connection, got %q, %v", c.name, s, err)
		}
	}
}

// sendLine is a SendEvent line, newline included.
func sendLine(src, dst, event, payload string) string {
	return fmt.Sprintf(`{"Type":2,"Payload":{"SourceMachineId":%q,"TargetMachineId":%q,"EventName":%q,"Payload":%s}}`+"\n", src, dst, event, payload)
}

// waitFor polls cond every few milliseconds until it holds, or fails t
// after the deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitUnbound waits until no bus has id bound.
func (s *suite) waitUnbound(ids ...string) {
	s.t.Helper()
	for _, id := range ids {
		waitFor(s.t, id+" to be released", func() bool { return !s.bus.Bound(id) })
	}
}
