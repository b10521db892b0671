package server_test

import (
	"fmt"
	"testing"

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
