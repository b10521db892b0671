package server_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/server"
)

func register(c *client, id string) {
	c.t.Helper()
	c.mustOK(fmt.Sprintf(`{"Type":0,"Payload":{"MachineId":%q,"ProcessName":"test","ProcessId":1}}`, id))
}

func sendLine(src, dst, event, payload string) string {
	return fmt.Sprintf(`{"Type":2,"Payload":{"SourceMachineId":%q,"TargetMachineId":%q,"EventName":%q,"Payload":%s}}`+"\n", src, dst, event, payload)
}

func TestMaxConnections(t *testing.T) {
	bus := startBus(t, server.Config{MaxConnections: 3})
	var cs []*client
	for i := range 3 {
		c := bus.dial(t)
		register(c, fmt.Sprintf("m%d", i))
		cs = append(cs, c)
	}
	extra := bus.dial(t)
	r := extra.reply()
	if r.Success || r.Code != "too_many_connections" || !strings.Contains(deref(r.Error), "Too many connections") {
		t.Fatalf("extra connection got %+v", r)
	}
	extra.expectEOF()
	// The others are untouched.
	cs[0].send(sendLine("m0", "m1", "E", "1"))
	if ev := cs[1].reply(); ev.Kind != "Event" {
		t.Fatalf("got %+v", ev)
	}
	if r := cs[0].reply(); !r.Success {
		t.Fatalf("send after refusal failed: %+v", r)
	}
	// A slot frees when one leaves.
	cs[2].nc.Close()
	waitFor(t, "connection count to drop", func() bool { return bus.Snapshot().ConnectionCount == 2 })
	register(bus.dial(t), "m3")
	if got := bus.Snapshot().Rejected; got != 1 {
		t.Errorf("RejectedConnections = %d, want 1", got)
	}
}

func TestLineTooLong(t *testing.T) {
	bus := startBus(t, server.Config{MaxMessageBytes: 4096})
	other := bus.dial(t)
	register(other, "other")

	// Exactly at the limit is fine (it is just not a valid request).
	c := bus.dial(t)
	r := c.call(`{"Type":"Ping","x":"` + strings.Repeat("a", 4096-22) + `"}`)
	if !r.Success {
		t.Fatalf("line at the limit: %+v", r)
	}
	c.send(strings.Repeat("x", 4097) + "\n")
	r = c.reply()
	if r.Success || r.Code != "line_too_long" {
		t.Fatalf("over-long line: %+v", r)
	}
	c.expectEOF()

	// Endless bytes with no newline: error, close, and the bus stays bounded.
	c2 := bus.dial(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		chunk := []byte(strings.Repeat("y", 1024))
		c2.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for range 1 << 14 { // 16 MiB
			if _, err := c2.nc.Write(chunk); err != nil {
				return
			}
		}
	}()
	r = c2.reply()
	if r.Code != "line_too_long" {
		t.Fatalf("endless line: %+v", r)
	}
	c2.expectEOF()
	<-done
	if r := other.call(`{"Type":"Ping"}`); !r.Success {
		t.Fatalf("other connection affected: %+v", r)
	}
}

func TestSlowConsumerQueueFull(t *testing.T) {
	bus := startBus(t, server.Config{MaxQueueBytes: 64 << 10})
	slow := bus.dial(t) // registers, then never reads again
	register(slow, "slow")
	sender := bus.dial(t)
	register(sender, "sender")
	a, b := bus.dial(t), bus.dial(t)
	register(a, "a")
	register(b, "b")

	payload := `"` + strings.Repeat("p", 1000) + `"`
	full := false
	for i := 0; i < 10000 && !full; i++ {
		r := sender.call(strings.TrimSuffix(sendLine("sender", "slow", "FLOOD", payload), "\n"))
		if !r.Success {
			if r.Code != "queue_full" || deref(r.Error) != "Target machine queue full: slow" {
				t.Fatalf("unexpected failure: %+v", r)
			}
			full = true
		}
	}
	if !full {
		t.Fatal("queue never filled")
	}
	// Others still talk, and the sender itself is not blocked.
	a.send(sendLine("a", "b", "HI", "{}"))
	if ev := b.reply(); ev.Kind != "Event" {
		t.Fatalf("b got %+v", ev)
	}
	if r := a.reply(); !r.Success {
		t.Fatalf("a's send failed: %+v", r)
	}
	if r := sender.call(`{"Type":"Ping"}`); !r.Success {
		t.Fatalf("sender blocked: %+v", r)
	}
	snap := bus.Snapshot()
	if snap.Failures["queue_full"] == 0 {
		t.Errorf("queue_full not counted: %+v", snap.Failures)
	}
	if snap.QueuedBytes > 64<<10+2048 {
		t.Errorf("QueuedBytes = %d, above the bound", snap.QueuedBytes)
	}
}

func TestClientNotReadingItsReplies(t *testing.T) {
	bus := startBus(t, server.Config{MaxQueueBytes: 16 << 10})
	other := bus.dial(t)
	flood := bus.dial(t)
	// Pipeline pings without ever reading the replies: the bus must stop
	// reading this client rather than buffer without bound.
	blocked := make(chan error, 1)
	go func() {
		line := []byte(strings.Repeat(`{"Type":"Ping"}`+"\n", 1000))
		for {
			// Once the bus stops reading, the socket fills and this times out.
			flood.nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := flood.nc.Write(line); err != nil {
				blocked <- err
				return
			}
		}
	}()
	select {
	case err := <-blocked:
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("flood write failed with %v, want a timeout (backpressure)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the bus kept reading a client that never reads its replies")
	}
	for range 3 {
		if r := other.call(`{"Type":"Ping"}`); !r.Success {
			t.Fatalf("other connection affected: %+v", r)
		}
	}
	if q := bus.Snapshot().QueuedBytes; q > 16<<10+64<<10 {
		t.Fatalf("queued %d bytes for a client that does not read", q)
	}
	flood.nc.Close()
}

func TestWriteTimeoutDisconnectsStuckClient(t *testing.T) {
	bus := startBus(t, server.Config{WriteTimeout: 200 * time.Millisecond, MaxQueueBytes: 1 << 20})
	stuck := bus.dial(t)
	register(stuck, "stuck")
	if uc, ok := stuck.nc.(*net.UnixConn); ok {
		uc.SetReadBuffer(4096)
	}
	sender := bus.dial(t)
	register(sender, "sender")
	payload := `"` + strings.Repeat("z", 60000) + `"`
	for i := 0; i < 200; i++ {
		r := sender.call(strings.TrimSuffix(sendLine("sender", "stuck", "BIG", payload), "\n"))
		if !r.Success {
			if r.Code == "target_not_connected" {
				return // disconnected by the write timeout
			}
			if r.Code != "queue_full" {
				t.Fatalf("unexpected: %+v", r)
			}
		}
	}
	waitFor(t, "the stuck client to be dropped", func() bool {
		for _, m := range bus.Router().Machines() {
			if m.ID == "stuck" {
				return false
			}
		}
		return true
	})
}

func TestPayloadCarriedVerbatim(t *testing.T) {
	bus := startBus(t, server.Config{})
	a, b := bus.dial(t), bus.dial(t)
	register(a, "a")
	register(b, "b")
	payloads := []string{
		`{"z":1,"a":2,"m":[3,2,1]}`,
		`123456789012345678901234567890`,
		`{"big":1e400,"neg":-0.000000000000000000001}`,
		`"caf\u00e9 \ud83d\ude00 \"quoted\" \\ \/"`,
		`{ "spaced" :  [ 1 , 2 ] }`,
		`"h\u00e9llo <b>&amp;</b>"`,
		`null`,
		`[]`,
	}
	for _, p := range payloads {
		a.send(sendLine("a", "b", "E", p))
		got := b.line()
		want := `"Payload":` + p + `,"Timestamp":`
		if !strings.Contains(got, want) {
			t.Errorf("payload %s arrived as %s", p, got)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("pushed line is not valid JSON: %s", got)
		}
		a.reply()
	}
}

func TestSendToSelfEventBeforeAck(t *testing.T) {
	bus := startBus(t, server.Config{})
	c := bus.dial(t)
	register(c, "me")
	c.send(sendLine("me", "me", "LOOP", `{"n":1}`))
	if ev := c.reply(); ev.Kind != "Event" {
		t.Fatalf("first line %+v, want the event", ev)
	}
	if r := c.reply(); r.Kind != "Reply" || !r.Success {
		t.Fatalf("second line %+v, want the ack", r)
	}
}

func TestDisconnectReleasesEverything(t *testing.T) {
	bus := startBus(t, server.Config{})
	owner := bus.dial(t)
	for _, id := range []string{"x1", "x2", "x3"} {
		register(owner, id)
	}
	owner.mustOK(`{"Type":3,"Payload":"x4"}`)
	other := bus.dial(t)
	register(other, "other")
	// A request from owner to other is pending when owner leaves.
	owner.send(`{"Type":"Request","Id":1,"Payload":{"SourceMachineId":"x1","TargetMachineId":"other","EventName":"Q"}}` + "\n")
	if r := other.reply(); r.Kind != "Request" {
		t.Fatalf("got %+v", r)
	}
	owner.nc.Close()
	waitFor(t, "ids released", func() bool { return bus.Router().Count() == 1 && bus.Router().PendingCount() == 0 })
	taker := bus.dial(t)
	for _, id := range []string{"x1", "x2", "x3", "x4"} {
		register(taker, id)
	}
	// other's late answer is refused, nothing else happens.
	r := other.call(`{"Type":"Reply","Payload":{"RequestId":1,"Payload":1}}`)
	if r.Code != "unknown_request" {
		t.Fatalf("late reply: %+v", r)
	}
}

func TestShutdownClosesClientsAndRemovesSocket(t *testing.T) {
	bus := startBus(t, server.Config{})
	a, b := bus.dial(t), bus.dial(t)
	register(a, "a")
	register(b, "b")
	// Queued lines are flushed before the connection closes.
	a.send(sendLine("a", "b", "LAST", "1"))
	a.reply()
	bus.stop(t)
	if ev := b.reply(); ev.Kind != "Event" {
		t.Fatalf("b got %+v", ev)
	}
	a.expectEOF()
	b.expectEOF()
	if _, err := os.Stat(bus.path); !os.IsNotExist(err) {
		t.Fatalf("socket file still there: %v", err)
	}
	if _, err := net.Dial("unix", bus.path); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
	if h := bus.Health(); h.IsHealthy {
		t.Fatalf("healthy after shutdown: %+v", h)
	}
}

func TestConcurrentSendersKeepOrder(t *testing.T) {
	bus := startBus(t, server.Config{MaxQueueBytes: 64 << 20})
	const senders, each = 6, 2000
	recv := bus.dial(t)
	register(recv, "sink")
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		c := bus.dial(t)
		register(c, fmt.Sprintf("s%d", s))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf strings.Builder
			for i := range each {
				buf.WriteString(sendLine(fmt.Sprintf("s%d", s), "sink", "N", fmt.Sprint(i)))
			}
			go c.send(buf.String())
			for range each {
				s, err := c.tryLine(20 * time.Second)
				if err != nil || !strings.Contains(s, `"Delivered":true`) {
					errs <- fmt.Errorf("sender ack %q %v", s, err)
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	for range senders * each {
		var ev struct {
			Data struct {
				SourceMachineId string
				Payload         int
			}
		}
		line := recv.line()
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		var s int
		fmt.Sscanf(ev.Data.SourceMachineId, "s%d", &s)
		if ev.Data.Payload != next[s] {
			t.Fatalf("from s%d got %d, want %d", s, ev.Data.Payload, next[s])
		}
		next[s]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := bus.Snapshot().EventsRouted; got != senders*each {
		t.Errorf("EventsRouted = %d, want %d", got, senders*each)
	}
}

func TestHealthAndMetricsOverTheWire(t *testing.T) {
	bus := startBus(t, server.Config{MaxConnections: 10})
	c := bus.dial(t)
	register(c, "m")
	c.call(`{"Type":2,"Payload":{"SourceMachineId":"m","TargetMachineId":"nobody","EventName":"E"}}`)
	c.call(`garbage`)

	var h struct {
		IsHealthy          bool
		ConnectionCount    int
		RegisteredMachines int
		LastActivityAt     string
		ErrorMessage       *string
	}
	r := c.mustOK(`{"Type":"Health"}`)
	if err := json.Unmarshal(r.Data, &h); err != nil {
		t.Fatal(err)
	}
	if !h.IsHealthy || h.ConnectionCount != 1 || h.RegisteredMachines != 1 || h.ErrorMessage != nil {
		t.Errorf("health = %+v", h)
	}
	var m map[string]any
	r = c.mustOK(`{"Type":"metrics"}`)
	if err := json.Unmarshal(r.Data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"StartedAt", "Uptime", "ConnectionCount", "RegisteredMachines", "PeakConnections", "PeakConnectionsAt", "EventsRouted", "BytesIn", "BytesOut", "Failures"} {
		if _, ok := m[k]; !ok {
			t.Errorf("metrics lack %s: %v", k, m)
		}
	}
	f := m["Failures"].(map[string]any)
	if f["target_not_connected"] != 1.0 || f["invalid_json"] != 1.0 {
		t.Errorf("failures = %v", f)
	}
	if m["LinesIn"] != 5.0 {
		t.Errorf("LinesIn = %v, want 5", m["LinesIn"])
	}
}

func TestFatalErrorReachesClientIntact(t *testing.T) {
	bus := startBus(t, server.Config{MaxMessageBytes: 1024})
	c := bus.dial(t)
	// A request with an Id, then an over-long line in the same write: the
	// Ping's reply and the error both arrive, the error without a stale Id,
	// and the client sees EOF rather than a reset.
	c.send(`{"Type":"Ping","Id":"abc"}` + "\n" + strings.Repeat("q", 1025) + "\n" + strings.Repeat("more input ", 1000))
	if r := c.reply(); !r.Success || string(r.ID) != `"abc"` {
		t.Fatalf("ping reply %+v", r)
	}
	line := c.line()
	if !json.Valid([]byte(line)) || !strings.Contains(line, `"Code":"line_too_long"`) || strings.Contains(line, `"Id"`) {
		t.Fatalf("fatal error line %s", line)
	}
	c.expectEOF()
}

func TestHostileLinesGetOneErrorEach(t *testing.T) {
	bus := startBus(t, server.Config{})
	c := bus.dial(t)
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	for _, line := range []string{
		`{"Type":2,"Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":` + deep + `}}`,
		deep,
		`{"Type":2,"Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E","Payload":` + strings.Repeat("9", 100000) + `}}`,
		"\x00\x00\x00",
		"\xC0\xAF{}",
		`{"Type":"Ping","Id":` + strings.Repeat("1", 5000) + `}`,
		`{"Type":` + strings.Repeat(" ", 10000) + `}`,
	} {
		c.send(line + "\n")
		r := c.reply()
		if line[0] == '{' && strings.Contains(line, `"Id":1111`) {
			if !r.Success {
				t.Errorf("long numeric Id: %+v", r)
			}
			continue
		}
		if r.Success && !strings.Contains(line, strings.Repeat("9", 100)) {
			t.Errorf("%.40q accepted: %+v", line, r)
		}
	}
	if r := c.call(`{"Type":"Ping"}`); !r.Success {
		t.Fatalf("connection unusable after hostile lines: %+v", r)
	}
}

// TestBacklogKeepsOrder queues megabytes for a receiver that reads nothing
// until every event has been acknowledged (so the bus holds them in many
// queue chunks, including events larger than a chunk), then checks that
// each arrives intact and in order, and that the queue empties.
func TestBacklogKeepsOrder(t *testing.T) {
	bus := startBus(t, server.Config{MaxQueueBytes: 32 << 20})
	recv := bus.dial(t)
	register(recv, "sink")
	sender := bus.dial(t)
	register(sender, "src")

	const n = 3000
	size := func(i int) int {
		if i%500 == 7 {
			return 100 << 10 // larger than a queue chunk
		}
		return 100 + i%1500
	}
	var batch strings.Builder
	for i := range n {
		batch.WriteString(sendLine("src", "sink", "N", fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("x", size(i)))))
	}
	go sender.send(batch.String())
	for i := range n {
		if r := sender.reply(); !r.Success {
			t.Fatalf("event %d: %+v", i, r)
		}
	}
	if q := bus.Snapshot().QueuedBytes; q < 1<<20 {
		t.Logf("only %d bytes queued in the bus (the socket took the rest)", q)
	}
	for i := range n {
		var ev struct {
			Data struct {
				Payload struct {
					I   int
					Pad string
				}
			}
		}
		if err := json.Unmarshal([]byte(recv.line()), &ev); err != nil {
			t.Fatal(err)
		}
		if p := ev.Data.Payload; p.I != i || len(p.Pad) != size(i) || strings.Trim(p.Pad, "x") != "" {
			t.Fatalf("event %d: got i=%d with %d bytes of padding", i, p.I, len(p.Pad))
		}
	}
	waitFor(t, "the queue to empty", func() bool { return bus.Snapshot().QueuedBytes == 0 })
}
