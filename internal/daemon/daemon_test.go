package daemon_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/daemon"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// shortDir returns a directory with a path short enough for a socket.
func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startNATS runs an in-process nats-server with JetStream.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return "nats://" + ns.Addr().(*net.TCPAddr).String()
}

// options returns daemon options for a bus on socket as host (no bridge
// when natsURL is empty), with extra environment entries.
func options(socket, natsURL, host string, env ...string) daemon.Options {
	environ := []string{"Bridge__HeartbeatSeconds=1"}
	if natsURL != "" {
		environ = append(environ, "Bridge__Nats__Url="+natsURL, "Bridge__HostName="+host)
	}
	return daemon.Options{
		Sources:  config.Sources{Environ: append(environ, env...)},
		Override: func(c *config.Config) error { c.SocketPath = socket; return nil },
	}
}

func start(t *testing.T, o daemon.Options) *daemon.Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := daemon.Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(d.Stop)
	return d
}

func dial(t *testing.T, path string, ids ...string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, path, client.WithMachines(ids...), client.WithReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A second bus started on a live bus's socket, with the same host name on
// the same NATS network, must fail without touching anything: not the
// live host's ownership of its ids, not requests pending on other hosts.
func TestSecondStartLeavesTheLiveBusAlone(t *testing.T) {
	url := startNATS(t)
	pathA := filepath.Join(shortDir(t), "a.sock")
	pathB := filepath.Join(shortDir(t), "b.sock")
	start(t, options(pathA, url, "host-a"))
	start(t, options(pathB, url, "host-b"))

	onA := dial(t, pathA, "on-a")
	asked := make(chan struct{})
	answer := make(chan struct{})
	onA.OnRequest("HOLD", func(ctx context.Context, ev client.Event) (any, error) {
		close(asked)
		<-answer
		return map[string]string{"from": "on-a"}, nil
	})
	onB := dial(t, pathB, "on-b")

	// A request from host-b, pending on host-a while the second bus tries.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		data []byte
		err  error
	}
	replied := make(chan result, 1)
	go func() {
		data, err := onB.Request(ctx, "on-a", "HOLD", nil)
		replied <- result{data, err}
	}()
	select {
	case <-asked:
	case <-ctx.Done():
		t.Fatal("the request did not reach host-a")
	}

	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	second, err := daemon.Start(sctx, options(pathA, url, "host-a"))
	if err == nil {
		second.Stop()
		t.Fatal("a second bus started on a live bus's socket")
	}
	if !errors.Is(err, daemon.ErrInUse) || !strings.Contains(err.Error(), pathA) {
		t.Fatalf("second Start: %v; want ErrInUse naming %s", err, pathA)
	}

	// The pending request completes; host-a still owns on-a everywhere.
	close(answer)
	select {
	case r := <-replied:
		if r.err != nil || !strings.Contains(string(r.data), "on-a") {
			t.Fatalf("pending request: %s, %v", r.data, r.err)
		}
	case <-ctx.Done():
		t.Fatal("the pending request never completed")
	}
	if err := onB.Send(ctx, "on-a", "STILL_THERE", nil); err != nil {
		t.Fatalf("host-b -> on-a after the refused start: %v", err)
	}
	thief := dial(t, pathB)
	if err := thief.Register(ctx, "on-a"); !errors.Is(err, client.ErrIDTaken) {
		t.Fatalf("registering on-a on host-b: %v; want id_taken (host-a's claim must stand)", err)
	}
	// The live bus still serves its socket.
	if _, err := dial(t, pathA).Ping(ctx); err != nil {
		t.Fatalf("the live bus: %v", err)
	}
}

// A start that fails after binding (here: HTTP on a non-loopback
// address) releases everything it took: the socket file, the bridge's
// place on the NATS network, every goroutine (checked by goleak).
func TestFailedStartReleasesEverything(t *testing.T) {
	url := startNATS(t)
	path := filepath.Join(shortDir(t), "bus.sock")
	o := options(path, url, "host-x", "MessageBus__HttpAddress=192.0.2.1:9475")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := daemon.Start(ctx, o)
	if err == nil {
		d.Stop()
		t.Fatal("Start with a non-loopback HTTP address succeeded")
	}
	if !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Start: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left behind: %v", err)
	}
	// The same host can start at once: nothing of the failed one remains.
	start(t, options(path, url, "host-x"))
	dial(t, path, "x-1")
}

// Stop is idempotent and Wait returns after Stop.
func TestStopAndWait(t *testing.T) {
	path := filepath.Join(shortDir(t), "bus.sock")
	d := start(t, options(path, "", ""))
	if d.Path() != path {
		t.Fatalf("Path %q", d.Path())
	}
	waited := make(chan error, 1)
	go func() { waited <- d.Wait(context.Background()) }()
	d.Stop()
	d.Stop()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Stop")
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left behind: %v", err)
	}
}
