package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// withPeers is a bus configuration that knows its peers' credentials, as
// the daemon's does: monitoring is for the bus's own user.
func withPeers(cfg server.Config) server.Config {
	cfg.Peer = func(c net.Conn) (server.PeerInfo, error) {
		p, err := transport.PeerOf(c)
		return server.PeerInfo{PID: p.PID, UID: p.UID, GID: p.GID}, err
	}
	return cfg
}

// collector gathers a Monitor's traces.
type collector struct {
	t  *testing.T
	m  *client.Monitor
	of []client.Trace
}

func monitor(t *testing.T, c *client.Conn, f client.MonitorFilter, opts ...client.MonitorOption) *collector {
	t.Helper()
	m, err := c.Monitor(ctxT(t), f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &collector{t: t, m: m}
}

// until reads traces until one satisfies cond, and returns it.
func (k *collector) until(what string, cond func(client.Trace) bool) client.Trace {
	k.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case tr, ok := <-k.m.Traces():
			if !ok {
				k.t.Fatalf("monitor ended (%v) before %s", k.m.Err(), what)
			}
			k.of = append(k.of, tr)
			if cond(tr) {
				return tr
			}
		case <-deadline:
			k.t.Fatalf("no trace %s; got:\n%s", what, k.dump())
		}
	}
}

func (k *collector) dump() string {
	var b strings.Builder
	for _, tr := range k.of {
		line, _ := tr.MarshalJSON()
		fmt.Fprintf(&b, "%s\n", line)
	}
	return b.String()
}

func is(kind, outcome, source, target, event string) func(client.Trace) bool {
	return func(tr client.Trace) bool {
		return tr.Type == kind && tr.Outcome == outcome && tr.Source == source && tr.Target == target && tr.Event == event
	}
}

// Every kind of trace appears for the action that makes it, with its
// outcome.
func TestMonitorSeesEveryKind(t *testing.T) {
	b := startBus(t, withPeers(server.Config{}))
	mc := dial(t, b)
	k := monitor(t, mc, client.MonitorFilter{})
	a := dial(t, b, "a")
	k.until("register a", is(client.TraceRegister, client.OutcomeOK, "a", "", ""))
	bc := dial(t, b, "b")
	bc.OnRequest("GET", func(ctx context.Context, ev client.Event) (any, error) { return map[string]int{"v": 42}, nil })

	if err := a.Send(ctxT(t), "b", "GO", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	tr := k.until("event a -> b", is(client.TraceEvent, client.OutcomeDelivered, "a", "b", "GO"))
	if string(tr.Payload) != `{"n":1}` || tr.PayloadBytes != 7 || tr.TargetConn == 0 || tr.Conn == 0 || tr.Seq == 0 || tr.Time.IsZero() {
		t.Errorf("event trace %+v", tr)
	}
	if err := a.Send(ctxT(t), "nobody", "GO", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatal(err)
	}
	tr = k.until("failed event", is(client.TraceEvent, "target_not_connected", "a", "nobody", "GO"))
	if !tr.Failed() || tr.Error == "" {
		t.Errorf("failed event trace %+v", tr)
	}
	if _, err := a.Publish(ctxT(t), "NEWS", nil); err != nil {
		t.Fatal(err)
	}
	tr = k.until("publish", func(tr client.Trace) bool { return tr.Type == client.TracePublish && tr.Event == "NEWS" })
	if tr.Recipients != 1 || tr.Source != "a" {
		t.Errorf("publish trace %+v", tr)
	}
	if _, err := a.Request(ctxT(t), "b", "GET", nil); err != nil {
		t.Fatal(err)
	}
	req := k.until("request", is(client.TraceRequest, client.OutcomeDelivered, "a", "b", "GET"))
	rep := k.until("reply", func(tr client.Trace) bool { return tr.Type == client.TraceReply })
	if req.RequestID == 0 || rep.RequestID != req.RequestID || rep.Outcome != client.OutcomeDelivered || rep.Target != "a" ||
		string(rep.Payload) != `{"v":42}` {
		t.Errorf("request %+v\nreply %+v", req, rep)
	}
	if err := a.ReportState(ctxT(t), "a", "idle", "active", map[string]int{"hits": 2}, nil); err != nil {
		t.Fatal(err)
	}
	tr = k.until("state", func(tr client.Trace) bool { return tr.Type == client.TraceState })
	if tr.Source != "a" || tr.Outcome != client.OutcomeOK || string(tr.Payload) != `{"Value":"idle","Status":"active","Context":{"hits":2}}` {
		t.Errorf("state trace %+v %s", tr, tr.Payload)
	}
	raw, err := transport.Dial(ctxT(t), b.path)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte("nonsense\n"))
	k.until("connect", func(tr client.Trace) bool { return tr.Type == client.TraceConnect })
	k.until("failure", func(tr client.Trace) bool { return tr.Type == client.TraceFailure && tr.Outcome == "invalid_json" })
	raw.Close()
	k.until("disconnect", func(tr client.Trace) bool { return tr.Type == client.TraceDisconnect })
	if err := bc.Unregister(ctxT(t), "b"); err != nil {
		t.Fatal(err)
	}
	k.until("unregister b", is(client.TraceUnregister, client.OutcomeOK, "b", "", ""))
	a.Close()
	tr = k.until("a released", is(client.TraceUnregister, client.OutcomeOK, "a", "", ""))
	if tr.Size != 0 {
		t.Errorf("release on close %+v", tr)
	}
}

// The bus applies the filter: machines, events, kinds, payload options.
func TestMonitorFilters(t *testing.T) {
	b := startBus(t, withPeers(server.Config{}))
	mc := dial(t, b)
	ui := dial(t, b, "ui")
	dial(t, b, "worker-1")
	dial(t, b, "other")
	k := monitor(t, mc, client.MonitorFilter{Machines: []string{"worker-*"}, Events: []string{"JOB*"}, Kinds: []string{client.TraceEvent},
		MaxPayloadBytes: 8})
	send := func(target, event string, payload any) {
		t.Helper()
		if err := ui.Send(ctxT(t), target, event, payload); err != nil {
			t.Fatal(err)
		}
	}
	send("other", "JOB", 1)             // machine filtered out
	send("worker-1", "PING", 1)         // event filtered out
	ui.Publish(ctxT(t), "JOB_ALL", nil) // kind filtered out
	send("worker-1", "JOB", map[string]any{"id": 7, "name": "long enough"})
	tr := k.until("JOB", is(client.TraceEvent, client.OutcomeDelivered, "ui", "worker-1", "JOB"))
	if len(k.of) != 1 {
		t.Fatalf("traces that do not match the filter:\n%s", k.dump())
	}
	if !tr.Truncated || string(tr.Payload) != `"{\"id\":7,"` || tr.PayloadBytes != 29 {
		t.Errorf("cut payload %+v %s", tr, tr.Payload)
	}
	if err := k.m.SetFilter(ctxT(t), client.MonitorFilter{Machines: []string{"worker-1"}, NoPayload: true}); err != nil {
		t.Fatal(err)
	}
	send("worker-1", "JOB2", "payload")
	tr = k.until("JOB2", is(client.TraceEvent, client.OutcomeDelivered, "ui", "worker-1", "JOB2"))
	if tr.Payload != nil || tr.PayloadBytes != 9 || tr.Truncated {
		t.Errorf("payload left out: %+v", tr)
	}
	if f := k.m.Filter(); !f.NoPayload || f.Machines[0] != "worker-1" {
		t.Errorf("Filter() = %+v", f)
	}
	// A bad filter is the bus's invalid_payload; the old one stays.
	var be *client.Error
	if err := k.m.SetFilter(ctxT(t), client.MonitorFilter{MaxPayloadBytes: -1}); !errors.As(err, &be) || be.Code != "invalid_payload" {
		t.Fatalf("negative MaxPayloadBytes: %v", err)
	}
	if err := k.m.SetFilter(ctxT(t), client.MonitorFilter{Kinds: []string{"nope"}}); !errors.As(err, &be) || be.Code != "invalid_payload" {
		t.Fatalf("unknown kind: %v", err)
	}
}

// A consumer that never reads costs the Conn nothing: the traces beyond
// the buffer are counted as dropped on the client, calls still work.
func TestMonitorConsumerThatNeverReads(t *testing.T) {
	b := startBus(t, withPeers(server.Config{}))
	mc := dial(t, b)
	m, err := mc.Monitor(ctxT(t), client.MonitorFilter{Kinds: []string{client.TraceEvent}}, client.WithTraceBuffer(8))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := dial(t, b, "a")
	dial(t, b, "b")
	const n = 200
	for i := range n {
		if err := a.SendAsync("b", "E", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return m.Stats().Received >= n })
	if _, err := mc.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	if st.ClientDropped != st.Received-8 || st.Received < n {
		t.Fatalf("stats %+v: want every trace beyond the 8 buffered dropped", st)
	}
	if len(m.Traces()) != 8 {
		t.Fatalf("%d traces buffered", len(m.Traces()))
	}
}

// When the monitor's connection does not read, the bus drops traces for
// it and, once it reads again, says how many with a dropped trace.
func TestMonitorBusDropsForASlowReader(t *testing.T) {
	b := startBus(t, withPeers(server.Config{MaxQueueBytes: 32 << 10}))
	raw, err := transport.Dial(ctxT(t), b.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte(`{"Type":"Monitor","Payload":{"Kinds":["event","dropped"]},"Id":1}` + "\n")); err != nil {
		t.Fatal(err)
	}
	// Shrink the socket buffer so the bus's queue fills quickly.
	if uc, ok := raw.(*net.UnixConn); ok {
		uc.SetReadBuffer(4 << 10)
	}
	a := dial(t, b, "a")
	dial(t, b, "b")
	big := strings.Repeat("x", 2000)
	for range 2000 {
		if err := a.SendAsync("b", "E", big); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	a.Send(ctxT(t), "b", "LAST", nil) // a trace after the drops
	dec := json.NewDecoder(raw)
	raw.SetReadDeadline(time.Now().Add(15 * time.Second))
	var dropped uint64
	for {
		var line struct {
			Data json.RawMessage
			Kind string
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("reading: %v (dropped so far %d)", err, dropped)
		}
		if line.Kind != "Trace" {
			continue
		}
		var tr client.Trace
		if err := json.Unmarshal(line.Data, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Type == client.TraceDropped {
			dropped += tr.Count
		}
		if tr.Event == "LAST" {
			break
		}
	}
	if dropped == 0 {
		t.Fatal("no dropped trace, or a Count of 0")
	}
}

// After the bus restarts, the Conn monitors again with its filter.
func TestMonitorAgainAfterReconnect(t *testing.T) {
	b := startBus(t, withPeers(server.Config{}))
	mc, err := client.Dial(ctxT(t), b.path, client.WithLogger(quiet), client.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	k := monitor(t, mc, client.MonitorFilter{Machines: []string{"a"}})
	b.stop()
	b.start()
	a, err := client.Dial(ctxT(t), b.path, client.WithMachines("a"), client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// a may register before the monitor is back: send until a trace
	// of it arrives.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case tr, ok := <-k.m.Traces():
			if !ok {
				t.Fatalf("monitor ended: %v", k.m.Err())
			}
			if tr.Source == "a" && tr.Event == "AGAIN" {
				return
			}
		case <-tick.C:
			a.SendAs(ctxT(t), "a", "nobody", "AGAIN", nil)
		case <-deadline:
			t.Fatal("no trace after the restart")
		}
	}
}

// Monitoring needs a privileged peer; with a token configured, a
// connection that did not present it is refused with a typed error.
func TestMonitorUnauthorized(t *testing.T) {
	b := startBus(t, withPeers(server.Config{Token: "t0ken"}))
	c, err := client.Dial(ctxT(t), b.path, client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Monitor(ctxT(t), client.MonitorFilter{})
	var be *client.Error
	if !errors.As(err, &be) || be.Code != "unauthorized" || !errors.Is(err, client.ErrRejected) {
		t.Fatalf("Monitor without the token: %v", err)
	}
	ok, err := client.Dial(ctxT(t), b.path, client.WithToken("t0ken"), client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	m, err := ok.Monitor(ctxT(t), client.MonitorFilter{})
	if err != nil {
		t.Fatalf("Monitor with the token: %v", err)
	}
	m.Close()
}

// Closing the Conn ends the Monitor with ErrClosed.
func TestMonitorEndsWithTheConn(t *testing.T) {
	b := startBus(t, withPeers(server.Config{}))
	mc, err := client.Dial(ctxT(t), b.path, client.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mc.Monitor(ctxT(t), client.MonitorFilter{})
	if err != nil {
		t.Fatal(err)
	}
	mc.Close()
	for range m.Traces() {
	}
	if !errors.Is(m.Err(), client.ErrClosed) {
		t.Fatalf("Err %v", m.Err())
	}
}
