package server_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

func peerFromOS(c net.Conn) (server.PeerInfo, error) {
	p, err := transport.PeerOf(c)
	return server.PeerInfo{PID: p.PID, UID: p.UID, GID: p.GID}, err
}

func TestPeerIdentityFromTheOS(t *testing.T) {
	bus := startBus(t, server.Config{Peer: peerFromOS})
	c := bus.dial(t)
	// The claimed ProcessId is a lie; the OS's is not.
	c.mustOK(`{"Type":0,"Payload":{"MachineId":"m","ProcessName":"liar","ProcessId":1}}`)
	r := c.mustOK(`{"Type":"ListMachines"}`)
	var list []struct {
		MachineId        string
		ProcessId        int
		PeerPid, PeerUid int
	}
	if err := json.Unmarshal(r.Data, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ProcessId != 1 || list[0].PeerPid != os.Getpid() || list[0].PeerUid != os.Getuid() {
		t.Fatalf("machines %+v, want peer pid %d uid %d", list, os.Getpid(), os.Getuid())
	}
}

func TestAuthorizeAtAccept(t *testing.T) {
	bus := startBus(t, server.Config{Peer: peerFromOS, Authorize: func(p server.PeerInfo) error {
		if p.UID == os.Getuid() {
			return fmt.Errorf("uid %d is not in AllowedUsers", p.UID)
		}
		return nil
	}})
	c := bus.dial(t)
	r := c.reply()
	if r.Code != "unauthorized" || !strings.Contains(deref(r.Error), "is not in AllowedUsers") {
		t.Fatalf("refused peer got %+v", r)
	}
	c.expectEOF()
	if bus.Snapshot().Failures["unauthorized"] != 1 {
		t.Fatalf("not counted: %v", bus.Snapshot().Failures)
	}
}

func TestTokenRequired(t *testing.T) {
	bus := startBus(t, server.Config{Token: "s3cret"})
	c := bus.dial(t)
	if r := c.call(`{"Type":"Ping"}`); !r.Success {
		t.Fatalf("ping before auth: %+v", r)
	}
	for _, line := range []string{
		`{"Type":2,"Payload":{"SourceMachineId":"a","TargetMachineId":"b","EventName":"E"}}`,
		`{"Type":"ListMachines"}`,
		`{"Type":0,"Payload":{"MachineId":"a"}}`,
		`{"Type":0,"Payload":{"MachineId":"a","Token":"wrong"}}`,
		`{"Type":3,"Payload":"a"}`,
	} {
		if r := c.call(line); r.Success || r.Code != "unauthorized" {
			t.Fatalf("%s: %+v", line, r)
		}
	}
	c.mustOK(`{"Type":0,"Payload":{"MachineId":"a","Token":"s3cret"}}`)
	c.mustOK(`{"Type":3,"Payload":"a2"}`) // authenticated now
	c.mustOK(`{"Type":"ListMachines"}`)
}

func TestRateLimit(t *testing.T) {
	bus := startBus(t, server.Config{MaxEventsPerSecond: 50})
	c := bus.dial(t)
	register(c, "a")
	var limited int
	for range 200 {
		r := c.call(strings.TrimSuffix(sendLine("a", "a", "E", "1"), "\n"))
		if r.Kind == "Event" {
			r = c.reply()
		}
		if r.Code == "rate_limited" {
			limited++
			if !strings.Contains(deref(r.Error), "50") {
				t.Fatalf("unclear error %+v", r)
			}
		}
	}
	if limited < 100 {
		t.Fatalf("only %d of 200 sends limited at 50/s", limited)
	}
	if r := c.call(`{"Type":"Ping"}`); !r.Success {
		t.Fatal("ping rate limited")
	}
}

func TestThousandsOfIDsAreBounded(t *testing.T) {
	bus := startBus(t, server.Config{MaxMachinesPerConnection: 100})
	c := bus.dial(t)
	var buf strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&buf, `{"Type":0,"Payload":"id-%d"}`+"\n", i)
	}
	go c.send(buf.String())
	ok, refused := 0, 0
	for range 3000 {
		r := c.reply()
		switch {
		case r.Success:
			ok++
		case r.Code == "too_many_machines":
			refused++
		default:
			t.Fatalf("%+v", r)
		}
	}
	if ok != 100 || refused != 2900 || bus.Router().Count() != 100 {
		t.Fatalf("ok %d refused %d count %d", ok, refused, bus.Router().Count())
	}
	other := bus.dial(t)
	register(other, "other") // others are unaffected
}

func TestConnectionChurnLeavesNothingBehind(t *testing.T) {
	bus := startBus(t, server.Config{MaxConnections: 20})
	keeper := bus.dial(t)
	register(keeper, "keeper")
	for i := range 300 {
		nc, err := net.Dial("unix", bus.path)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, `{"Type":0,"Payload":"churn-%d"}`+"\n", i)
		nc.Close()
	}
	waitFor(t, "churned connections to go", func() bool {
		s := bus.Snapshot()
		return s.ConnectionCount == 1 && s.RegisteredMachines == 1
	})
	if r := keeper.call(`{"Type":"Ping"}`); !r.Success {
		t.Fatal("keeper affected")
	}
}

func TestTokenOnTheEnvelope(t *testing.T) {
	bus := startBus(t, server.Config{Token: "s3cret"})
	c := bus.dial(t)
	if r := c.call(`{"Type":"Ping","Token":"nope"}`); r.Code != "unauthorized" {
		t.Fatalf("wrong token: %+v", r)
	}
	c.mustOK(`{"Type":"Ping","Token":"s3cret"}`)
	c.mustOK(`{"Type":"Health"}`)
}

func TestResourcesReturnToBaseline(t *testing.T) {
	bus := startBus(t, server.Config{})
	// Serve starts the bus's background work (the parker); measure after.
	warm := bus.dial(t)
	warm.mustOK(`{"Type":"Ping"}`)
	warm.nc.Close()
	waitFor(t, "the warm-up connection to go", func() bool { return bus.Snapshot().ConnectionCount == 0 })
	base := bus.Snapshot().Process
	var cs []*client
	for i := range 40 {
		c := bus.dial(t)
		register(c, fmt.Sprintf("r%d", i))
		cs = append(cs, c)
	}
	for i, c := range cs {
		c.send(sendLine(fmt.Sprintf("r%d", i), fmt.Sprintf("r%d", (i+1)%len(cs)), "E", `"x"`))
	}
	if p := bus.Snapshot().Process; p.Goroutines < base.Goroutines+35 { // one reader per client, give or take transients
		t.Fatalf("goroutines %d with 40 clients, baseline %d", p.Goroutines, base.Goroutines)
	}
	for _, c := range cs {
		c.nc.Close()
	}
	waitFor(t, "goroutines and files back to baseline", func() bool {
		p := bus.Snapshot().Process
		return p.Goroutines <= base.Goroutines && (p.OpenFiles < 0 || p.OpenFiles <= base.OpenFiles)
	})
}

func TestSlowReaderIsBoundedAndDropped(t *testing.T) {
	bus := startBus(t, server.Config{WriteTimeout: 300 * time.Millisecond, MaxQueueBytes: 64 << 10})
	slow := bus.dial(t)
	register(slow, "slow")
	if uc, ok := slow.nc.(*net.UnixConn); ok {
		uc.SetReadBuffer(1024)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // reads one byte every 20 ms: always "making progress"
		var b [1]byte
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			slow.nc.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := slow.nc.Read(b[:]); err != nil {
				return
			}
		}
	}()
	sender, other := bus.dial(t), bus.dial(t)
	register(sender, "sender")
	register(other, "other")
	payload := `"` + strings.Repeat("s", 4000) + `"`
	gone := false
	for i := 0; i < 2000 && !gone; i++ {
		r := sender.call(strings.TrimSuffix(sendLine("sender", "slow", "E", payload), "\n"))
		switch {
		case r.Success, r.Code == "queue_full":
		case r.Code == "target_not_connected":
			gone = true
		default:
			t.Fatalf("unexpected %+v", r)
		}
		if q := bus.Snapshot().QueuedBytes; q > 64<<10+8192 {
			t.Fatalf("queue grew to %d bytes", q)
		}
	}
	if !gone {
		waitFor(t, "the slow reader to be dropped", func() bool {
			r := sender.call(strings.TrimSuffix(sendLine("sender", "slow", "E", "1"), "\n"))
			return r.Code == "target_not_connected"
		})
	}
	if r := other.call(`{"Type":"Ping"}`); !r.Success {
		t.Fatal("others affected by the slow reader")
	}
}
