package client

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Member is one machine id bound to a Go function: the adapter that puts
// any Go state machine on the bus. Events sent to the id are passed to the
// function (on the dispatch goroutine, one at a time, in order); the
// machine's own outgoing events go out through Send or Emitter as that id.
// The binding survives reconnects.
type Member struct {
	c       *Conn
	id      string
	deliver Handler
	closed  atomic.Bool
}

// Bind registers id on c and calls deliver for every event whose target
// is id. Handlers added with OnEvent still see those events too. An id
// has at most one Member per Conn: binding an id that is bound already
// fails with ErrBound and leaves the first binding as it was (replacing
// it would leave two Members whose Close releases the same id). When the
// bus refuses the id, Bind removes its own handler and nothing else.
func (c *Conn) Bind(ctx context.Context, id string, deliver Handler) (*Member, error) {
	m := &Member{c: c, id: id, deliver: deliver}
	r := c.recv
	r.mu.Lock()
	if r.targets[id] != nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("statebus: binding %q: %w", id, ErrBound)
	}
	r.targets[id] = m
	r.mu.Unlock()
	if err := c.Register(ctx, id); err != nil {
		m.unbind()
		return nil, err
	}
	return m, nil
}

// unbind removes m's handler if it is still the one bound to its id.
func (m *Member) unbind() {
	r := m.c.recv
	r.mu.Lock()
	if r.targets[m.id] == m {
		delete(r.targets, m.id)
	}
	r.mu.Unlock()
}

// ID returns the member's machine id.
func (m *Member) ID() string { return m.id }

// Send sends an event from this member and waits for the acknowledgement.
func (m *Member) Send(ctx context.Context, target, event string, payload any) error {
	return m.c.SendAs(ctx, m.id, target, event, payload)
}

// Request sends a request from this member and returns the reply payload.
func (m *Member) Request(ctx context.Context, target, event string, payload any) ([]byte, error) {
	return m.c.RequestAs(ctx, m.id, target, event, payload)
}

// Emitter returns a function that forwards a machine's outgoing events
// from this member without waiting (SendAsync): the hook to give a state
// machine for its "send to another machine" actions. Failures go to the
// Conn's async error handler.
func (m *Member) Emitter() func(target, event string, payload any) {
	return func(target, event string, payload any) {
		if err := m.c.SendAsyncAs(m.id, target, event, payload); err != nil {
			m.c.asyncError(&AsyncError{Target: target, Event: event, Err: err})
		}
	}
}

// Close unbinds the member: its handler is removed and its id released,
// after which the id may be bound again. Only the first call does this;
// later calls return nil, so a stale Member cannot release the id from a
// newer binding.
func (m *Member) Close(ctx context.Context) error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	m.unbind()
	return m.c.Unregister(ctx, m.id)
}
