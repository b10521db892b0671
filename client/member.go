package client

import "context"

// Member is one machine id bound to a Go function: the adapter that puts
// any Go state machine on the bus. Events sent to the id are passed to the
// function (on the dispatch goroutine, one at a time, in order); the
// machine's own outgoing events go out through Send or Emitter as that id.
// The binding survives reconnects.
type Member struct {
	c  *Conn
	id string
}

// Bind registers id on c and calls deliver for every event whose target
// is id. Handlers added with OnEvent still see those events too.
func (c *Conn) Bind(ctx context.Context, id string, deliver Handler) (*Member, error) {
	r := c.recv
	r.mu.Lock()
	r.targets[id] = deliver
	r.mu.Unlock()
	if err := c.Register(ctx, id); err != nil {
		r.mu.Lock()
		delete(r.targets, id)
		r.mu.Unlock()
		return nil, err
	}
	return &Member{c: c, id: id}, nil
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

// Close unbinds the member: its handler is removed and its id released.
func (m *Member) Close(ctx context.Context) error {
	r := m.c.recv
	r.mu.Lock()
	delete(r.targets, m.id)
	r.mu.Unlock()
	return m.c.Unregister(ctx, m.id)
}
