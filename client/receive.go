package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// Event is an event pushed to one of this connection's machines.
type Event struct {
	Source    string          // SourceMachineId
	Target    string          // TargetMachineId: which of our machines it is for
	Name      string          // EventName
	Payload   json.RawMessage // the sender's payload bytes, verbatim; "null" when none
	Timestamp time.Time       // the sender's timestamp (zero if unparsable)

	requestID uint64 // non-zero for a Request awaiting a reply
}

// Decode unmarshals the payload into v.
func (e *Event) Decode(v any) error { return json.Unmarshal(e.Payload, v) }

// IsRequest reports whether the event is a Request that expects a reply.
func (e *Event) IsRequest() bool { return e.requestID != 0 }

// decodeEvent decodes a pushed event's Data.
func decodeEvent(data []byte, kind protocol.Kind) (Event, bool) {
	var pe protocol.Event
	if err := pe.Decode(data, true); err != nil {
		return Event{}, false
	}
	return eventOf(&pe, data, kind)
}

// eventOf makes an Event of pe, decoded from data, copying what it keeps.
func eventOf(pe *protocol.Event, data []byte, kind protocol.Kind) (Event, bool) {
	var buf [protocol.MaxMachineIDBytes + 8]byte
	ev := Event{
		Source:  string(pe.Source.Value(buf[:0])),
		Target:  string(pe.Target.Value(buf[:0])),
		Name:    string(pe.Name.Value(buf[:0])),
		Payload: json.RawMessage("null"),
	}
	if pe.Payload != nil {
		ev.Payload = append(json.RawMessage(nil), pe.Payload...)
	}
	if len(pe.Timestamp) > 2 && pe.Timestamp[0] == '"' {
		// A string token; anything else (a number, say) is not a time.
		if t, err := protocol.ParseTime(string(pe.Timestamp.Value(buf[:0]))); err == nil {
			ev.Timestamp = t
		}
	}
	if kind == protocol.KindRequest {
		ev.requestID = protocol.RequestIDOf(data)
		if ev.requestID == 0 {
			return Event{}, false
		}
	}
	return ev, true
}

// Events the bus itself sends, from the machine id BusMachineID.
const (
	// BusMachineID is the source of events the bus sends itself.
	BusMachineID = "$bus"
	// EventEvicted tells a connection that one of its machine ids (the
	// event's Target) was released because another host owns it (after
	// a partition of the bridge between hosts). Payload:
	// {"MachineId","Reason"}. The Conn stops registering the id.
	EventEvicted = "MachineEvicted"
)

// Handler receives events. Handlers run one at a time, in arrival order,
// on the Conn's dispatch goroutine, never on its reader: a slow handler
// delays other handlers but not replies to calls.
type Handler func(Event)

// RequestHandler answers a Request: the reply payload (marshalled with
// encoding/json, or json.RawMessage as is; either made one line as Send
// does) or an error whose text the
// requester receives. Each request runs on its own goroutine; ctx ends
// when the Conn closes.
type RequestHandler func(ctx context.Context, ev Event) (any, error)

type handlerEntry struct {
	id int
	fn Handler
}

// requestEntry is one OnRequest registration; its address tells it from
// a later registration of the same name.
type requestEntry struct{ fn RequestHandler }

// receiver holds the handlers and the dispatch queue.
type receiver struct {
	c   *Conn
	max int

	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	queue    eventRing
	busy     bool // the dispatcher is dispatching an event it took from queue
	closed   bool
	nextID   int
	handlers map[string][]handlerEntry // by event name; "*" for all
	targets  map[string]*Member        // by target machine id
	requests map[string]*requestEntry  // by event name; "*" for all
	expects  map[*Expectation]struct{}
	subs     []*subscription // replaced, never changed in place: dispatch reads it unlocked

	ctx         context.Context
	cancel      context.CancelFunc
	asyncErrors atomic.Uint64
}

func newReceiver(c *Conn, max int) *receiver {
	r := &receiver{
		c:        c,
		max:      max,
		handlers: make(map[string][]handlerEntry),
		targets:  make(map[string]*Member),
		requests: make(map[string]*requestEntry),
		expects:  make(map[*Expectation]struct{}),
	}
	r.notEmpty.L = &r.mu
	r.notFull.L = &r.mu
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// push queues ev for dispatch, waiting while the queue is full, or hands
// it to the Events channels itself when that is all dispatch would do
// (see direct). It returns false if the receiver closed.
func (r *receiver) push(ev *Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queue.len() == 0 && !r.busy && !r.closed && r.direct(ev) {
		return true
	}
	for r.queue.len() >= r.max && !r.closed {
		r.notFull.Wait()
	}
	if r.closed {
		return false
	}
	r.queue.push(ev)
	r.notEmpty.Signal()
	return true
}

// direct sends ev to every Events channel at once, on the reader, when
// nothing else wants it (no handler, expectation or Member for it; not a
// request; not from the bus) and every channel has room, so no send
// blocks. It reports whether it did. This skips a wake-up of the
// dispatcher per event and keeps the order: r.mu is held, the queue is
// empty and the dispatcher idle, and only the dispatcher or direct sends
// on a subscription's channel.
func (r *receiver) direct(ev *Event) bool {
	if len(r.subs) == 0 || ev.requestID != 0 || ev.Source == BusMachineID || len(r.expects) != 0 ||
		r.targets[ev.Target] != nil || len(r.handlers[ev.Name]) != 0 || len(r.handlers["*"]) != 0 {
		return false
	}
	for _, s := range r.subs {
		if len(s.ch) == cap(s.ch) {
			return false
		}
	}
	for _, s := range r.subs {
		s.mu.Lock()
		if !s.ended {
			s.ch <- *ev // cannot block: there was room, and nobody else sends
		}
		s.mu.Unlock()
	}
	return true
}

func (r *receiver) close() {
	r.mu.Lock()
	r.closed = true
	r.notEmpty.Broadcast()
	r.notFull.Broadcast()
	for e := range r.expects {
		e.fail(ErrClosed)
	}
	clear(r.expects)
	subs := r.subs
	r.subs = nil
	r.mu.Unlock()
	r.cancel()
	for _, s := range subs {
		s.end()
	}
}

// run dispatches events until close.
func (r *receiver) run() {
	for {
		r.mu.Lock()
		r.busy = false
		for r.queue.len() == 0 && !r.closed {
			r.notEmpty.Wait()
		}
		if r.closed {
			r.mu.Unlock()
			return
		}
		ev := r.queue.pop()
		r.busy = true
		r.notFull.Signal()
		r.mu.Unlock()
		r.dispatch(&ev)
	}
}

func (r *receiver) dispatch(ev *Event) {
	if ev.requestID != 0 {
		r.serveRequest(ev)
		return
	}
	if ev.Source == BusMachineID && ev.Name == EventEvicted {
		// Another host owns the id now: do not register it again on a
		// reconnect. Handlers still see the event.
		r.c.removeMachine(ev.Target)
	}
	r.mu.Lock()
	for e := range r.expects {
		if e.matches(ev) {
			e.deliver(*ev)
			delete(r.expects, e)
		}
	}
	var fns []Handler
	if m := r.targets[ev.Target]; m != nil {
		fns = append(fns, m.deliver)
	}
	for _, h := range r.handlers[ev.Name] {
		fns = append(fns, h.fn)
	}
	if ev.Name != "*" {
		for _, h := range r.handlers["*"] {
			fns = append(fns, h.fn)
		}
	}
	subs := r.subs
	r.mu.Unlock()
	for _, fn := range fns {
		fn(*ev)
	}
	for _, s := range subs {
		s.send(*ev)
	}
}

// subscription is a channel returned by Events. Only the dispatcher
// sends on ch; end closes it once no send is in progress.
type subscription struct {
	ch    chan Event
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex // held while sending; guards ended
	ended bool
}

// send delivers ev, waiting for the reader unless the subscription ends.
func (s *subscription) send(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	select {
	case s.ch <- ev:
	case <-s.done:
	}
}

// end stops the subscription and closes its channel.
func (s *subscription) end() {
	s.once.Do(func() {
		close(s.done) // unblocks a send in progress
		s.mu.Lock()
		s.ended = true
		close(s.ch)
		s.mu.Unlock()
	})
}

func (r *receiver) serveRequest(ev *Event) {
	r.mu.Lock()
	e := r.requests[ev.Name]
	if e == nil {
		e = r.requests["*"]
	}
	r.mu.Unlock()
	c := r.c
	if e == nil {
		c.reply(ev, nil, fmt.Errorf("no handler for request %s on machine %s", ev.Name, ev.Target))
		return
	}
	go func() {
		v, err := e.fn(r.ctx, *ev)
		c.reply(ev, v, err)
	}()
}

// OnEvent calls h for every event named name ("*": every event) pushed to
// any machine of this connection. Handlers add up: registering the same
// name again adds another handler, and each sees the event. It returns a
// function that removes this registration only (calling it again does
// nothing). Handlers stay armed across reconnects.
func (c *Conn) OnEvent(name string, h Handler) (remove func()) {
	r := c.recv
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.handlers[name] = append(r.handlers[name], handlerEntry{id, h})
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		list := r.handlers[name]
		for i, e := range list {
			if e.id == id {
				r.handlers[name] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
	}
}

// OnRequest answers Requests named name ("*": any without a handler of
// its own) with h. One handler answers a name: registering the name again
// replaces the earlier handler (a request has exactly one answer). A
// Request with no handler is answered with an error at once. It returns a
// function that removes h if h is still the name's handler, and does
// nothing once h was replaced: it never removes a later registration.
func (c *Conn) OnRequest(name string, h RequestHandler) (remove func()) {
	r := c.recv
	e := &requestEntry{fn: h}
	r.mu.Lock()
	r.requests[name] = e
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if r.requests[name] == e {
			delete(r.requests, name)
		}
		r.mu.Unlock()
	}
}

// Events returns a channel receiving every event pushed to this
// connection until ctx ends or the Conn closes, when it is closed. Events
// wait for the channel's reader (buffer size buf), holding up dispatch.
func (c *Conn) Events(ctx context.Context, buf int) <-chan Event {
	r := c.recv
	s := &subscription{ch: make(chan Event, buf), done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		s.end()
		return s.ch
	}
	r.subs = append(r.subs[:len(r.subs):len(r.subs)], s)
	r.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		if i := slices.Index(r.subs, s); i >= 0 {
			r.subs = slices.Delete(slices.Clone(r.subs), i, i+1)
		}
		r.mu.Unlock()
		s.end()
	})
	return s.ch
}

// Expectation is a registered wait for one event; see Expect.
type Expectation struct {
	name string
	ch   chan Event
	err  error
}

func (e *Expectation) matches(ev *Event) bool { return e.name == "*" || e.name == ev.Name }

func (e *Expectation) deliver(ev Event) { e.ch <- ev }

func (e *Expectation) fail(err error) {
	e.err = err
	close(e.ch)
}

// Expect registers interest in the next event named name ("*": any)
// before the action that causes it, so it cannot be missed; Wait then
// returns it. Other handlers, channels and expectations still get the
// event: nothing is consumed.
func (c *Conn) Expect(name string) *Expectation {
	e := &Expectation{name: name, ch: make(chan Event, 1)}
	r := c.recv
	r.mu.Lock()
	if r.closed {
		e.fail(ErrClosed)
	} else {
		r.expects[e] = struct{}{}
	}
	r.mu.Unlock()
	return e
}

// Wait returns the expected event, or ctx's error, or ErrClosed.
func (e *Expectation) Wait(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-e.ch:
		if !ok {
			return Event{}, e.err
		}
		return ev, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// WaitForEvent waits for the next event named name ("*": any) that
// arrives after the call, without taking it from anyone else. To wait for
// the answer to something you send, use Expect before sending.
func (c *Conn) WaitForEvent(ctx context.Context, name string) (Event, error) {
	e := c.Expect(name)
	ev, err := e.Wait(ctx)
	if err != nil {
		c.recv.mu.Lock()
		delete(c.recv.expects, e)
		c.recv.mu.Unlock()
	}
	return ev, err
}
