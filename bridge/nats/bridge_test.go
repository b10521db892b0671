package nats

import (
	"context"
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

func TestBridgeRoutingBothWays(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta.example.com")
	meshed(t, a, b)
	ca, cb := a.dial("m-a"), b.dial("m-b")
	ctx := ctxFor(t, 20*time.Second)
	eva, evb := ca.Events(ctx, 16), cb.Events(ctx, 16)

	// No waiting for the directory: a miss asks the bucket.
	if err := ca.Send(ctx, "m-b", "PING", map[string]int{"n": 1}); err != nil {
		t.Fatalf("alpha -> beta: %v", err)
	}
	ev := recv(t, evb, "beta")
	if ev.Source != "m-a" || ev.Target != "m-b" || ev.Name != "PING" || string(ev.Payload) != `{"n":1}` {
		t.Fatalf("beta got %+v", ev)
	}
	if err := cb.Send(ctx, "m-a", "PONG", nil); err != nil {
		t.Fatalf("beta -> alpha: %v", err)
	}
	if ev := recv(t, eva, "alpha"); ev.Source != "m-b" || ev.Name != "PONG" {
		t.Fatalf("alpha got %+v", ev)
	}
	// Order per sender and target holds across the link.
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
	err := ca.Send(ctx, "nobody", "X", nil)
	if !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("send to an id no host has: %v, want ErrNotConnected", err)
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

	// A machine that leaves beta leaves alpha's directory.
	cb.Close()
	waitFor(t, 5*time.Second, "m-b to leave alpha's list", func() bool { return !a.sees("m-b", "beta.example.com") })
	if err := ca.Send(ctx, "m-b", "X", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("send after the target left: %v, want ErrNotConnected", err)
	}
}

func TestBridgeOwnership(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	ca := a.dial("shared")
	ctx := ctxFor(t, 20*time.Second)

	_, err := client.Dial(ctx, b.path, client.WithMachines("shared"), client.WithLogger(quiet), client.WithReconnect(false))
	if !errors.Is(err, client.ErrIDTaken) {
		t.Fatalf("beta registering alpha's id: %v, want ErrIDTaken", err)
	}
	// Re-registering on the owner is fine; a second local connection is
	// refused by the local router as before.
	if err := ca.Register(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	// Once alpha releases it, beta may take it.
	if err := ca.Unregister(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	cb := b.dial("shared")
	if err := ca.Register(ctx, "shared"); !errors.Is(err, client.ErrIDTaken) {
		t.Fatalf("alpha taking beta's id back: %v, want ErrIDTaken", err)
	}
	// An id released and at once re-registered on the same host stays
	// claimed (the delete of the old claim names its revision).
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

func TestBridgeRequestReply(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	ca, cb := a.dial("asker"), b.dial("answerer")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cb.OnRequest("*", func(ctx context.Context, ev client.Event) (any, error) {
		switch ev.Name {
		case "GET":
			return map[string]string{"echo": string(ev.Payload)}, nil
		case "FAIL":
			return nil, errors.New("no such key")
		default: // SLOW
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		}
	})
	ctx := ctxFor(t, 20*time.Second)
	ans, err := ca.Request(ctx, "answerer", "GET", 42)
	if err != nil || string(ans) != `{"echo":"42"}` {
		t.Fatalf("request: %s, %v", ans, err)
	}
	if _, err := ca.Request(ctx, "answerer", "FAIL", nil); !errors.Is(err, client.ErrRemote) || !containsText(err, "no such key") {
		t.Fatalf("remote error: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := ca.Request(tctx, "answerer", "SLOW", nil); !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("slow request: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	if _, err := ca.Request(ctx, "ghost", "GET", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("request to an id no host has: %v", err)
	}
	// Many in flight at once, answered out of order.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := ca.Request(ctx, "answerer", "GET", i)
			if err != nil || string(ans) != fmt.Sprintf(`{"echo":"%d"}`, i) {
				t.Errorf("request %d: %s, %v", i, ans, err)
			}
		}()
	}
	wg.Wait()
	// The target leaving fails the request at once.
	done := make(chan error, 1)
	go func() {
		_, err := ca.Request(ctx, "answerer", "SLOW", nil)
		done <- err
	}()
	waitFor(t, 5*time.Second, "the request to be pending on beta", func() bool { return b.srv.Snapshot().PendingRequests > 0 })
	cb.Close()
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrTargetGone) {
			t.Fatalf("target left: %v, want ErrTargetGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request hung after its target left")
	}
}

func containsText(err error, s string) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Text == s
}
