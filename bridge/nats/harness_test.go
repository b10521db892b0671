package nats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test timing: heartbeats every 50ms, dead after 400ms.
const (
	testHeartbeat = 50 * time.Millisecond
	testDeadAfter = 400 * time.Millisecond
	// testBound is the documented bound for a dead host's machines to
	// vanish (DeadAfter + Heartbeat), with slack for a loaded CI machine.
	testBound = testDeadAfter + testHeartbeat + 2*time.Second
)

var quiet = func() *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}()

// natsServer is an in-process nats-server with JetStream.
type natsServer struct {
	t    testing.TB
	srv  *natsserver.Server
	port int
	dir  string
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	n := &natsServer{t: t, port: -1, dir: t.TempDir()}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server not ready")
	}
	n.srv = s
	n.port = s.Addr().(*net.TCPAddr).Port
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// host is one statebus instance: a real server on a real Unix socket
// with its own bridge.
type host struct {
	t      testing.TB
	name   string
	srv    *server.Server
	br     *Bridge
	path   string
	served chan error
	killed bool
}

func shortDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "sbn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startHost(t testing.TB, n *natsServer, name string) *host {
	t.Helper()
	return startHostWith(t, n, name, "", server.Config{})
}

// startHostWith starts a host whose bus has cfg's limits (RequestTimeout
// 5s unless set) and whose bridge uses prefix ("" for the default).
func startHostWith(t testing.TB, n *natsServer, name, prefix string, cfg server.Config) *host {
	t.Helper()
	cfg.Logger = quiet
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	br, err := New(srv, Config{
		URL: n.url(), HostName: name, Prefix: prefix, Heartbeat: testHeartbeat, DeadAfter: testDeadAfter,
		ReconnectWait: 20 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetBridge(br)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := br.Start(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shortDir(t), "bus.sock")
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, name: name, srv: srv, br: br, path: path, served: make(chan error, 1)}
	go func() { h.served <- srv.Serve(ln) }()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the bus down, then the bridge, as serve does.
func (h *host) stop() {
	if h.killed {
		return
	}
	h.killed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
		h.t.Errorf("Shutdown: %v", err)
	}
	<-h.served
	if err := h.br.Stop(ctx); err != nil {
		h.t.Errorf("bridge Stop: %v", err)
	}
}

// kill drops the host as a crash would: the NATS link goes without a
// goodbye, then the bus stops.
func (h *host) kill() {
	h.killed = true
	h.br.abort()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.srv.Shutdown(ctx)
	<-h.served
}

// dial connects a client registering ids. It reconnects (the default):
// with WithReconnect(false) a Conn whose bus goes away deadlocks in
// Close (supervise waits for itself) and leaks two goroutines.
func (h *host) dial(ids ...string) *client.Conn {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, h.path, client.WithMachines(ids...), client.WithLogger(quiet))
	if err != nil {
		h.t.Fatalf("dial %s: %v", h.name, err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// sees reports whether h lists id as a machine of host other.
func (h *host) sees(id, other string) bool {
	for _, m := range h.br.Machines() {
		if m.ID == id && m.Host == other {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ctx returns a context that ends after d, cancelled at cleanup.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// meshed waits until every host sees every other one.
func meshed(t testing.TB, hosts ...*host) {
	t.Helper()
	waitFor(t, 10*time.Second, "hosts to see each other", func() bool {
		for _, h := range hosts {
			if st := h.br.Status(); !st.Connected || st.Hosts != len(hosts)-1 {
				return false
			}
		}
		return true
	})
}
