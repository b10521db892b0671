package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testBus is a real server listening on a real Unix socket.
type testBus struct {
	*server.Server
	path   string
	served chan error
}

// shortDir returns a temporary directory with a short path: Unix socket
// paths are limited to about 100 bytes and t.TempDir can be longer.
func shortDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "sb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startBus(t testing.TB, cfg server.Config) *testBus {
	t.Helper()
	path := filepath.Join(shortDir(t), "bus.sock")
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return serveBus(t, cfg, ln, path)
}

// serveBus serves a new server with cfg on ln (whose socket is at path,
// if any) until t's cleanup.
func serveBus(t testing.TB, cfg server.Config, ln net.Listener, path string) *testBus {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if cfg.Peer == nil {
		cfg.Peer = func(c net.Conn) (server.PeerInfo, error) {
			p, err := transport.PeerOf(c)
			return server.PeerInfo{PID: p.PID, UID: p.UID, GID: p.GID}, err
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	b := &testBus{Server: srv, path: path, served: make(chan error, 1)}
	go func() { b.served <- srv.Serve(ln) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop shuts the bus down and checks that Serve returned ErrServerClosed.
func (b *testBus) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-b.served:
		if !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		b.served <- err // let a second stop see it too
	case <-time.After(10 * time.Second):
		t.Error("Serve did not return after Shutdown")
	}
}

// client is a raw wire-level client.
type client struct {
	t  testing.TB
	nc net.Conn
	rd *bufio.Reader
}

func (b *testBus) dial(t testing.TB) *client {
	t.Helper()
	nc, err := net.Dial("unix", b.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, rd: bufio.NewReaderSize(nc, 1<<16)}
}

func (c *client) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// line reads one server line (without "\n") within the deadline.
func (c *client) line() string {
	c.t.Helper()
	s, err := c.tryLine(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return s
}

func (c *client) tryLine(d time.Duration) (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	s, err := c.rd.ReadString('\n')
	if err != nil {
		return s, err
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// reply is a decoded server line.
type reply struct {
	Success bool
	Data    json.RawMessage
	Error   *string
	Kind    string
	Code    string
	ID      json.RawMessage `json:"Id"`
}

func (c *client) reply() reply {
	c.t.Helper()
	s := c.line()
	var r reply
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		c.t.Fatalf("bad server line %q: %v", s, err)
	}
	return r
}

// call sends one request line and returns the next line as a reply.
func (c *client) call(s string) reply {
	c.t.Helper()
	c.send(s + "\n")
	return c.reply()
}

// mustOK sends a request and fails the test unless it succeeds.
func (c *client) mustOK(s string) reply {
	c.t.Helper()
	r := c.call(s)
	if !r.Success {
		c.t.Fatalf("%s: failed: %s (%s)", s, deref(r.Error), r.Code)
	}
	return r
}

// expectEOF waits for the server to close the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	for {
		s, err := c.tryLine(10 * time.Second)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") {
			return
		}
		c.t.Fatalf("expected EOF, got %q, %v", s, err)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
