package nats

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
)

// recv waits for the next event on ch.
func recv(t *testing.T, ch <-chan client.Event, what string) client.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("%s: event channel closed", what)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no event within 10s", what)
	}
	return client.Event{}
}

// The conformance suite (conformance_test.go) checks routing, ownership,
// Publish and Request/Reply between two bridged buses on the wire; the tests
// here check what it does not: the Go client's view, order under load,
// three hosts, and the claim protocol.

func TestBridgeClientView(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta.example.com")
	meshed(t, a, b)
	ca, cb := a.dial("m-a"), b.dial("m-b")
	ctx := ctxFor(t, 20*time.Second)
	evb := cb.Events(ctx, 16)

	// Order per sender and target holds across the link, pipelined.
	for i := range 50 {
		if err := ca.SendAsync("m-b", "SEQ", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := ca.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if ev := recv(t, evb, "seq"); string(ev.Payload) != fmt.Sprint(i) {
			t.Fatalf("event %d carried %s", i, ev.Payload)
		}
	}

	// ListMachines and Health show the other host.
	waitFor(t, 5*time.Second, "alpha to list m-b", func() bool { return a.sees("m-b", "beta.example.com") })
	list, err := ca.ListMachines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range list {
		if m.ID == "m-b" && m.Host == "beta.example.com" {
			found = true
		}
		if m.ID == "m-a" && m.Host != "" {
			t.Errorf("local machine listed with host %q", m.Host)
		}
	}
	if !found {
		t.Fatalf("ListMachines on alpha: %+v", list)
	}
	h, err := ca.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Bridge == nil || !h.Bridge.Connected || h.Bridge.Hosts != 1 || h.Bridge.RemoteMachines != 1 {
		t.Fatalf("Health bridge: %+v", h.Bridge)
	}
	cb.Close()
	waitFor(t, 5*time.Second, "m-b to leave alpha's list", func() bool { return !a.sees("m-b", "beta.example.com") })
	if err := ca.Send(ctx, "m-b", "X", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("send after the target left: %v, want ErrNotConnected", err)
	}
}

// An id released and at once re-registered on the same host stays
// claimed: the delete of the old claim names its revision.
func TestBridgeQuickReRegisterStaysClaimed(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	ca := a.dial()
	ctx := ctxFor(t, 20*time.Second)
	cb := b.dial("shared")
	if err := ca.Register(ctx, "shared"); !errors.Is(err, client.ErrIDTaken) {
		t.Fatalf("alpha taking beta's id: %v, want ErrIDTaken", err)
	}
	cb.Close()
	waitFor(t, 5*time.Second, "beta to drop the closed connection", func() bool { return !b.srv.Hosts("shared") })
	cb2 := b.dial("shared")
	waitFor(t, 5*time.Second, "alpha to see beta own shared", func() bool { return a.sees("shared", "beta") })
	if err := ca.Register(ctx, "shared"); !errors.Is(err, client.ErrIDTaken) {
		t.Fatalf("alpha registering after beta's quick re-register: %v, want ErrIDTaken", err)
	}
	cb2.Close()
}

func TestBridgeSimultaneousClaims(t *testing.T) {
	n := startNATS(t)
	hosts := []*host{startHost(t, n, "h1"), startHost(t, n, "h2"), startHost(t, n, "h3")}
	meshed(t, hosts...)
	conns := make([]*client.Conn, len(hosts))
	for i, h := range hosts {
		conns[i] = h.dial()
	}
	ctx := ctxFor(t, 30*time.Second)
	for round := range 20 {
		id := fmt.Sprintf("contested-%d", round)
		var wg sync.WaitGroup
		errs := make([]error, len(conns))
		start := make(chan struct{})
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = c.Register(ctx, id)
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, client.ErrIDTaken):
				t.Fatalf("round %d host %d: %v", round, i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d hosts own %s, want exactly 1 (%v)", round, winners, id, errs)
		}
	}
}

func TestBridgePublishReachesEveryHost(t *testing.T) {
	n := startNATS(t)
	a, b, c := startHost(t, n, "alpha"), startHost(t, n, "beta"), startHost(t, n, "gamma")
	meshed(t, a, b, c)
	pub, local := a.dial("pub"), a.dial("local")
	cb, cc := b.dial("on-b1", "on-b2"), c.dial("on-c")
	ctx := ctxFor(t, 20*time.Second)
	evl, evb, evc := local.Events(ctx, 16), cb.Events(ctx, 16), cc.Events(ctx, 16)
	if _, err := pub.Publish(ctx, "NEWS", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, evl, "local"); ev.Name != "NEWS" || ev.Target != "local" {
		t.Fatalf("local got %+v", ev)
	}
	got := map[string]bool{}
	for range 2 {
		ev := recv(t, evb, "beta")
		got[ev.Target] = true
		if ev.Source != "pub" || string(ev.Payload) != `{"k":"v"}` {
			t.Fatalf("beta got %+v", ev)
		}
	}
	if !got["on-b1"] || !got["on-b2"] {
		t.Fatalf("beta's machines got %v", got)
	}
	if ev := recv(t, evc, "gamma"); ev.Target != "on-c" {
		t.Fatalf("gamma got %+v", ev)
	}
}
