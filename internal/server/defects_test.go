package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// openFiles counts this process's descriptors (-1 where /proc is absent).
func openFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// goroutinesIn reports how many goroutines have fn in their stack.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			n++
		}
	}
	return n
}

// A server that is never served holds nothing: every early return of a
// daemon's start-up after New leaks nothing.
func TestNewStartsNothing(t *testing.T) {
	files := openFiles()
	before := goroutinesIn("internal/server.")
	for range 20 {
		if _, err := server.New(server.Config{Logger: discardLogger()}); err != nil {
			t.Fatal(err)
		}
	}
	if n := goroutinesIn("internal/server."); n > before {
		t.Errorf("%d server goroutines after New without Serve, %d before", n, before)
	}
	if f := openFiles(); f > files {
		t.Errorf("%d open files after New without Serve, %d before", f, files)
	}
}

// A connection refused by Authorize while Shutdown runs must not start a
// goroutine that outlives Shutdown (Shutdown's Wait raced its wg.Add).
func TestRefusalDuringShutdown(t *testing.T) {
	inAuthorize := make(chan struct{})
	release := make(chan struct{})
	srv, err := server.New(server.Config{
		Logger: discardLogger(),
		Authorize: func(server.PeerInfo) error {
			close(inAuthorize)
			<-release
			return errors.New("not on the list")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shortDir(t), "bus.sock")
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close() // held open: a refusal would linger on it for a second
	select {
	case <-inAuthorize:
	case <-time.After(10 * time.Second):
		t.Fatal("Authorize was not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	close(release)
	select {
	case err := <-served:
		if !errors.Is(err, server.ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	// Shutdown and Serve have both returned: nothing of the server may run.
	if n := goroutinesIn("server.(*Server).refuse"); n != 0 {
		t.Fatalf("%d refusal goroutines outlived Shutdown", n)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(nc).ReadString('\n'); err == nil {
		t.Fatalf("a connection accepted during Shutdown got %q; want it closed", line)
	}
}

// Many connections parking and waking at once, with parking after a
// millisecond of silence, while the bus shuts down: the hand-over between
// a reader, the parker and Shutdown must be atomic (run with -race). Each
// round ends with every client speaking at once, so that all readers park
// together about a millisecond later, when Shutdown resumes them.
func TestParkingChurnUnderShutdown(t *testing.T) {
	defer server.SetParkAfter(time.Millisecond)()
	for round := range 3 {
		bus := startBus(t, server.Config{})
		const n = 50
		cs := make([]*client, n)
		for i := range cs {
			cs[i] = bus.dial(t)
			register(cs[i], fmt.Sprintf("churn-%d-%d", round, i))
		}
		churn := func(quiet time.Duration) {
			var wg sync.WaitGroup
			for i, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(i), uint64(round)))
					for range 20 {
						if quiet > 0 {
							time.Sleep(time.Duration(r.Int64N(int64(quiet))))
						}
						c.nc.Write([]byte(`{"Type":"Ping"}` + "\n"))
						if _, err := c.tryLine(10 * time.Second); err != nil {
							t.Errorf("ping: %v", err)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
		churn(3 * time.Millisecond) // about half the pings find their connection parked
		waitFor(t, "connections to park", func() bool { return server.Parked(bus.Server) > n/2 })
		churn(0)
		time.Sleep(time.Millisecond + time.Duration(round)*200*time.Microsecond)
		bus.stop(t)
		for _, c := range cs {
			c.expectEOF()
		}
	}
}

// A requester that stops reading its replies is disconnected and the log
// says so (it used to say "write failed").
func TestNotReadingRequesterIsLoggedAsSuch(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bus := startBus(t, server.Config{Logger: log, MaxQueueBytes: 16 << 10})
	target := bus.dial(t)
	register(target, "answerer")
	req := bus.dial(t)
	register(req, "asker")
	if uc, ok := req.nc.(*net.UnixConn); ok {
		uc.SetReadBuffer(1024)
	}
	// The asker sends requests and never reads; the answerer answers each
	// with 4 KiB until the bus gives up on the asker.
	go func() {
		for i := 1; i <= 200; i++ {
			line := fmt.Sprintf(`{"Type":"Request","Id":%d,"Payload":{"SourceMachineId":"asker","TargetMachineId":"answerer","EventName":"Q"}}`+"\n", i)
			if _, err := req.nc.Write([]byte(line)); err != nil {
				return
			}
		}
	}()
	big := `"` + strings.Repeat("a", 4096) + `"`
	for {
		s, err := target.tryLine(10 * time.Second)
		if err != nil {
			t.Fatalf("answerer: %v", err)
		}
		var id int
		if _, err := fmt.Sscanf(s[strings.Index(s, `"RequestId":`)+len(`"RequestId":`):], "%d", &id); err != nil {
			continue // an acknowledgement of an earlier Reply
		}
		target.send(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d,"Payload":%s}}`+"\n", id, big))
		if !bus.Hosts("asker") {
			break
		}
	}
	waitFor(t, "the log to say why", func() bool { return strings.Contains(logs.String(), "not reading its replies") })
	if strings.Contains(logs.String(), "write failed") {
		t.Fatalf("log says write failed:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
