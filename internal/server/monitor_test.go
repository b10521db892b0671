package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/server"
)

// traceLine is a decoded "Kind":"Trace" line.
type traceLine struct {
	Success bool
	Data    protocol.Trace
	Kind    string
}

// monitor attaches c as a monitor with the filter payload (or none).
func monitor(t *testing.T, c *client, filter string) {
	t.Helper()
	line := `{"Type":"Monitor","Id":"m"}`
	if filter != "" {
		line = `{"Type":"Monitor","Payload":` + filter + `,"Id":"m"}`
	}
	r := c.call(line)
	if !r.Success || string(r.Data) != `{"Monitoring":true}` || string(r.ID) != `"m"` {
		t.Fatalf("Monitor: %+v %s", r, r.Data)
	}
}

// nextTrace reads lines until a trace arrives.
func nextTrace(t *testing.T, c *client) protocol.Trace {
	t.Helper()
	for {
		s := c.line()
		var tl traceLine
		if err := json.Unmarshal([]byte(s), &tl); err != nil {
			t.Fatalf("bad line %q: %v", s, err)
		}
		if tl.Kind == "Trace" {
			return tl.Data
		}
	}
}

// waitTrace reads traces until one satisfies ok, and returns it.
func waitTrace(t *testing.T, c *client, what string, ok func(protocol.Trace) bool) protocol.Trace {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if tr := nextTrace(t, c); ok(tr) {
			return tr
		}
	}
	t.Fatalf("no trace: %s", what)
	return protocol.Trace{}
}

func is(kind, outcome string) func(protocol.Trace) bool {
	return func(tr protocol.Trace) bool { return tr.Type == kind && tr.Outcome == outcome }
}

// Every kind of bus action makes its trace, with the documented members.
func TestMonitorTracesEveryKind(t *testing.T) {
	bus := startBus(t, server.Config{RequestTimeout: 200 * time.Millisecond})
	mon := bus.dial(t)
	monitor(t, mon, "")

	a := bus.dial(t)
	tr := waitTrace(t, mon, "connect", is("connect", "ok"))
	if tr.Conn == 0 || tr.Pid <= 0 || tr.Uid < 0 {
		t.Fatalf("connect trace %+v", tr)
	}
	register(a, "a")
	tr = waitTrace(t, mon, "register a", is("register", "ok"))
	if tr.Source != "a" || tr.Size == 0 {
		t.Fatalf("register trace %+v", tr)
	}
	b := bus.dial(t)
	register(b, "b")
	register(b, "a2")
	b.send(`{"Type":0,"Payload":{"MachineId":"a"}}` + "\n") // taken
	if r := b.reply(); r.Code != "id_taken" {
		t.Fatalf("want id_taken: %+v", r)
	}
	waitTrace(t, mon, "register refused", func(tr protocol.Trace) bool {
		return tr.Type == "register" && tr.Outcome == "id_taken" && tr.Source == "a" && strings.Contains(tr.Error, "owned by another")
	})

	a.mustOK(strings.TrimSuffix(sendLine("a", "b", "JOB", `{"id": 7, "n":[1,2]}`), "\n"))
	b.reply() // the event
	tr = waitTrace(t, mon, "event delivered", is("event", "delivered"))
	if tr.Source != "a" || tr.Target != "b" || tr.Event != "JOB" || string(tr.Payload) != `{"id": 7, "n":[1,2]}` ||
		tr.TargetConn == 0 || tr.TargetPid <= 0 || tr.PayloadBytes != 20 || tr.Truncated || tr.Size < 100 {
		t.Fatalf("event trace %+v (payload %s)", tr, tr.Payload)
	}
	first := tr.Seq

	if r := a.call(strings.TrimSuffix(sendLine("a", "nobody", "JOB", `1`), "\n")); r.Code != "target_not_connected" {
		t.Fatalf("%+v", r)
	}
	tr = waitTrace(t, mon, "event failed", is("event", "target_not_connected"))
	if tr.Target != "nobody" || tr.Error != "Target machine not connected: nobody" || tr.TargetPid != -1 || tr.Seq <= first {
		t.Fatalf("failed event trace %+v", tr)
	}

	a.mustOK(`{"Type":"Publish","Payload":{"SourceMachineId":"a","EventName":"NEWS","Payload":"hi"}}`)
	tr = waitTrace(t, mon, "publish", is("publish", "delivered"))
	if tr.Recipients != 2 || tr.Event != "NEWS" || string(tr.Payload) != `"hi"` {
		t.Fatalf("publish trace %+v", tr)
	}

	a.send(`{"Type":"Request","Id":5,"Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"Q","Payload":{"k":1}}}` + "\n")
	tr = waitTrace(t, mon, "request", is("request", "delivered"))
	if tr.RequestID == 0 || tr.Target != "b" || tr.Event != "Q" {
		t.Fatalf("request trace %+v", tr)
	}
	rid := tr.RequestID
	for {
		s := b.line()
		if strings.Contains(s, `"Kind":"Request"`) {
			break
		}
	}
	b.mustOK(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d,"Payload":{"v":42}}}`, rid))
	if r := a.reply(); !r.Success {
		t.Fatalf("answer %+v", r)
	}
	tr = waitTrace(t, mon, "reply", is("reply", "delivered"))
	if tr.RequestID != rid || tr.Source != "b" || tr.Target != "a" || tr.Event != "Q" || string(tr.Payload) != `{"v":42}` {
		t.Fatalf("reply trace %+v", tr)
	}
	b.call(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%d}}`, rid))
	waitTrace(t, mon, "late reply", is("reply", "unknown_request"))

	a.send(`{"Type":"Request","Id":6,"Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"SLOW"}}` + "\n")
	waitTrace(t, mon, "timeout", is("reply", "timeout"))
	if r := a.reply(); r.Code != "timeout" {
		t.Fatalf("want the timeout: %+v", r)
	}

	if r := a.call(`{"Type":"Bogus"}`); r.Code != "unknown_type" {
		t.Fatalf("%+v", r)
	}
	tr = waitTrace(t, mon, "failure", is("failure", "unknown_type"))
	if tr.Conn == 0 || tr.Error != "Unknown message type: Bogus" {
		t.Fatalf("failure trace %+v", tr)
	}

	a.mustOK(`{"Type":"ReportState","Payload":{"MachineId":"a","Value":{"run":"busy"},"Status":"active","Context":{"n":1}}}`)
	tr = waitTrace(t, mon, "state", is("state", "ok"))
	if tr.Source != "a" || string(tr.Payload) != `{"Value":{"run":"busy"},"Status":"active","Context":{"n":1}}` {
		t.Fatalf("state trace %+v %s", tr, tr.Payload)
	}

	b.mustOK(`{"Type":1,"Payload":"a2"}`)
	waitTrace(t, mon, "unregister", func(tr protocol.Trace) bool { return tr.Type == "unregister" && tr.Source == "a2" })

	a.nc.Close()
	waitTrace(t, mon, "released on disconnect", func(tr protocol.Trace) bool {
		return tr.Type == "unregister" && tr.Source == "a" && tr.Size == 0
	})
	waitTrace(t, mon, "disconnect", is("disconnect", "ok"))
}

// Filters select by machine, event and kind; payloads are cut or left out.
func TestMonitorFilters(t *testing.T) {
	bus := startBus(t, server.Config{})
	cut := bus.dial(t)
	monitor(t, cut, `{"Machines":["w*"],"Events":["JOB*"],"Kinds":["event"],"MaxPayloadBytes":3}`)
	none := bus.dial(t)
	monitor(t, none, `{"Kinds":["event"],"Payload":false}`)

	c := bus.dial(t)
	register(c, "ui")
	w := bus.dial(t)
	register(w, "worker-1")
	c.mustOK(strings.TrimSuffix(sendLine("ui", "worker-1", "PING", `1`), "\n"))              // event name filtered out
	c.mustOK(strings.TrimSuffix(sendLine("ui", "ui", "JOB", `1`), "\n"))                     // machine filtered out
	c.reply()                                                                                // the ack: the event to itself came first
	c.mustOK(strings.TrimSuffix(sendLine("ui", "worker-1", "JOB_A", `"héllo wörld"`), "\n")) // passes
	tr := nextTrace(t, cut)
	if tr.Event != "JOB_A" || !tr.Truncated || tr.PayloadBytes != len(`"héllo wörld"`) {
		t.Fatalf("filtered trace %+v", tr)
	}
	var s string
	if err := json.Unmarshal(tr.Payload, &s); err != nil || s != `"h` {
		t.Fatalf("cut payload %s (%q): want the whole characters of the first 3 bytes (é cut)", tr.Payload, s)
	}
	for range 3 {
		if tr := nextTrace(t, none); string(tr.Payload) != "null" || tr.PayloadBytes == 0 {
			t.Fatalf("Payload:false trace %+v", tr)
		}
	}
	// A bad filter is refused.
	for _, f := range []string{`"all"`, `{"Kinds":["nope"]}`, `{"MaxPayloadBytes":-1}`, `{"Machines":[1]}`} {
		if r := c.call(`{"Type":"Monitor","Payload":` + f + `}`); r.Code != "invalid_payload" {
			t.Fatalf("filter %s: %+v", f, r)
		}
	}
}

// A monitor that never reads loses traces, counted, and routing goes on:
// every event is delivered, the monitor's queue stays bounded, and once
// it reads again it is told how many it missed.
func TestMonitorThatNeverReads(t *testing.T) {
	const queue = 64 << 10
	bus := startBus(t, server.Config{MaxQueueBytes: queue})
	mon := bus.dial(t)
	monitor(t, mon, "")
	if uc, ok := mon.nc.(*net.UnixConn); ok {
		uc.SetReadBuffer(4096)
	}
	snd := bus.dial(t)
	register(snd, "snd")
	rcv := bus.dial(t)
	register(rcv, "rcv")
	payload := `"` + strings.Repeat("p", 500) + `"`
	const n = 2000
	go func() {
		for range n {
			if _, err := rcv.rd.ReadString('\n'); err != nil {
				return
			}
		}
	}()
	for i := range n {
		if r := snd.call(strings.TrimSuffix(sendLine("snd", "rcv", "E", payload), "\n")); !r.Success {
			t.Fatalf("event %d: %+v", i, r)
		}
	}
	if d := bus.TracesDropped(); d == 0 {
		t.Fatal("no trace dropped for a monitor that never reads")
	}
	if q := bus.Snapshot().QueuedBytes; q > 2*queue {
		t.Fatalf("queued %d bytes, bound %d", q, queue)
	}
	// It reads again: a dropped trace with the count comes before new ones.
	snd.mustOK(strings.TrimSuffix(sendLine("snd", "rcv", "LAST", `1`), "\n"))
	var missed uint64
	waitTrace(t, mon, "the dropped count", func(tr protocol.Trace) bool {
		if tr.Type == "dropped" {
			missed = tr.Count
		}
		return tr.Event == "LAST"
	})
	if missed == 0 {
		t.Fatal("no dropped trace before the next one")
	}
}

// Only privileged peers may monitor.
func TestMonitorRefused(t *testing.T) {
	bus := startBus(t, server.Config{AuthorizeMonitor: func(p server.PeerInfo) error {
		return errors.New("not on the list")
	}})
	c := bus.dial(t)
	r := c.call(`{"Type":"Monitor"}`)
	if r.Code != "unauthorized" || !strings.Contains(deref(r.Error), "Monitoring requires a privileged peer: not on the list") {
		t.Fatalf("%+v %s", r, deref(r.Error))
	}
	register(c, "still-works")

	tok := startBus(t, server.Config{Token: "s3cret"})
	c = tok.dial(t)
	if r := c.call(`{"Type":"Monitor"}`); r.Code != "unauthorized" {
		t.Fatalf("without the token: %+v", r)
	}
	c.mustOK(`{"Type":"Monitor","Token":"s3cret"}`)
}

// Many monitors each see every trace.
func TestManyMonitors(t *testing.T) {
	bus := startBus(t, server.Config{})
	var mons []*client
	for range 8 {
		m := bus.dial(t)
		monitor(t, m, `{"Kinds":["event"]}`)
		mons = append(mons, m)
	}
	c := bus.dial(t)
	register(c, "x")
	c.mustOK(strings.TrimSuffix(sendLine("x", "x", "HELLO", `1`), "\n"))
	for i, m := range mons {
		if tr := nextTrace(t, m); tr.Event != "HELLO" {
			t.Fatalf("monitor %d: %+v", i, tr)
		}
	}
	if bus.Monitors() != 8 {
		t.Fatalf("%d monitors attached", bus.Monitors())
	}
	for _, m := range mons {
		m.nc.Close()
	}
	waitFor(t, "monitors to detach", func() bool { return bus.Monitors() == 0 })
}

// ReportState keeps a machine's latest state for ListMachines and
// MachineState, until the id is released.
func TestReportState(t *testing.T) {
	bus := startBus(t, server.Config{})
	c := bus.dial(t)
	register(c, "chart")
	other := bus.dial(t)
	if r := other.call(`{"Type":"ReportState","Payload":{"MachineId":"chart","Value":"x"}}`); r.Code != "not_owner" {
		t.Fatalf("someone else's state: %+v", r)
	}
	r := c.mustOK(`{"Type":"ReportState","Payload":{"MachineId":"chart","Value":{"a":"b"},"Status":"active","Context":{"n":1},"Definition":{"id":"chart","initial":"a"}}}`)
	if string(r.Data) != `{"MachineId":"chart","Reported":true}` {
		t.Fatalf("reply %s", r.Data)
	}
	c.mustOK(`{"Type":"ReportState","Payload":{"MachineId":"chart","Value":"done","Status":"done"}}`)
	r = other.mustOK(`{"Type":"MachineState","Payload":"chart"}`)
	var ms struct {
		MachineId  string
		State      protocol.State
		Definition json.RawMessage
	}
	if err := json.Unmarshal(r.Data, &ms); err != nil || string(ms.State.Value) != `"done"` || ms.State.Status != "done" ||
		string(ms.Definition) != `{"id":"chart","initial":"a"}` {
		t.Fatalf("MachineState %s", r.Data)
	}
	r = other.mustOK(`{"Type":"ListMachines"}`)
	if !strings.Contains(string(r.Data), `"State":{"Value":"done","Status":"done","Context":null,"UpdatedAt":"`) {
		t.Fatalf("ListMachines %s", r.Data)
	}
	if r := other.call(`{"Type":"MachineState","Payload":"nobody"}`); r.Code != "target_not_connected" {
		t.Fatalf("%+v", r)
	}
	c.nc.Close()
	waitFor(t, "the id to be released", func() bool { return !bus.Hosts("chart") })
	c2 := bus.dial(t)
	register(c2, "chart")
	r = c2.mustOK(`{"Type":"MachineState","Payload":"chart"}`)
	if !strings.Contains(string(r.Data), `"State":null,"Definition":null`) {
		t.Fatalf("state kept past release: %s", r.Data)
	}
}

// An in-process Tap gets copies of traces and never blocks the bus.
func TestTap(t *testing.T) {
	bus := startBus(t, server.Config{})
	tap := bus.Tap(protocol.TraceFilter{Kinds: []string{"event"}}, 1)
	defer tap.Close()
	c := bus.dial(t)
	register(c, "x")
	for range 5 {
		c.mustOK(strings.TrimSuffix(sendLine("x", "x", "E", `{"k":1}`), "\n"))
		c.reply()
	}
	tr := <-tap.C()
	if tr.Type != "event" || string(tr.Payload) != `{"k":1}` {
		t.Fatalf("tap trace %+v", tr)
	}
	c.mustOK(strings.TrimSuffix(sendLine("x", "x", "LAST", `1`), "\n"))
	c.reply()
	tr = <-tap.C()
	if tr.Type != "dropped" || tr.Count != 4 {
		t.Fatalf("want a dropped trace of 4, got %+v", tr)
	}
	tap.Close()
	if _, ok := <-tap.C(); ok {
		t.Fatal("C not closed")
	}
}

// Monitor with Stop detaches the monitor; the connection stays usable.
func TestMonitorStop(t *testing.T) {
	bus := startBus(t, server.Config{})
	m := bus.dial(t)
	monitor(t, m, `{"Kinds":["event"]}`)
	if bus.Monitors() != 1 {
		t.Fatalf("%d monitors", bus.Monitors())
	}
	r := m.call(`{"Type":"Monitor","Payload":{"Stop":true}}`)
	if !r.Success || string(r.Data) != `{"Monitoring":false}` || bus.Monitors() != 0 {
		t.Fatalf("stop: %+v %s, %d monitors", r, r.Data, bus.Monitors())
	}
	register(m, "after")
	m.mustOK(strings.TrimSuffix(sendLine("after", "after", "E", `1`), "\n"))
	if s := m.line(); strings.Contains(s, `"Kind":"Trace"`) {
		t.Fatalf("a trace after Stop: %s", s)
	}
}

// ListMachines tells how much waits for each machine's connection.
func TestListMachinesQueuedBytes(t *testing.T) {
	bus := startBus(t, server.Config{})
	slow := bus.dial(t)
	register(slow, "slow")
	if uc, ok := slow.nc.(*net.UnixConn); ok {
		uc.SetReadBuffer(4096)
	}
	snd := bus.dial(t)
	register(snd, "snd")
	big := `"` + strings.Repeat("q", 32<<10) + `"`
	for range 20 {
		snd.mustOK(strings.TrimSuffix(sendLine("snd", "slow", "BIG", big), "\n"))
	}
	var list []protocol.MachineData
	waitFor(t, "slow's queue in ListMachines", func() bool {
		r := snd.mustOK(`{"Type":"ListMachines"}`)
		if err := json.Unmarshal(r.Data, &list); err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			if m.MachineId == "slow" {
				return m.QueuedBytes > 64<<10
			}
		}
		return false
	})
	for _, m := range list {
		if m.MachineId == "snd" && m.QueuedBytes != 0 {
			t.Fatalf("snd reads its replies but shows %d queued bytes", m.QueuedBytes)
		}
	}
}
