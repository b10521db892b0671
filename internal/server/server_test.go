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

// The conformance suite (conformance_test.go) checks the limits on the
// wire; these check that refusals are counted and queues stay bounded.
func TestRefusalsCounted(t *testing.T) {
	bus := startBus(t, server.Config{MaxConnections: 2, MaxQueueBytes: 64 << 10})
	slow := bus.dial(t) // registers, then never reads again
	register(slow, "slow")
	sender := bus.dial(t)
	register(sender, "sender")
	extra := bus.dial(t)
	if r := extra.reply(); r.Code != "too_many_connections" {
		t.Fatalf("extra connection got %+v", r)
	}
	extra.expectEOF()
	payload := `"` + strings.Repeat("p", 1000) + `"`
	for i := 0; ; i++ {
		if i == 10000 {
			t.Fatal("queue never filled")
		}
		if r := sender.call(strings.TrimSuffix(sendLine("sender", "slow", "FLOOD", payload), "\n")); r.Code == "queue_full" {
			break
		}
	}
	snap := bus.Snapshot()
	if snap.Rejected != 1 {
		t.Errorf("RejectedConnections = %d, want 1", snap.Rejected)
	}
	if snap.Failures["queue_full"] != 1 {
		t.Errorf("queue_full counted %d times, want 1: %+v", snap.Failures["queue_full"], snap.Failures)
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
