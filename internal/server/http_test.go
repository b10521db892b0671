package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/server"
)

func TestHTTPEndpoints(t *testing.T) {
	bus := startBus(t, server.Config{MaxConnections: 2})
	hs := httptest.NewServer(metrics.Handler(bus.Server))
	defer hs.Close()
	a, b := bus.dial(t), bus.dial(t)
	register(a, "a")
	register(b, "b")
	for range 3 {
		a.send(sendLine("a", "b", "E", "1"))
		b.reply()
		a.reply()
	}
	a.call(`{"Type":2,"Payload":{"SourceMachineId":"a","TargetMachineId":"zz","EventName":"E"}}`)

	get := func(path string) (int, string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		"statebus_connections 2", "statebus_machines 2", "statebus_events_routed_total 3",
		`statebus_failures_total{code="target_not_connected"} 1`, "statebus_routing_latency_seconds_count 1",
		"statebus_healthy 0", // at MaxConnections
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code != 200 {
		t.Errorf("/metrics status %d", code)
	}
	code, body = get("/healthz")
	var h struct {
		IsHealthy    bool
		ErrorMessage string
	}
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &h) != nil || h.IsHealthy || !strings.Contains(h.ErrorMessage, "connection limit") {
		t.Fatalf("/healthz at the limit: %d %s", code, body)
	}
	b.nc.Close()
	waitFor(t, "b to leave", func() bool { return bus.Snapshot().ConnectionCount == 1 })
	if code, body = get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
}

func TestReconfigureWhileServing(t *testing.T) {
	bus := startBus(t, server.Config{MaxConnections: 1})
	first := bus.dial(t)
	register(first, "first")
	if r := bus.dial(t).reply(); r.Code != "too_many_connections" {
		t.Fatalf("before: %+v", r)
	}
	if err := bus.Reconfigure(server.Config{MaxConnections: 3}); err != nil {
		t.Fatal(err)
	}
	register(bus.dial(t), "second")
	if err := bus.Reconfigure(server.Config{MaxConnections: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}
