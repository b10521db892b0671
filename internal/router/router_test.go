package router

import (
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// sink is an Endpoint that records what reaches it. It stands in for a
// connection, whose real implementation is tested in package server.
type sink struct {
	mu        sync.Mutex
	events    []string // target ids
	requests  []uint64
	completed []string // "answer" or the failure code
	full      bool
	closed    bool
	done      chan struct{}
}

func newSink() *sink { return &sink{done: make(chan struct{}, 16)} }

func (s *sink) Deliver(kind protocol.Kind, ev *protocol.Event, m *Machine, requestID uint64, _ Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.full:
		return ErrQueueFull
	}
	if kind == protocol.KindRequest {
		s.requests = append(s.requests, requestID)
	} else {
		s.events = append(s.events, m.ID)
	}
	return nil
}

func (s *sink) Complete(p *Pending, a *protocol.Answer, fail *protocol.Error) {
	s.mu.Lock()
	if fail != nil {
		s.completed = append(s.completed, fail.Code.String())
	} else {
		s.completed = append(s.completed, "answer")
	}
	s.mu.Unlock()
	select {
	case s.done <- struct{}{}:
	default: // nobody is counting; the completions slice records it
	}
}

func ev(src, target string) *protocol.Event {
	return &protocol.Event{
		Source: protocol.AppendQuoted(nil, src),
		Target: protocol.AppendQuoted(nil, target),
		Name:   protocol.String(`"E"`),
	}
}

func bind(t *testing.T, r *Router, ep Endpoint, id string) *Machine {
	t.Helper()
	m, code := r.Bind(ep, []byte(id), protocol.AppendQuoted(nil, id), Info{})
	if code != protocol.CodeNone {
		t.Fatalf("Bind(%s) = %v", id, code)
	}
	return m
}

// check verifies the router's invariants: every machine is listed under
// its owner exactly once, owners list only their machines, and pending
// counts add up.
func check(t *testing.T, r *Router) {
	t.Helper()
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for ep, list := range r.owned {
		if len(list) == 0 {
			t.Errorf("empty owned list kept for %v", ep)
		}
		for _, m := range list {
			n++
			if r.machines[m.ID] != m || m.Owner != ep {
				t.Errorf("machine %s listed under the wrong owner", m.ID)
			}
		}
	}
	if n != len(r.machines) {
		t.Errorf("%d owned entries for %d machines", n, len(r.machines))
	}
	w := 0
	for _, c := range r.waiting {
		w += c
	}
	if w != len(r.pending) {
		t.Errorf("waiting counts %d, pending %d", w, len(r.pending))
	}
}

func TestOwnership(t *testing.T) {
	r := New(Limits{})
	a, b := newSink(), newSink()
	bind(t, r, a, "x")
	bind(t, r, a, "x") // idempotent
	if _, code := r.Bind(b, []byte("x"), protocol.String(`"x"`), Info{}); code != protocol.CodeIDTaken {
		t.Fatalf("second owner: %v", code)
	}
	if code := r.Unbind(b, []byte("x")); code != protocol.CodeNotOwner {
		t.Fatalf("foreign unbind: %v", code)
	}
	if code := r.Unbind(b, []byte("never")); code != protocol.CodeNone {
		t.Fatalf("unbind of unbound id: %v", code)
	}
	if _, code := r.Route(b, []byte("x"), []byte("x"), ev("x", "x")); code != protocol.CodeNotOwner {
		t.Fatalf("spoofed source: %v", code)
	}
	if _, code := r.Route(b, []byte("anon"), []byte("x"), ev("anon", "x")); code != protocol.CodeNone {
		t.Fatalf("unbound source: %v", code)
	}
	check(t, r)
	if code := r.Unbind(a, []byte("x")); code != protocol.CodeNone {
		t.Fatal(code)
	}
	bind(t, r, b, "x")
	check(t, r)
	if ids := r.Remove(b); len(ids) != 1 || ids[0] != "x" {
		t.Fatalf("Remove released %v", ids)
	}
	if r.Count() != 0 {
		t.Fatal("machines left after Remove")
	}
	check(t, r)
}

func TestRouteFailures(t *testing.T) {
	r := New(Limits{})
	a, b := newSink(), newSink()
	bind(t, r, b, "b")
	if _, code := r.Route(a, []byte("a"), []byte("nobody"), ev("a", "nobody")); code != protocol.CodeNotConnected {
		t.Fatal(code)
	}
	b.full = true
	if _, code := r.Route(a, []byte("a"), []byte("b"), ev("a", "b")); code != protocol.CodeQueueFull {
		t.Fatal(code)
	}
	b.full, b.closed = false, true
	if _, code := r.Route(a, []byte("a"), []byte("b"), ev("a", "b")); code != protocol.CodeNotConnected {
		t.Fatal(code)
	}
}

func TestPublishSkipsPublisher(t *testing.T) {
	r := New(Limits{})
	a, b, c := newSink(), newSink(), newSink()
	bind(t, r, a, "a1")
	bind(t, r, a, "a2")
	bind(t, r, b, "b1")
	bind(t, r, b, "b2")
	bind(t, r, c, "c1")
	c.full = true
	n, failed, code := r.Publish(a, []byte("a1"), ev("a1", ""))
	if code != protocol.CodeNone || n != 2 || failed != 1 {
		t.Fatalf("Publish = %d, %d, %v", n, failed, code)
	}
	if len(a.events) != 0 || len(b.events) != 2 {
		t.Fatalf("a got %v, b got %v", a.events, b.events)
	}
	if _, _, code := r.Publish(b, []byte("a1"), ev("a1", "")); code != protocol.CodeNotOwner {
		t.Fatalf("publish as another's id: %v", code)
	}
}

func TestLimits(t *testing.T) {
	r := New(Limits{MachinesPerEndpoint: 2, PendingPerEndpoint: 1})
	a, b := newSink(), newSink()
	bind(t, r, a, "1")
	bind(t, r, a, "2")
	if _, code := r.Bind(a, []byte("3"), protocol.String(`"3"`), Info{}); code != protocol.CodeTooManyMachines {
		t.Fatalf("third id: %v", code)
	}
	bind(t, r, a, "2") // rebinding an owned id is not a new one
	bind(t, r, b, "b")
	if _, code := r.Request(a, []byte("1"), []byte("b"), ev("1", "b"), nil, time.Minute); code != protocol.CodeNone {
		t.Fatal(code)
	}
	if _, code := r.Request(a, []byte("1"), []byte("b"), ev("1", "b"), nil, time.Minute); code != protocol.CodeTooManyRequests {
		t.Fatalf("second pending request: %v", code)
	}
	check(t, r)
	r.Remove(a)
	check(t, r)
	if r.PendingCount() != 0 {
		t.Fatal("requester's pending request kept after Remove")
	}
}

func TestRequestLifecycle(t *testing.T) {
	r := New(Limits{})
	a, b, c := newSink(), newSink(), newSink()
	bind(t, r, a, "a")
	bind(t, r, b, "b")
	bind(t, r, c, "c")

	// Answered by the target.
	p, code := r.Request(a, []byte("a"), []byte("b"), ev("a", "b"), []byte(`7`), time.Minute)
	if code != protocol.CodeNone || string(p.ReplyID) != "7" || b.requests[0] != p.ID {
		t.Fatalf("Request: %v %+v", code, p)
	}
	if code := r.Answer(c, &protocol.Answer{RequestID: p.ID}); code != protocol.CodeUnknownRequest {
		t.Fatalf("answer from a non-target: %v", code)
	}
	if code := r.Answer(b, &protocol.Answer{RequestID: p.ID}); code != protocol.CodeNone {
		t.Fatal(code)
	}
	if code := r.Answer(b, &protocol.Answer{RequestID: p.ID}); code != protocol.CodeUnknownRequest {
		t.Fatalf("second answer: %v", code)
	}
	<-a.done

	// Timed out.
	if _, code := r.Request(a, []byte("a"), []byte("b"), ev("a", "b"), nil, 10*time.Millisecond); code != protocol.CodeNone {
		t.Fatal(code)
	}
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no timeout")
	}

	// Target removed while pending: fails at once.
	if _, code := r.Request(a, []byte("a"), []byte("c"), ev("a", "c"), nil, time.Hour); code != protocol.CodeNone {
		t.Fatal(code)
	}
	r.Remove(c)
	<-a.done
	a.mu.Lock()
	got := a.completed
	a.mu.Unlock()
	want := []string{"answer", "timeout", "target_disconnected"}
	if len(got) != len(want) {
		t.Fatalf("completions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("completions %v, want %v", got, want)
		}
	}
	check(t, r)
	if r.PendingCount() != 0 {
		t.Fatal("pending left")
	}
}

func TestConcurrentUse(t *testing.T) {
	r := New(Limits{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep := newSink()
			id := []byte{'g', byte('0' + g)}
			for range 2000 {
				r.Bind(ep, id, protocol.AppendQuoted(nil, id), Info{})
				r.Route(ep, id, []byte("g0"), ev(string(id), "g0"))
				r.Publish(ep, id, ev(string(id), ""))
				r.Machines()
				r.Unbind(ep, id)
			}
			r.Remove(ep)
		}()
	}
	wg.Wait()
	check(t, r)
	if r.Count() != 0 {
		t.Fatal("machines left")
	}
}

// BenchmarkRoute measures the routing decision and the delivery call for
// one event: zero allocations.
func BenchmarkRoute(b *testing.B) {
	benchRoute(b, func(r *Router, ep Endpoint, s, d []byte, e *protocol.Event) protocol.Code {
		_, code := r.Route(ep, s, d, e)
		return code
	})
}

// benchRoute routes one event from "src" to "dst" per iteration with route.
func benchRoute(b *testing.B, route func(r *Router, ep Endpoint, s, d []byte, e *protocol.Event) protocol.Code) {
	r := New(Limits{})
	src, dst := newSink(), &countSink{}
	r.Bind(src, []byte("src"), protocol.String(`"src"`), Info{})
	r.Bind(dst, []byte("dst"), protocol.String(`"dst"`), Info{})
	e := ev("src", "dst")
	s, d := []byte("src"), []byte("dst")
	b.ReportAllocs()
	for b.Loop() {
		if code := route(r, src, s, d, e); code != protocol.CodeNone {
			b.Fatal(code)
		}
	}
}

type countSink struct{ n int }

func (c *countSink) Deliver(protocol.Kind, *protocol.Event, *Machine, uint64, Endpoint) error {
	c.n++
	return nil
}
func (c *countSink) Complete(*Pending, *protocol.Answer, *protocol.Error) {}

func TestUnbindFailsRequestsToTheID(t *testing.T) {
	r := New(Limits{})
	a, b := newSink(), newSink()
	bind(t, r, a, "a")
	bind(t, r, b, "b")
	if _, code := r.Request(a, []byte("a"), []byte("b"), ev("a", "b"), []byte("1"), time.Hour); code != protocol.CodeNone {
		t.Fatal(code)
	}
	if code := r.Unbind(b, []byte("b")); code != protocol.CodeNone {
		t.Fatal(code)
	}
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("pending request not failed")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.completed) != 1 || a.completed[0] != "target_disconnected" {
		t.Fatalf("completions %v", a.completed)
	}
	check(t, r)
}

// TestRouteCache checks that a cached route never outlives a change of
// ownership anywhere: bind, unbind, evict, remove, and a rebind by another
// endpoint.
func TestRouteCache(t *testing.T) {
	r := New(Limits{})
	a, b, c := newSink(), newSink(), newSink()
	var cache RouteCache
	send := func(src, target string, want protocol.Code) *Machine {
		t.Helper()
		m, code := r.RouteCached(&cache, a, []byte(src), []byte(target), ev(src, target))
		if code != want {
			t.Fatalf("%s -> %s: %v, want %v", src, target, code, want)
		}
		if _, direct := r.Route(a, []byte(src), []byte(target), ev(src, target)); direct != code {
			t.Fatalf("%s -> %s: cached %v, Route %v", src, target, code, direct)
		}
		return m
	}
	bind := func(ep Endpoint, id string) {
		t.Helper()
		if _, code := r.Bind(ep, []byte(id), protocol.AppendQuoted(nil, id), Info{}); code != protocol.CodeNone {
			t.Fatal(code)
		}
	}
	send("a", "b", protocol.CodeNotConnected)
	bind(b, "b")
	send("a", "b", protocol.CodeNone)
	send("a", "b", protocol.CodeNone) // from the cache
	r.Unbind(b, []byte("b"))
	send("a", "b", protocol.CodeNotConnected)
	bind(c, "b")
	if m := send("a", "b", protocol.CodeNone); m.Owner != c {
		t.Fatalf("routed to %v, want the new owner", m.Owner)
	}
	r.Evict([]byte("b"))
	send("a", "b", protocol.CodeNotConnected)
	bind(b, "b")
	send("a", "b", protocol.CodeNone)
	r.Remove(b)
	send("a", "b", protocol.CodeNotConnected)
	bind(c, "a") // the source now belongs to someone else
	bind(b, "b")
	send("a", "b", protocol.CodeNotOwner)
	r.Unbind(c, []byte("a"))
	send("a", "b", protocol.CodeNone)
	send("x", "b", protocol.CodeNone) // another source: looked up again
	if n := len(b.events); n != 10 {
		t.Errorf("b got %d events, want 10 (five successful sends to it, each twice: cached and direct)", n)
	}
}

func BenchmarkRouteCached(b *testing.B) {
	var cache RouteCache
	benchRoute(b, func(r *Router, ep Endpoint, s, d []byte, e *protocol.Event) protocol.Code {
		_, code := r.RouteCached(&cache, ep, s, d, e)
		return code
	})
}

// A source that nobody here owns but another host does (the foreign hook)
// is refused with not_owner by every kind of send, before anything is
// delivered; the hook is asked without the router's lock, and never for a
// source bound here.
func TestForeignSource(t *testing.T) {
	r := New(Limits{})
	a, b := newSink(), newSink()
	bind(t, r, a, "a")
	bind(t, r, b, "b")
	asked := 0
	r.SetForeign(func(id []byte) bool {
		if !r.mu.TryLock() {
			t.Error("foreign hook called with the router's lock held")
		} else {
			r.mu.Unlock()
		}
		asked++
		return string(id) == "far"
	})
	var cache RouteCache
	for range 2 { // the second time from the route cache
		if _, code := r.RouteCached(&cache, a, []byte("far"), []byte("b"), ev("far", "b")); code != protocol.CodeNotOwner {
			t.Fatalf("RouteCached as far: %v", code)
		}
	}
	if _, code := r.Route(a, []byte("far"), []byte("b"), ev("far", "b")); code != protocol.CodeNotOwner {
		t.Fatalf("Route as far: %v", code)
	}
	if _, code := r.Route(a, []byte("far"), []byte("nobody"), ev("far", "nobody")); code != protocol.CodeNotOwner {
		t.Fatalf("Route as far to nobody: %v, want not_owner first", code)
	}
	if _, _, code := r.Publish(a, []byte("far"), ev("far", "")); code != protocol.CodeNotOwner {
		t.Fatalf("Publish as far: %v", code)
	}
	if _, code := r.Request(a, []byte("far"), []byte("b"), ev("far", "b"), []byte("1"), time.Minute); code != protocol.CodeNotOwner {
		t.Fatalf("Request as far: %v", code)
	}
	if len(b.events) != 0 || len(b.requests) != 0 || r.PendingCount() != 0 {
		t.Fatalf("delivered as far: %v %v", b.events, b.requests)
	}
	if asked != 6 {
		t.Fatalf("hook asked %d times, want 6", asked)
	}
	// Bound here: the hook is not asked, even if it would say yes.
	bind(t, r, a, "far")
	asked = 0
	if _, code := r.RouteCached(&cache, a, []byte("far"), []byte("b"), ev("far", "b")); code != protocol.CodeNone {
		t.Fatal(code)
	}
	if _, code := r.RouteCached(&cache, a, []byte("a"), []byte("b"), ev("a", "b")); code != protocol.CodeNone {
		t.Fatal(code)
	}
	if _, _, code := r.Publish(a, []byte("a"), ev("a", "")); code != protocol.CodeNone {
		t.Fatal(code)
	}
	if _, code := r.Request(a, []byte("a"), []byte("b"), ev("a", "b"), []byte("1"), time.Minute); code != protocol.CodeNone {
		t.Fatal(code)
	}
	if _, code := r.Route(b, []byte("far"), []byte("a"), ev("far", "a")); code != protocol.CodeNotOwner {
		t.Fatalf("b as a's far: %v", code)
	}
	if asked != 0 {
		t.Fatalf("hook asked %d times for sources bound here", asked)
	}
	// A free source nobody owns anywhere is fine.
	if _, code := r.Route(a, []byte("near"), []byte("b"), ev("near", "b")); code != protocol.CodeNone {
		t.Fatal(code)
	}
	check(t, r)
}

// Hold and Unhold count requests pending on another host against the
// same limit as local ones; Drop forgets a pending request silently.
func TestHoldAndDrop(t *testing.T) {
	r := New(Limits{PendingPerEndpoint: 2})
	a, b := newSink(), newSink()
	bind(t, r, a, "a")
	bind(t, r, b, "b")
	if code := r.Hold(a); code != protocol.CodeNone {
		t.Fatal(code)
	}
	p, code := r.Request(a, []byte("a"), []byte("b"), ev("a", "b"), []byte("1"), time.Minute)
	if code != protocol.CodeNone {
		t.Fatal(code)
	}
	if code := r.Hold(a); code != protocol.CodeTooManyRequests {
		t.Fatalf("Hold at the limit: %v", code)
	}
	if _, code := r.Request(a, []byte("a"), []byte("b"), ev("a", "b"), []byte("2"), time.Minute); code != protocol.CodeTooManyRequests {
		t.Fatalf("Request at the limit: %v", code)
	}
	r.Unhold(a)
	if code := r.Hold(a); code != protocol.CodeNone {
		t.Fatalf("Hold after Unhold: %v", code)
	}
	if !r.Drop(p.ID) || r.Drop(p.ID) {
		t.Fatal("Drop should report true once")
	}
	if code := r.Answer(b, &protocol.Answer{RequestID: p.ID}); code != protocol.CodeUnknownRequest {
		t.Fatalf("answer to a dropped request: %v", code)
	}
	if len(a.completed) != 0 {
		t.Fatalf("dropped request completed: %v", a.completed)
	}
	if code := r.Hold(a); code != protocol.CodeNone { // Drop freed p's slot
		t.Fatal(code)
	}
	r.Remove(a)
	r.Unhold(a) // after Remove: nothing to release
	r.mu.RLock()
	n := len(r.waiting)
	r.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d requesters counted after Remove", n)
	}
	check(t, r)
}

// BenchmarkRouteCachedForeign is BenchmarkRouteCached with a foreign hook
// installed (a bus with a bridge): a source bound here must cost the same.
func BenchmarkRouteCachedForeign(b *testing.B) {
	var cache RouteCache
	benchRoute(b, func(r *Router, ep Endpoint, s, d []byte, e *protocol.Event) protocol.Code {
		if r.foreign == nil {
			r.SetForeign(func([]byte) bool { b.Fatal("foreign hook asked for a source bound here"); return false })
		}
		_, code := r.RouteCached(&cache, ep, s, d, e)
		return code
	})
}
