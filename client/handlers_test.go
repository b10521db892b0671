package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
)

// Removing an OnRequest handler leaves a later handler for the name.
func TestOnRequestRemoveKeepsALaterHandler(t *testing.T) {
	b := startBus(t, server.Config{})
	a, srv := dial(t, b, "a"), dial(t, b, "srv")
	removeFirst := srv.OnRequest("Q", func(context.Context, client.Event) (any, error) { return "first", nil })
	removeSecond := srv.OnRequest("Q", func(context.Context, client.Event) (any, error) { return "second", nil })
	removeFirst()
	removeFirst() // again: still nothing of the second
	if out, err := a.Request(opCtx(t), "srv", "Q", nil); err != nil || string(out) != `"second"` {
		t.Fatalf("Request = %s, %v; want the second handler's answer", out, err)
	}
	removeSecond()
	if _, err := a.Request(opCtx(t), "srv", "Q", nil); !errors.Is(err, client.ErrRemote) {
		t.Fatalf("Request with no handler: %v", err)
	}
}

// Removing an OnEvent handler leaves the other handlers of the name.
func TestOnEventRemoveRemovesOnlyItsHandler(t *testing.T) {
	b := startBus(t, server.Config{})
	a, c := dial(t, b, "a"), dial(t, b, "c")
	var mu sync.Mutex
	var calls []string
	record := func(who string) client.Handler {
		return func(client.Event) {
			mu.Lock()
			calls = append(calls, who)
			mu.Unlock()
		}
	}
	removeFirst := c.OnEvent("E", record("first"))
	c.OnEvent("E", record("second"))
	removeFirst()
	removeFirst()
	got := c.Expect("E")
	if err := a.Send(ctxT(t), "c", "E", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := got.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Handlers run before the next event is dispatched: a second event
	// seen by an expectation means the first one's handlers have run.
	got = c.Expect("F")
	if err := a.Send(ctxT(t), "c", "F", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := got.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0] != "second" {
		t.Fatalf("handlers called: %v", calls)
	}
}

// A Bind that fails leaves an earlier Bind of the id as it was; a second
// Bind of a bound id is refused; a stale Member's Close releases nothing.
func TestFailedBindKeepsTheEarlierBinding(t *testing.T) {
	b := startBus(t, server.Config{})
	a, c := dial(t, b, "a"), dial(t, b, "c")
	got := make(chan string, 10)
	m1, err := c.Bind(ctxT(t), "m", func(ev client.Event) { got <- "first " + ev.Name })
	if err != nil {
		t.Fatal(err)
	}
	expect := func(want string) {
		t.Helper()
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("delivered %q, want %q", g, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not delivered", want)
		}
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Bind(canceled, "m", func(ev client.Event) { got <- "second " + ev.Name }); err == nil {
		t.Fatal("Bind with a canceled context succeeded")
	}
	if err := a.Send(ctxT(t), "m", "E1", nil); err != nil {
		t.Fatal(err)
	}
	expect("first E1")
	if _, err := c.Bind(ctxT(t), "m", func(ev client.Event) { got <- "third " + ev.Name }); !errors.Is(err, client.ErrBound) {
		t.Fatalf("second Bind of a bound id: %v", err)
	}
	if err := a.Send(ctxT(t), "m", "E2", nil); err != nil {
		t.Fatal(err)
	}
	expect("first E2")
	if err := m1.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	m2, err := c.Bind(ctxT(t), "m", func(ev client.Event) { got <- "fourth " + ev.Name })
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctxT(t))
	if err := m1.Close(ctxT(t)); err != nil { // stale: must not unbind m2
		t.Fatal(err)
	}
	if err := a.Send(ctxT(t), "m", "E3", nil); err != nil {
		t.Fatal(err)
	}
	expect("fourth E3")
}
