package statechart

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is an event sent to a machine.
type Event struct {
	Name   string          // the event type, e.g. "PING"
	Data   json.RawMessage // the payload as JSON; nil means none (null)
	Source string          // the sending machine's id; "" when unknown

	// ReplyTo, when set, makes the event a request: it is called once,
	// after the macrostep that processed the event, with the payload of
	// the machine's reply action or — when the machine did not reply —
	// with its snapshot; with an error when the machine could not take
	// the event. A System sets it; machines reply with Scope.Reply.
	ReplyTo func(data json.RawMessage, err error)
}

// Decode unmarshals the payload into v.
func (e Event) Decode(v any) error {
	if len(e.Data) == 0 {
		return json.Unmarshal([]byte("null"), v)
	}
	return json.Unmarshal(e.Data, v)
}

// errInGuard is returned by Scope methods with side effects in a guard.
var errInGuard = errors.New("statechart: guards cannot send, assign or reply")

// Scope is what an action or guard sees: the event being processed, the
// machine's context and configuration, and the deferred effects it may
// request. It is valid only during the call it is passed to and must not
// be used from another goroutine.
type Scope struct {
	in    *Interpreter
	ev    Event
	guard bool
	err   error // a side effect attempted in a guard
}

// Event returns the event being processed (for eventless transitions
// and entry actions: the event that started the macrostep).
func (s *Scope) Event() Event { return s.ev }

// MachineID returns the id of the running machine instance.
func (s *Scope) MachineID() string { return s.in.id }

// Get returns a context value (as encoding/json decodes JSON).
func (s *Scope) Get(key string) (any, bool) {
	v, ok := s.in.ctx[key]
	return v, ok
}

// Context returns a copy of the whole context.
func (s *Scope) Context() map[string]any { return cloneContext(s.in.ctx) }

// In reports whether the state with the given id ("#id" or "id", also
// "#id.path") is active.
func (s *Scope) In(id string) bool {
	if len(id) > 0 && id[0] == '#' {
		id = id[1:]
	}
	n := s.in.m.byID[id]
	if n == nil {
		var err error
		if n, err = (&loader{m: s.in.m}).byRef("#" + id); err != nil {
			return false
		}
	}
	return s.in.active[n.order]
}

func (s *Scope) sideEffect() bool {
	if s.guard {
		s.err = errInGuard
		return false
	}
	return true
}

// Assign sets a context value at once (later actions see it). v is
// stored in its JSON form; it fails if v cannot be marshalled.
func (s *Scope) Assign(key string, v any) error {
	if !s.sideEffect() {
		return errInGuard
	}
	nv, err := normalize(v)
	if err != nil {
		return fmt.Errorf("assign %q: %w", key, err)
	}
	s.in.ctx[key] = nv
	s.in.changed = true
	return nil
}

// Raise puts an event on the machine's internal queue: it is processed
// in this macrostep, after eventless transitions settle and before any
// external event.
func (s *Scope) Raise(name string, data any) error {
	if !s.sideEffect() {
		return errInGuard
	}
	raw, err := encodeData(data)
	if err != nil {
		return err
	}
	s.in.internal = append(s.in.internal, Event{Name: name, Data: raw, Source: s.in.id})
	return nil
}

// Send sends an event to machine to after the macrostep (deferred, FIFO
// with the machine's other effects). Sending to the machine's own id
// puts the event at the back of its mailbox, as SendSelf does.
func (s *Scope) Send(to, name string, data any) error {
	return s.effect(Effect{Kind: EffectSend, To: to, Event: Event{Name: name}}, data)
}

// SendSelf sends an event to the machine itself through its mailbox
// (after the events already waiting there), unlike Raise.
func (s *Scope) SendSelf(name string, data any) error { return s.Send(s.in.id, name, data) }

// SendAfter sends an event to machine to after delay d, measured on the
// System's clock from the end of the macrostep. id ("" for none) lets
// Cancel stop it; as in XState, reusing the id of a pending send does not
// cancel that send, and Cancel stops only the latest one with the id.
func (s *Scope) SendAfter(id, to, name string, data any, d time.Duration) error {
	return s.effect(Effect{Kind: EffectSchedule, ID: id, To: to, Event: Event{Name: name}, Delay: d}, data)
}

// Cancel cancels the latest pending SendAfter with this id (deferred to
// the end of the macrostep, in order with the other effects).
func (s *Scope) Cancel(id string) {
	if s.sideEffect() {
		s.in.effects = append(s.in.effects, Effect{Kind: EffectCancel, ID: id})
	}
}

// Reply answers the request being processed with data (deferred to the
// end of the macrostep). On an event that is not a request it does
// nothing.
func (s *Scope) Reply(data any) error {
	if s.ev.ReplyTo == nil {
		return nil
	}
	return s.effect(Effect{Kind: EffectReply, Event: s.ev}, data)
}

// Request sends a correlated request to machine to (deferred). Its answer
// comes back to this machine's mailbox as the event onReply with the
// reply payload, or as onError with {"error": text} when the target is
// missing, fails or does not answer within timeout (0: the transport's
// default).
func (s *Scope) Request(to, name string, data any, timeout time.Duration, onReply, onError string) error {
	return s.effect(Effect{Kind: EffectRequest, To: to, Event: Event{Name: name}, Delay: timeout,
		OnReply: onReply, OnError: onError}, data)
}

func (s *Scope) effect(e Effect, data any) error {
	if !s.sideEffect() {
		return errInGuard
	}
	raw, err := encodeData(data)
	if err != nil {
		return err
	}
	if e.Kind == EffectReply {
		e.Payload = raw
	} else {
		e.Event.Data, e.Event.Source = raw, s.in.id
	}
	s.in.effects = append(s.in.effects, e)
	return nil
}

// Log records a message in the macrostep's Result.Logs.
func (s *Scope) Log(msg string) { s.in.logs = append(s.in.logs, msg) }

func encodeData(data any) (json.RawMessage, error) {
	switch d := data.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if d != nil && !json.Valid(d) {
			return nil, fmt.Errorf("statechart: payload is not valid JSON")
		}
		return d, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("statechart: marshalling payload: %w", err)
	}
	return b, nil
}
