package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/windows"

	"github.com/statebus/statebus/internal/conformance"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

func TestMain(m *testing.M) {
	// go-winio's one completion-port goroutine lives as long as the process.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/Microsoft/go-winio.ioCompletionProcessor"))
}

// underWine reports whether the test runs under Wine.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

var pipes atomic.Int64

// TestConformanceNamedPipe runs the conformance suite over Windows named
// pipes (go-winio), as .NET clients connect on Windows. CI runs it under
// Wine (.ci/wine-test).
func TestConformanceNamedPipe(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		// A pipe tells the client's process id, not its user.
		Features: conformance.Features{PeerPID: true},
		Start:    startPipeBus,
	})
}

// pipeBus is a real server on a fresh named pipe.
type pipeBus struct {
	srv  *server.Server
	path string
}

func (b pipeBus) Dial(conformance.Side) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return transport.Dial(ctx, b.path)
}

func (b pipeBus) Bound(id string) bool { return b.srv.Hosts(id) }

func startPipeBus(t testing.TB, l conformance.Limits) conformance.Bus {
	t.Helper()
	path := transport.PipePath(fmt.Sprintf("statebus-conformance-%d-%d", os.Getpid(), pipes.Add(1)))
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if underWine() {
		// Wine hands a go-winio listener's first client to its placeholder
		// instance, which is never accepted: let a throwaway client take
		// that place, until the listener is closed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := transport.Dial(ctx, path)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	srv, err := server.New(server.Config{
		MaxConnections:           l.MaxConnections,
		MaxMessageBytes:          l.MaxMessageBytes,
		MaxQueueBytes:            l.MaxQueueBytes,
		MaxMachinesPerConnection: l.MaxMachinesPerConnection,
		MaxPendingRequests:       l.MaxPendingRequests,
		RequestTimeout:           l.RequestTimeout,
		Peer: func(c net.Conn) (server.PeerInfo, error) {
			p, err := transport.PeerOf(c)
			return server.PeerInfo{PID: p.PID, UID: p.UID, GID: p.GID}, err
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return pipeBus{srv: srv, path: path}
}
