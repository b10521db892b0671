package server_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/server"
)

// Idle connections give up their reader goroutine and get it back when
// they speak; Shutdown resumes parked connections to close them.
func TestIdleConnectionsPark(t *testing.T) {
	bus := startBus(t, server.Config{})
	base := bus.Snapshot().Process.Goroutines
	var cs []*client
	for i := range 30 {
		c := bus.dial(t)
		register(c, fmt.Sprintf("idle-%d", i))
		cs = append(cs, c)
	}
	waitFor(t, "idle readers to park", func() bool { return bus.Snapshot().Process.Goroutines <= base+2 })
	// A parked connection wakes on input, in order, and routes as before.
	cs[0].send(sendLine("idle-0", "idle-1", "WAKE", `{"n":1}`))
	if ev := cs[1].reply(); ev.Kind != "Event" {
		t.Fatalf("parked target got %+v", ev)
	}
	if r := cs[0].reply(); !r.Success {
		t.Fatalf("woken sender got %+v", r)
	}
	if r := cs[1].call(`{"Type":"Ping"}`); !r.Success {
		t.Fatalf("woken target: %+v", r)
	}
	// A parked connection whose client leaves is cleaned up.
	cs[5].nc.Close()
	waitFor(t, "the closed parked connection to be released", func() bool { return bus.Router().Count() == 29 })
	bus.stop(t)
	for _, c := range cs[6:9] {
		c.expectEOF()
	}
}

// A parked connection whose socket the bus closes itself (its client
// stopped reading and a write timed out) must still be torn down: the
// close takes the socket out of the parker's epoll and the client sends
// nothing, so nothing else would wake it.
func TestParkedConnectionClosedByAFailedWrite(t *testing.T) {
	defer server.SetParkAfter(time.Millisecond)()
	bus := startBus(t, server.Config{WriteTimeout: 200 * time.Millisecond})
	sender := bus.dial(t)
	register(sender, "sender")
	stuck := bus.dial(t) // registers, then neither reads nor writes
	register(stuck, "stuck")
	if uc, ok := stuck.nc.(*net.UnixConn); ok {
		uc.SetReadBuffer(4096)
	}
	waitFor(t, "the stuck client to park", func() bool { return server.Parked(bus.Server) >= 1 })
	payload := `"` + strings.Repeat("z", 60000) + `"`
	for range 100 {
		r := sender.call(strings.TrimSuffix(sendLine("sender", "stuck", "BIG", payload), "\n"))
		if r.Code == "target_not_connected" {
			break
		}
	}
	waitFor(t, "the stuck connection to be torn down", func() bool {
		return !bus.Hosts("stuck") && bus.Snapshot().ConnectionCount == 1
	})
}
