package nats

import (
	"context"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// A monitor sees its own host's traffic: an event from another host
// delivered here shows with Conn 0, and the sender's host shows the
// send with the bridge's verdict.
func TestMonitorSeesItsOwnHost(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "host-a"), startHost(t, n, "host-b")
	meshed(t, a, b)
	tapA := a.srv.Tap(protocol.TraceFilter{Kinds: []string{"event"}}, 16)
	defer tapA.Close()
	tapB := b.srv.Tap(protocol.TraceFilter{Kinds: []string{"event"}}, 16)
	defer tapB.Close()
	ca := a.dial("on-a")
	b.dial("on-b")
	waitFor(t, 10*time.Second, "host-a to see on-b", func() bool { return a.sees("on-b", "host-b") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ca.Send(ctx, "on-b", "HELLO", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	next := func(tap interface{ C() <-chan protocol.Trace }, who string) protocol.Trace {
		select {
		case tr := <-tap.C():
			return tr
		case <-ctx.Done():
			t.Fatalf("%s saw no trace", who)
		}
		return protocol.Trace{}
	}
	tr := next(tapA, "host-a")
	if tr.Source != "on-a" || tr.Target != "on-b" || tr.Outcome != "delivered" || tr.Conn == 0 || tr.TargetConn != 0 {
		t.Fatalf("host-a's trace %+v", tr)
	}
	tr = next(tapB, "host-b")
	if tr.Source != "on-a" || tr.Target != "on-b" || tr.Outcome != "delivered" || tr.Conn != 0 || tr.TargetConn == 0 || string(tr.Payload) != `{"n":1}` {
		t.Fatalf("host-b's trace %+v", tr)
	}
}
