package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// bus is a real statebus server on a Unix socket that can be restarted
// on the same path.
type bus struct {
	t    testing.TB
	path string
	cfg  server.Config
	srv  *server.Server
	done chan error
}

func startBus(t testing.TB, cfg server.Config) *bus {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.Logger = quiet
	b := &bus{t: t, path: filepath.Join(dir, "bus.sock"), cfg: cfg}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *bus) start() {
	b.t.Helper()
	srv, err := server.New(b.cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	ln, err := transport.Listen(b.path, transport.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	b.srv, b.done = srv, make(chan error, 1)
	go func() { b.done <- srv.Serve(ln) }()
}

func (b *bus) stop() {
	if b.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.srv.Shutdown(ctx)
	<-b.done
	b.srv = nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, b *bus, ids ...string) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctxT(t), b.path, client.WithMachines(ids...), client.WithLogger(quiet),
		client.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSendAndReceive(t *testing.T) {
	b := startBus(t, server.Config{})
	a, c := dial(t, b, "a"), dial(t, b, "c")
	got := c.Expect("HELLO")
	if err := a.Send(ctxT(t), "c", "HELLO", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	ev, err := got.Wait(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Source != "a" || ev.Target != "c" || ev.Name != "HELLO" || string(ev.Payload) != `{"n":1}` || ev.Timestamp.IsZero() {
		t.Fatalf("event %+v", ev)
	}
	var p struct{ N int }
	if err := ev.Decode(&p); err != nil || p.N != 1 {
		t.Fatalf("decode: %v %+v", err, p)
	}
	// Raw payloads pass through untouched; invalid ones are refused locally.
	raw := json.RawMessage(`{"big":123456789012345678901234567890,"z":1,"a":2}`)
	got = c.Expect("RAW")
	if err := a.Send(ctxT(t), "c", "RAW", raw); err != nil {
		t.Fatal(err)
	}
	if ev, _ := got.Wait(ctxT(t)); string(ev.Payload) != string(raw) {
		t.Fatalf("raw payload became %s", ev.Payload)
	}
	if err := a.Send(ctxT(t), "c", "BAD", json.RawMessage(`{oops`)); err == nil {
		t.Fatal("invalid raw payload accepted")
	}
}

func TestTypedErrors(t *testing.T) {
	b := startBus(t, server.Config{MaxQueueBytes: 8 << 10})
	a := dial(t, b, "a")
	err := a.Send(ctxT(t), "nobody", "E", nil)
	var be *client.Error
	if !errors.Is(err, client.ErrNotConnected) || !errors.As(err, &be) || be.Code != "target_not_connected" {
		t.Fatalf("send to nobody: %v", err)
	}
	// Another connection may not take a registered id; Dial fails loudly.
	if _, err := client.Dial(ctxT(t), b.path, client.WithMachines("a"), client.WithLogger(quiet)); !errors.Is(err, client.ErrIDTaken) {
		t.Fatalf("dial with a taken id: %v", err)
	}
	// A target that never reads fills up.
	slow, err := client.Dial(ctxT(t), b.path, client.WithMachines("slow"), client.WithLogger(quiet), client.WithDispatchQueue(1))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	block := make(chan struct{})
	defer close(block)
	slow.OnEvent("*", func(client.Event) { <-block })
	payload := string(make([]byte, 2000))
	var full bool
	for i := 0; i < 5000 && !full; i++ {
		err := a.Send(ctxT(t), "slow", "FLOOD", payload)
		full = errors.Is(err, client.ErrQueueFull)
		if err != nil && !full {
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("never got ErrQueueFull")
	}
	// Nothing to send as.
	anon := dial(t, b)
	if err := anon.Send(ctxT(t), "a", "E", nil); !errors.Is(err, client.ErrNoMachine) {
		t.Fatalf("send without machine: %v", err)
	}
}

func TestDialFailsWhenNothingListens(t *testing.T) {
	start := time.Now()
	_, err := client.Dial(context.Background(), filepath.Join(t.TempDir(), "none.sock"), client.WithDialTimeout(200*time.Millisecond))
	if err == nil {
		t.Fatal("dial succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestHandlersWildcardAndWaits(t *testing.T) {
	b := startBus(t, server.Config{})
	a, c := dial(t, b, "a"), dial(t, b, "c")
	var named, wild atomic.Int32
	c.OnEvent("X", func(client.Event) { named.Add(1) })
	remove := c.OnEvent("*", func(client.Event) { wild.Add(1) })
	evs := c.Events(ctxT(t), 16)

	// Two waits on the same name both see the event; nothing is consumed.
	w1, w2 := c.Expect("X"), c.Expect("*")
	a.Send(ctxT(t), "c", "Y", nil)
	a.Send(ctxT(t), "c", "X", 1)
	if ev, err := w1.Wait(ctxT(t)); err != nil || ev.Name != "X" {
		t.Fatalf("w1: %v %v", ev, err)
	}
	if ev, err := w2.Wait(ctxT(t)); err != nil || ev.Name != "Y" {
		t.Fatalf("w2: %v %v", ev, err)
	}
	for _, want := range []string{"Y", "X"} {
		if ev := <-evs; ev.Name != want {
			t.Fatalf("channel got %s, want %s", ev.Name, want)
		}
	}
	if err := a.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return named.Load() == 1 && wild.Load() == 2 })
	remove()
	done := c.Expect("Z")
	a.Send(ctxT(t), "c", "Z", nil)
	done.Wait(ctxT(t))
	<-evs
	waitFor(t, func() bool { return named.Load() == 1 && wild.Load() == 2 })

	// A wait that times out leaves nothing behind.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.WaitForEvent(ctx, "NEVER"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait: %v", err)
	}
}

func TestSlowHandlerDoesNotStallAcks(t *testing.T) {
	b := startBus(t, server.Config{})
	a, c := dial(t, b, "a"), dial(t, b, "c")
	release := make(chan struct{})
	c.OnEvent("SLOW", func(client.Event) { <-release })
	a.Send(ctxT(t), "c", "SLOW", nil)
	// c's handler is stuck, yet c's own calls still get their replies.
	for range 10 {
		if _, err := c.Ping(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(ctxT(t), "a", "E", nil); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
}

func TestRequestReply(t *testing.T) {
	b := startBus(t, server.Config{})
	a, srv := dial(t, b, "asker"), dial(t, b, "answerer")
	srv.OnRequest("ADD", func(ctx context.Context, ev client.Event) (any, error) {
		var in struct{ X, Y int }
		if err := ev.Decode(&in); err != nil {
			return nil, err
		}
		return map[string]int{"Sum": in.X + in.Y}, nil
	})
	srv.OnRequest("FAIL", func(ctx context.Context, ev client.Event) (any, error) {
		return nil, errors.New("cannot do that")
	})
	out, err := a.Request(ctxT(t), "answerer", "ADD", map[string]int{"X": 2, "Y": 3})
	if err != nil || string(out) != `{"Sum":5}` {
		t.Fatalf("ADD: %s %v", out, err)
	}
	_, err = a.Request(ctxT(t), "answerer", "FAIL", nil)
	var be *client.Error
	if !errors.Is(err, client.ErrRemote) || !errors.As(err, &be) || be.Text != "cannot do that" {
		t.Fatalf("FAIL: %v", err)
	}
	_, err = a.Request(ctxT(t), "answerer", "UNHANDLED", nil)
	if !errors.Is(err, client.ErrRemote) {
		t.Fatalf("UNHANDLED: %v", err)
	}
	// Concurrent requests are matched to their own replies.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := a.Request(ctxT(t), "answerer", "ADD", map[string]int{"X": i, "Y": 1})
			if err != nil || string(out) != fmt.Sprintf(`{"Sum":%d}`, i+1) {
				t.Errorf("request %d: %s %v", i, out, err)
			}
		}()
	}
	wg.Wait()
}

func TestRequestTargetDiesOrTimesOut(t *testing.T) {
	b := startBus(t, server.Config{})
	a := dial(t, b, "asker")
	victim, err := client.Dial(ctxT(t), b.path, client.WithMachines("victim"), client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	victim.OnRequest("*", func(ctx context.Context, ev client.Event) (any, error) {
		close(got)
		<-ctx.Done() // never answers; the connection closes under it
		return nil, ctx.Err()
	})
	errc := make(chan error, 1)
	go func() {
		_, err := a.Request(ctxT(t), "victim", "Q", nil)
		errc <- err
	}()
	<-got
	victim.Close()
	if err := <-errc; !errors.Is(err, client.ErrTargetGone) {
		t.Fatalf("target died: %v", err)
	}

	silent := dial(t, b, "silent")
	silent.OnRequest("*", func(ctx context.Context, ev client.Event) (any, error) {
		<-ctx.Done()
		return nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.Request(ctx, "silent", "Q", nil); !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("silent target: %v", err)
	}
}

func TestPublish(t *testing.T) {
	b := startBus(t, server.Config{})
	pub := dial(t, b, "pub", "pub-2")
	subs := []*client.Conn{dial(t, b, "s1"), dial(t, b, "s2", "s3")}
	w := []*client.Expectation{subs[0].Expect("NEWS"), subs[1].Expect("NEWS")}
	n, err := pub.Publish(ctxT(t), "NEWS", "hi")
	if err != nil || n != 3 {
		t.Fatalf("Publish = %d, %v", n, err)
	}
	for _, e := range w {
		if ev, err := e.Wait(ctxT(t)); err != nil || ev.Source != "pub" || string(ev.Payload) != `"hi"` {
			t.Fatalf("%+v %v", ev, err)
		}
	}
}

func TestAsyncSendsReportEveryFailure(t *testing.T) {
	b := startBus(t, server.Config{})
	var mu sync.Mutex
	var failures []*client.AsyncError
	a, err := client.Dial(ctxT(t), b.path, client.WithMachines("a"), client.WithLogger(quiet),
		client.WithAsyncErrorHandler(func(e *client.AsyncError) {
			mu.Lock()
			failures = append(failures, e)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := dial(t, b, "c")
	var got atomic.Int32
	c.OnEvent("N", func(client.Event) { got.Add(1) })
	for i := range 1000 {
		target := "c"
		if i%100 == 0 {
			target = "missing"
		}
		if err := a.SendAsync(target, "N", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) != 10 || failures[0].Target != "missing" || !errors.Is(failures[0], client.ErrNotConnected) {
		t.Fatalf("failures: %d %v", len(failures), failures)
	}
	waitFor(t, func() bool { return got.Load() == 990 })
	if a.Stats().AsyncErrors != 10 {
		t.Fatalf("Stats %+v", a.Stats())
	}
}

func TestConcurrentSenders(t *testing.T) {
	b := startBus(t, server.Config{})
	c := dial(t, b, "sink")
	var got atomic.Int32
	c.OnEvent("*", func(client.Event) { got.Add(1) })
	a := dial(t, b, "src")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if i%2 == 0 {
					if err := a.Send(ctxT(t), "sink", "E", g); err != nil {
						t.Error(err)
						return
					}
				} else if err := a.SendAsync("sink", "E", g); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	a.Flush(ctxT(t))
	waitFor(t, func() bool { return got.Load() == 1600 })
}

func TestReconnectAcrossBusRestart(t *testing.T) {
	b := startBus(t, server.Config{})
	states := make(chan client.State, 32)
	a, err := client.Dial(ctxT(t), b.path, client.WithMachines("a1", "a2"), client.WithLogger(quiet),
		client.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		client.WithStateHandler(func(s client.State, err error) { states <- s }))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := dial(t, b, "c")
	var got atomic.Int32
	a.OnEvent("PING", func(client.Event) { got.Add(1) })
	if err := c.Send(ctxT(t), "a1", "PING", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return got.Load() == 1 })

	b.stop()
	waitFor(t, func() bool { return a.State() != client.StateConnected })
	if err := a.Send(ctxT(t), "c", "E", nil); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("send while down: %v", err)
	}
	b.start()
	waitFor(t, func() bool { return a.State() == client.StateConnected && c.State() == client.StateConnected })
	// Both ids are registered again and the handler is still armed.
	for _, id := range []string{"a1", "a2"} {
		if err := c.Send(ctxT(t), id, "PING", nil); err != nil {
			t.Fatalf("send to %s after restart: %v", id, err)
		}
	}
	waitFor(t, func() bool { return got.Load() == 3 })
	var seen []client.State
	for len(states) > 0 {
		seen = append(seen, <-states)
	}
	if len(seen) < 3 || seen[len(seen)-1] != client.StateConnected {
		t.Fatalf("state changes %v", seen)
	}
}

func TestWaitForReconnect(t *testing.T) {
	b := startBus(t, server.Config{})
	a, err := client.Dial(ctxT(t), b.path, client.WithMachines("a"), client.WithLogger(quiet),
		client.WithBackoff(10*time.Millisecond, 50*time.Millisecond), client.WithWaitForReconnect(true))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b.stop()
	waitFor(t, func() bool { return a.State() != client.StateConnected })
	done := make(chan error, 1)
	go func() {
		_, err := a.Ping(ctxT(t))
		done <- err
	}()
	b.start()
	if err := <-done; err != nil {
		t.Fatalf("ping across restart: %v", err)
	}
}

func TestCloseFailsPendingAndIsIdempotent(t *testing.T) {
	b := startBus(t, server.Config{})
	a := dial(t, b, "a")
	slow := dial(t, b, "slow")
	slow.OnRequest("*", func(ctx context.Context, ev client.Event) (any, error) {
		<-ctx.Done()
		return nil, nil
	})
	errc := make(chan error, 1)
	go func() {
		_, err := a.Request(ctxT(t), "slow", "Q", nil)
		errc <- err
	}()
	waitFor(t, func() bool {
		m, _ := slow.Metrics(ctxT(t))
		return m.PendingRequests == 1
	})
	a.Close()
	if err := <-errc; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("pending request after Close: %v", err)
	}
	a.Close()
	if err := a.Send(ctxT(t), "slow", "E", nil); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("send after Close: %v", err)
	}
	if a.State() != client.StateClosed {
		t.Fatal(a.State())
	}
}

func TestHealthMetricsMachines(t *testing.T) {
	b := startBus(t, server.Config{})
	a := dial(t, b, "a1", "a2")
	h, err := a.Health(ctxT(t))
	if err != nil || !h.IsHealthy || h.RegisteredMachines != 2 || h.ConnectionCount != 1 {
		t.Fatalf("%+v %v", h, err)
	}
	m, err := a.Metrics(ctxT(t))
	if err != nil || m.PeakConnections != 1 || m.Uptime <= 0 || m.StartedAt.IsZero() {
		t.Fatalf("%+v %v", m, err)
	}
	list, err := a.ListMachines(ctxT(t))
	if err != nil || len(list) != 2 || list[0].ID != "a1" || list[0].ProcessID != int64(os.Getpid()) {
		t.Fatalf("%+v %v", list, err)
	}
	if err := a.Unregister(ctxT(t), "a2"); err != nil {
		t.Fatal(err)
	}
	if got := a.Machines(); len(got) != 1 {
		t.Fatalf("Machines %v", got)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Every event the bus acknowledged before, during and after a restart
// reaches its target exactly once; only unacknowledged sends may be lost.
func TestAcknowledgedEventsSurviveBusRestart(t *testing.T) {
	b := startBus(t, server.Config{})
	recv, sender := dial(t, b, "recv"), dial(t, b, "sender")
	var mu sync.Mutex
	got := map[int]int{}
	recv.OnEvent("N", func(ev client.Event) {
		var n int
		ev.Decode(&n)
		mu.Lock()
		got[n]++
		mu.Unlock()
	})
	var acked []int
	restarted := false
	for i := 0; len(acked) < 300; i++ {
		if i == 100 {
			b.stop() // the bus flushes queued events before closing
			b.start()
			restarted = true
		}
		err := sender.Send(ctxT(t), "recv", "N", i)
		switch {
		case err == nil:
			acked = append(acked, i)
		case errors.Is(err, client.ErrDisconnected), errors.Is(err, client.ErrNotConnected):
			// Not acknowledged: may be lost. Wait for both to be back.
			waitFor(t, func() bool {
				return sender.State() == client.StateConnected && recv.State() == client.StateConnected
			})
		default:
			t.Fatal(err)
		}
		if i > 100000 {
			t.Fatal("sends never resumed after the restart")
		}
	}
	if !restarted {
		t.Fatal("no restart")
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range acked {
			if got[n] == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for n, k := range got {
		if k != 1 {
			t.Fatalf("event %d delivered %d times", n, k)
		}
	}
}

func TestToken(t *testing.T) {
	b := startBus(t, server.Config{Token: "t0ken"})
	if _, err := client.Dial(ctxT(t), b.path, client.WithMachines("x"), client.WithLogger(quiet)); err == nil {
		t.Fatal("dial without the token succeeded")
	}
	anon, err := client.Dial(ctxT(t), b.path, client.WithToken("t0ken"), client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Health(ctxT(t)); err != nil {
		t.Fatalf("authenticated connection without machines: %v", err)
	}
	c, err := client.Dial(ctxT(t), b.path, client.WithMachines("x"), client.WithToken("t0ken"), client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.ListMachines(ctxT(t))
	if err != nil || len(list) != 1 || list[0].PeerPID != -1 {
		t.Fatalf("%+v %v", list, err) // this test bus has no Peer function
	}
}

func TestWithoutReconnectTheConnClosesWhenTheBusGoes(t *testing.T) {
	b := startBus(t, server.Config{})
	states := make(chan client.State, 8)
	c, err := client.Dial(ctxT(t), b.path, client.WithMachines("a"), client.WithReconnect(false), client.WithLogger(quiet),
		client.WithStateHandler(func(s client.State, err error) { states <- s }))
	if err != nil {
		t.Fatal(err)
	}
	b.stop()
	waitFor(t, func() bool { return c.State() == client.StateClosed })
	if _, err := c.Ping(ctxT(t)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("ping after the bus left: %v", err)
	}
	done := make(chan struct{})
	go func() { c.Close(); c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
}

func TestRequestAsync(t *testing.T) {
	b := startBus(t, server.Config{})
	a, srv := dial(t, b, "asker"), dial(t, b, "answerer")
	srv.OnRequest("ECHO", func(ctx context.Context, ev client.Event) (any, error) { return ev.Payload, nil })
	results := make(chan string, 10)
	for i := range 5 {
		err := a.RequestAsync("asker", "answerer", "ECHO", i, 0, func(out json.RawMessage, err error) {
			results <- fmt.Sprintf("%s %v", out, err)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := a.RequestAsync("asker", "nobody", "ECHO", nil, 0, func(out json.RawMessage, err error) {
		if !errors.Is(err, client.ErrNotConnected) {
			results <- fmt.Sprint("wrong error: ", err)
			return
		}
		results <- "not connected"
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 6 {
		select {
		case r := <-results:
			got[r] = true
		case <-time.After(10 * time.Second):
			t.Fatal("missing completions")
		}
	}
	for _, want := range []string{"0 <nil>", "1 <nil>", "2 <nil>", "3 <nil>", "4 <nil>", "not connected"} {
		if !got[want] {
			t.Fatalf("completions %v lack %q", got, want)
		}
	}
}

func TestSendBufferBoundsAFastSender(t *testing.T) {
	b := startBus(t, server.Config{})
	sink := dial(t, b, "sink")
	var got atomic.Int32
	sink.OnEvent("*", func(client.Event) { got.Add(1) })
	fast, err := client.Dial(ctxT(t), b.path, client.WithMachines("fast"), client.WithLogger(quiet), client.WithSendBuffer(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	payload := strings.Repeat("p", 500)
	for range 2000 { // 1 MB through an 8 KiB send buffer
		if err := fast.SendAsync("sink", "E", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := fast.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return got.Load()+int32(fast.Stats().AsyncErrors) == 2000 })
}
