package inspector_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/inspector"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// testBus is a real server on a throwaway socket, with the inspector
// served by httptest.
type testBus struct {
	srv  *server.Server
	path string
	insp *inspector.Inspector
	http *httptest.Server
}

func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sbi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startBus serves a server with cfg and an inspector with o until the
// test ends (the inspector's streams end first, then HTTP, then the bus).
func startBus(t *testing.T, cfg server.Config, o inspector.Options) *testBus {
	t.Helper()
	path := filepath.Join(shortDir(t), "bus.sock")
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	b := &testBus{srv: srv, path: path, insp: inspector.New(inspector.ForServer(srv), o)}
	b.http = httptest.NewServer(b.insp)
	t.Cleanup(b.http.Close)
	t.Cleanup(b.insp.Close)
	return b
}

// rawConn is a client speaking raw wire lines.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, r: bufio.NewReaderSize(nc, 1<<16)}
}

func (c *rawConn) send(line string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// reply reads one server line.
func (c *rawConn) reply() map[string]any {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		c.t.Fatalf("reply %q: %v", line, err)
	}
	return m
}

// next reads server lines until one of Kind kind.
func (c *rawConn) next(kind string) map[string]any {
	c.t.Helper()
	for {
		if m := c.reply(); m["Kind"] == kind {
			return m
		}
	}
}

// call sends a line and fails the test unless its reply is a success;
// pushed events read meanwhile are skipped.
func (c *rawConn) call(line string) map[string]any {
	c.t.Helper()
	c.send(line)
	m := c.next("Reply")
	if m["Success"] != true {
		c.t.Fatalf("%s: %v", line, m)
	}
	return m
}

func register(c *rawConn, ids ...string) {
	c.t.Helper()
	for _, id := range ids {
		c.call(`{"Type":"Register","Payload":"` + id + `"}`)
	}
}

func eventLine(from, to, name, payload string) string {
	return `{"Type":2,"Payload":{"SourceMachineId":"` + from + `","TargetMachineId":"` + to + `","EventName":"` + name + `","Payload":` + payload + `}}`
}

// reportLine is a ReportState line for id in state value, with def if not "".
func reportLine(id, value, context, def string) string {
	p := `{"MachineId":"` + id + `","Value":` + value + `,"Status":"active","Context":` + context
	if def != "" {
		p += `,"Definition":` + def
	}
	return `{"Type":"ReportState","Payload":` + p + `}}`
}

// drain reads and discards the connection's lines until it closes.
func (c *rawConn) drain() {
	go func() {
		buf := make([]byte, 1<<16)
		for {
			c.nc.SetReadDeadline(time.Time{})
			if _, err := c.nc.Read(buf); err != nil {
				return
			}
		}
	}()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chart is a small definition with a parallel state, for the tests.
const chart = `{"id":"light","initial":"off","context":{"n":0},"states":{"off":{"on":{"ON":"on"}},"on":{"type":"parallel","states":{"color":{"initial":"red","states":{"red":{"on":{"NEXT":"green"}},"green":{}}},"power":{"initial":"low","states":{"low":{},"high":{}}}},"on":{"OFF":"off"}}}}`
