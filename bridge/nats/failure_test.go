package nats

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
)

func TestBridgeHostKilled(t *testing.T) {
	n := startNATS(t)
	a, b, c := startHost(t, n, "alpha"), startHost(t, n, "beta"), startHost(t, n, "gamma")
	meshed(t, a, b, c)
	ca := a.dial("asker")
	cb := b.dial("victim", "victim-2")
	cc := c.dial("bystander")
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	cb.OnRequest("*", func(ctx context.Context, ev client.Event) (any, error) {
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return nil, nil
	})
	waitFor(t, 5*time.Second, "alpha to see beta's machines", func() bool { return a.sees("victim", "beta") && a.sees("victim-2", "beta") })

	// A request with a long timeout is pending on beta when beta dies.
	ctx := ctxFor(t, 60*time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := ca.Request(ctx, "victim", "HANG", nil)
		done <- err
	}()
	waitFor(t, 5*time.Second, "the request to reach beta", func() bool { return b.srv.Snapshot().PendingRequests > 0 })
	killed := time.Now()
	b.kill()

	select {
	case err := <-done:
		if !errors.Is(err, client.ErrTargetGone) {
			t.Fatalf("request to a dead host: %v, want ErrTargetGone", err)
		}
		if d := time.Since(killed); d > testBound {
			t.Fatalf("request failed after %v, bound %v", d, testBound)
		}
	case <-time.After(testBound):
		t.Fatalf("request still pending %v after its host died", testBound)
	}
	waitFor(t, testBound, "beta's machines to vanish from alpha and gamma", func() bool {
		return !a.sees("victim", "beta") && !a.sees("victim-2", "beta") && !c.sees("victim", "beta")
	})
	if d := time.Since(killed); d > testBound {
		t.Fatalf("machines vanished after %v, bound %v", d, testBound)
	}
	if st := a.br.Status(); st.Hosts != 1 {
		t.Fatalf("alpha counts %d other hosts, want 1 (gamma)", st.Hosts)
	}
	if err := ca.Send(ctx, "victim", "X", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("send to a dead host's machine: %v, want ErrNotConnected", err)
	}
	// Its ids are free again once reaped.
	waitFor(t, testBound, "victim to be claimable", func() bool { return ca.Register(ctx, "victim") == nil })
	waitFor(t, 10*time.Second, "gamma to see victim on alpha", func() bool { return c.sees("victim", "alpha") })
	if err := cc.Send(ctx, "victim", "HELLO", nil); err != nil {
		t.Fatalf("gamma -> victim on alpha: %v", err)
	}
}

func TestBridgeGracefulStop(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	b.dial("leaving")
	waitFor(t, 10*time.Second, "alpha to see leaving", func() bool { return a.sees("leaving", "beta") })
	b.stop()
	// A goodbye removes beta at once, well inside DeadAfter.
	waitFor(t, testDeadAfter, "beta's machines to go", func() bool { return !a.sees("leaving", "beta") && a.br.Status().Hosts == 0 })
	a.dial("leaving")
}

func TestBridgeNATSRestart(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	ca, local := a.dial("a1"), a.dial("a2")
	cb := b.dial("b1")
	ctx := ctxFor(t, 60*time.Second)
	evLocal, evb := local.Events(ctx, 16), cb.Events(ctx, 16)
	if err := ca.Send(ctx, "b1", "BEFORE", nil); err != nil {
		t.Fatal(err)
	}
	recv(t, evb, "before")

	n.stop()
	waitFor(t, 5*time.Second, "alpha to notice the link is down", func() bool { return !a.br.Status().Connected })
	if st := a.br.Status(); st.Error == "" {
		t.Fatal("Status gives no reason while down")
	}
	// Local traffic is unaffected; remote sends fail at once.
	if err := ca.Send(ctx, "a2", "LOCAL", nil); err != nil {
		t.Fatalf("local send while NATS is down: %v", err)
	}
	recv(t, evLocal, "local")
	start := time.Now()
	if err := ca.Send(ctx, "b1", "DURING", nil); !errors.Is(err, client.ErrBridgeDown) {
		t.Fatalf("remote send while NATS is down: %v, want ErrBridgeDown", err)
	}
	if _, err := ca.Request(ctx, "b1", "DURING", nil); !errors.Is(err, client.ErrBridgeDown) {
		t.Fatalf("remote request while NATS is down: %v, want ErrBridgeDown", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("failing remote calls took %v; they should fail at once", d)
	}
	// Ids bound during the outage are claimed when the link returns.
	ca.Register(ctx, "a3")

	n.start()
	meshed(t, a, b)
	waitFor(t, 10*time.Second, "remote sends to work again", func() bool { return ca.Send(ctx, "b1", "AFTER", nil) == nil })
	for ev := recv(t, evb, "after"); ev.Name != "AFTER"; ev = recv(t, evb, "after") {
	}
	waitFor(t, 5*time.Second, "beta to see a3 and a1", func() bool { return b.sees("a3", "alpha") && b.sees("a1", "alpha") })
	if err := cb.Send(ctx, "a3", "HI", nil); err != nil {
		t.Fatalf("beta -> id bound during the outage: %v", err)
	}
	// Ownership holds again: beta cannot take alpha's ids.
	if err := cb.Register(ctx, "a1"); !errors.Is(err, client.ErrIDTaken) {
		t.Fatalf("beta registering a1 after the restart: %v, want ErrIDTaken", err)
	}
}

// Registered on two hosts while they were cut off, an id ends up on one:
// the first claim in the bucket stands and the other host evicts its
// binding, telling the owner with a MachineEvicted event.
func TestBridgePartitionEvictsTheLaterClaim(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	ctx := ctxFor(t, 60*time.Second)
	n.stop()
	waitFor(t, 5*time.Second, "both to notice the link is down", func() bool {
		return !a.br.Status().Connected && !b.br.Status().Connected
	})
	ca, cb := a.dial("dup"), b.dial("dup") // both succeed: the link is down
	eva, evb := ca.Events(ctx, 4), cb.Events(ctx, 4)
	n.start()
	meshed(t, a, b)
	waitFor(t, 20*time.Second, "exactly one host to keep dup", func() bool {
		return a.srv.Hosts("dup") != b.srv.Hosts("dup")
	})
	loser, loserConn := evb, cb
	if b.srv.Hosts("dup") {
		loser, loserConn = eva, ca
	}
	ev := recv(t, loser, "loser")
	if ev.Source != client.BusMachineID || ev.Name != client.EventEvicted || !strings.Contains(string(ev.Payload), `"MachineId":"dup"`) {
		t.Fatalf("evicted owner got %+v", ev)
	}
	// The client no longer registers the id on a reconnect.
	waitFor(t, 5*time.Second, "the client to drop dup", func() bool { return len(loserConn.Machines()) == 0 })
}
