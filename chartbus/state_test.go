package chartbus_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statebus/statebus/chartbus"
	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
	"github.com/statebus/statebus/statechart"
)

// startMonitoredBus is startBus with the peers' credentials, so that the
// test (the bus's own user) may monitor.
func startMonitoredBus(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbcb")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bus.sock")
	srv, err := server.New(server.Config{Logger: quiet, Peer: func(c net.Conn) (server.PeerInfo, error) {
		p, err := transport.PeerOf(c)
		return server.PeerInfo{PID: p.PID, UID: p.UID, GID: p.GID}, err
	}})
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

const doorChart = `{
  "id": "door", "initial": "closed", "context": {"n": 0},
  "states": {
    "closed": {"on": {"OPEN": {"target": "open", "actions": {"type": "increment", "params": {"key": "n"}}}}},
    "open": {"initial": "swinging", "states": {"swinging": {}}, "on": {"CLOSE": "closed"}}
  }
}`

// A member reports its state after every macrostep, one report each, the
// first with the chart's definition; the Host's own observers still run.
func TestMembersReportTheirState(t *testing.T) {
	path := startMonitoredBus(t)
	mon := dial(t, path)
	m, err := mon.Monitor(ctxT(t), client.MonitorFilter{Kinds: []string{client.TraceState}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var steps atomic.Int64
	h := chartbus.New(dial(t, path), statechart.WithObserver(func(statechart.Step) { steps.Add(1) }))
	machine, err := statechart.Load([]byte(doorChart), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Start(ctxT(t), "door", machine); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		h.Run(ctx)
		close(ran)
	}()
	defer func() {
		cancel()
		<-ran
		h.Close(ctxT(t))
	}()
	next := func() client.Trace {
		t.Helper()
		select {
		case tr := <-m.Traces():
			return tr
		case <-time.After(10 * time.Second):
			t.Fatal("no state trace")
		}
		return client.Trace{}
	}
	if tr := next(); tr.Source != "door" || string(tr.Payload) != `{"Value":"closed","Status":"active","Context":{"n":0}}` {
		t.Fatalf("first report %+v %s", tr, tr.Payload)
	}
	sender := dial(t, path, "ui")
	for _, ev := range []string{"OPEN", "CLOSE", "OPEN"} {
		if err := sender.Send(ctxT(t), "door", ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{`{"open":"swinging"}`, `"closed"`, `{"open":"swinging"}`}
	for i, w := range want {
		tr := next()
		var p struct {
			Value   json.RawMessage
			Context struct{ N int }
		}
		json.Unmarshal(tr.Payload, &p)
		if string(p.Value) != w {
			t.Fatalf("report %d: %s, want value %s", i+1, tr.Payload, w)
		}
	}
	info, err := sender.MachineState(ctxT(t), "door")
	if err != nil || info.State.String() != "open.swinging" || !strings.HasPrefix(string(info.Definition), `{"id":"door","initial":"closed",`) {
		t.Fatalf("MachineState %+v %v", info, err)
	}
	if n := steps.Load(); n != 4 {
		t.Errorf("the Host's observer saw %d steps, want 4", n)
	}
	// Exactly one report per step: a Ping after the last send comes after
	// its report; nothing else is buffered.
	if _, err := mon.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Traces()); n != 0 {
		t.Errorf("%d more reports than steps", n)
	}
}
