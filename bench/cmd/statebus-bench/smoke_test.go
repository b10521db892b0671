package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the tool when it re-executes
// itself as a worker, the relay or the NATS server.
func TestMain(m *testing.M) {
	if code, ok := runChild(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestSmoke runs small pingpong and oneway cells end to end: the real
// statebus binary, the relay and the direct pair, each client a process.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bus")
	}
	dir := t.TempDir()
	e := &env{dir: dir}
	var err error
	if e.self, err = os.Executable(); err != nil {
		t.Fatal(err)
	}
	if e.statebus, err = buildStatebus(dir); err != nil {
		t.Fatal(err)
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		e.redis = p
	}
	r := &runner{e: e, sz: sizes{RoundTrips: 200, Warmup: 20, Messages: 4000, Fanin: 2, Pairs: 2, Idle: 50, Window: 256, Stall: 10 * time.Second}}
	cells := []struct{ workload, peer string }{
		{"pingpong", "statebus"}, {"oneway", "statebus"}, {"oneway", "statebus-goclient"},
		{"fanin", "statebus"}, {"oneway", "relay"}, {"pairs", "direct"}, {"conns", "statebus"}, {"oneway", "redis"},
	}
	for _, tc := range cells {
		t.Run(tc.workload+"/"+tc.peer, func(t *testing.T) {
			c := r.run(tc.workload, tc.peer, 1)
			if c.Skipped != "" {
				t.Skip(c.Skipped)
			}
			if c.Err != "" {
				t.Fatal(c.Err)
			}
			if !c.Check.clean() || c.Acks.Refused != 0 {
				t.Fatalf("check %+v acks %+v", c.Check, c.Acks)
			}
			switch tc.workload {
			case "pingpong", "conns":
				if c.Latency == nil || c.Latency.N != 200 || c.Latency.P50 <= 0 {
					t.Fatalf("latency %+v", c.Latency)
				}
				if tc.workload == "conns" && (c.LatencyBase == nil || c.RSSIdle <= 0) {
					t.Fatalf("conns %+v", c)
				}
			default:
				if c.Check.Received != 4000 || c.MsgPerSec <= 0 {
					t.Fatalf("received %d at %.0f msg/s", c.Check.Received, c.MsgPerSec)
				}
			}
			if tc.peer != "direct" && c.PeakRSS <= 0 {
				t.Fatalf("no broker RSS: %+v", c)
			}
		})
	}
}
