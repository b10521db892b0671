package chartbus_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/statebus/statebus/chartbus"
	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
	"github.com/statebus/statebus/statechart"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startBus runs a real bus on a throwaway socket for the test.
func startBus(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbcb")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bus.sock")
	srv, err := server.New(server.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		os.RemoveAll(dir)
	})
	return path
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, path string, ids ...string) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctxT(t), path, client.WithMachines(ids...), client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func loadFile(t *testing.T, file string, reg *statechart.Registry) *statechart.Machine {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := statechart.Load(data, reg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// journal records the steps of every machine of a Host.
type journal struct {
	mu    sync.Mutex
	steps []string
}

func (j *journal) observe(st statechart.Step) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.steps = append(j.steps, st.Machine+":"+st.Event.Name+"<"+st.Event.Source)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.steps...)
}

// run starts h.Run and stops it at cleanup.
func run(t *testing.T, h *chartbus.Host) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		h.Close(cctx)
	})
}

func waitDone(t *testing.T, a *statechart.Actor) {
	t.Helper()
	select {
	case <-a.Done():
	case <-ctxT(t).Done():
		t.Fatalf("%s never finished: %s", a.ID(), mustJSON(a.Snapshot()))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

const pingFile, pongFile = "../examples/pingpong/ping.json", "../examples/pingpong/pong.json"

// The same two charts, once in two "processes" (two connections) and
// once in one Host: same events, same order; in one Host nothing goes
// through the bus.
func TestPingPongAcrossConnectionsAndInProcess(t *testing.T) {
	path := startBus(t)
	ping, pong := loadFile(t, pingFile, nil), loadFile(t, pongFile, nil)
	want := []string{"pong:xstate.init<", "ping:xstate.init<", "pong:PING<ping", "ping:PONG<pong", "pong:PING<ping",
		"ping:PONG<pong", "pong:PING<ping", "ping:PONG<pong", "pong:STOP<ping"}

	var j1, j2 journal
	h1 := chartbus.New(dial(t, path), statechart.WithObserver(j1.observe))
	h2 := chartbus.New(dial(t, path), statechart.WithObserver(j2.observe))
	run(t, h1)
	run(t, h2)
	pongA, err := h2.Start(ctxT(t), "pong", pong)
	if err != nil {
		t.Fatal(err)
	}
	waitInit(t, &j2)
	pingA, err := h1.Start(ctxT(t), "ping", ping)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, pingA)
	waitDone(t, pongA)
	if got := merge(j1.list(), j2.list()); !equalPerMachine(got, want) {
		t.Fatalf("across connections: %v\nwant per machine %v", got, want)
	}

	var j3 journal
	c := dial(t, path)
	before, _ := c.Metrics(ctxT(t))
	h3 := chartbus.New(c, statechart.WithObserver(j3.observe))
	run(t, h3)
	pongB, _ := h3.Start(ctxT(t), "pong2", retarget(t, pongFile, "ping", "ping2"))
	pingB, _ := h3.Start(ctxT(t), "ping2", retarget(t, pingFile, "pong", "pong2"))
	waitDone(t, pingB)
	waitDone(t, pongB)
	got := strings.ReplaceAll(strings.Join(j3.list(), ","), "2", "")
	if got != strings.Join(want, ",") {
		t.Fatalf("in one host: %s\nwant %s", got, strings.Join(want, ","))
	}
	after, _ := c.Metrics(ctxT(t))
	if after.EventsRouted != before.EventsRouted {
		t.Fatalf("in-process machines routed %d events through the bus", after.EventsRouted-before.EventsRouted)
	}
}

func waitInit(t *testing.T, j *journal) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(j.list()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("machine never started")
		}
		time.Sleep(time.Millisecond)
	}
}

// retarget loads a chart with its peer id renamed.
func retarget(t *testing.T, file, from, to string) *statechart.Machine {
	data, _ := os.ReadFile(file)
	m, err := statechart.Load([]byte(strings.ReplaceAll(string(data), `"to": "`+from+`"`, `"to": "`+to+`"`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func merge(a, b []string) []string { return append(append([]string(nil), a...), b...) }

// equalPerMachine compares the order of steps of each machine (two
// journals from two hosts interleave arbitrarily).
func equalPerMachine(got, want []string) bool {
	per := func(list []string) map[string][]string {
		m := map[string][]string{}
		for _, s := range list {
			id, _, _ := strings.Cut(s, ":")
			m[id] = append(m[id], s)
		}
		return m
	}
	return mustJSON(per(got)) == mustJSON(per(want))
}

// Bus requests to a chart are answered by its reply action, or with its
// snapshot; a chart's request to a Go client comes back as an event.
func TestRequestReplyOverTheBus(t *testing.T) {
	path := startBus(t)
	calc := dial(t, path, "adder")
	calc.OnRequest("ADD", func(ctx context.Context, ev client.Event) (any, error) {
		var in struct{ A, B int }
		ev.Decode(&in)
		return in.A + in.B, nil
	})
	chart, err := statechart.Load([]byte(`{"id": "clerk", "initial": "idle", "context": {}, "states": {
	  "idle": {"on": {
	    "HELLO": {"actions": {"type": "reply", "params": {"payload": {"hi": "there"}}}},
	    "SUM": {"target": "asking", "actions": {"type": "request", "params": {"to": "adder", "event": "ADD", "payload": {"A": 40, "B": 2}, "timeout": 5000}}}}},
	  "asking": {"on": {"ADD.reply": {"target": "idle", "actions": {"type": "assign", "params": {"key": "sum", "fromEvent": ""}}}}}}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := chartbus.New(dial(t, path))
	run(t, h)
	if _, err := h.Start(ctxT(t), "clerk", chart); err != nil {
		t.Fatal(err)
	}
	user := dial(t, path, "user")
	got, err := user.Request(ctxT(t), "clerk", "HELLO", nil)
	if err != nil || string(got) != `{"hi":"there"}` {
		t.Fatalf("HELLO: %s %v", got, err)
	}
	got, err = user.Request(ctxT(t), "clerk", "SUM", nil)
	if err != nil || !strings.Contains(string(got), `"value":"asking"`) {
		t.Fatalf("SUM (no reply action: the snapshot): %s %v", got, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = user.Request(ctxT(t), "clerk", "STATUS", nil)
		if err == nil && strings.Contains(string(got), `"sum":42`) && strings.Contains(string(got), `"value":"idle"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from adder: %s %v", got, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := user.Request(ctxT(t), "ghost", "X", nil); err == nil {
		t.Fatal("request to an unknown id succeeded")
	}
}

// Start refuses an id another connection owns, and Stop frees the id.
func TestStartAndStop(t *testing.T) {
	path := startBus(t)
	dial(t, path, "taken")
	h := chartbus.New(dial(t, path))
	run(t, h)
	m, _ := statechart.Load([]byte(`{"id": "x", "initial": "a", "states": {"a": {}}}`), nil)
	if _, err := h.Start(ctxT(t), "taken", m); err == nil {
		t.Fatal("started a chart on a taken id")
	}
	if h.System().Hosts("taken") {
		t.Fatal("failed start left the machine hosted")
	}
	if _, err := h.Start(ctxT(t), "mine", m); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(ctxT(t), "mine"); err != nil {
		t.Fatal(err)
	}
	other := dial(t, path)
	if err := other.Register(ctxT(t), "mine"); err != nil {
		t.Fatalf("id not released: %v", err)
	}
}
