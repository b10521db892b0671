package statechart

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// process runs one macrostep of a and hands out its effects in order.
func (s *System) process(a *Actor, ev Event) {
	var res Result
	var err error
	if ev.Name == startEvent && !a.in.started {
		res, err = a.in.Start()
	} else {
		res, err = a.in.Send(ev)
	}
	if errors.Is(err, ErrNotActive) {
		s.log.Debug("statechart: event for a stopped machine dropped", "machine", a.id, "event", ev.Name)
		if ev.ReplyTo != nil {
			ev.ReplyTo(nil, err)
		}
		return
	}
	snap := a.in.Snapshot()
	s.mu.Lock()
	a.snap = snap
	s.mu.Unlock()
	replied := false
	for _, e := range res.Effects {
		if e.Kind == EffectReply {
			replied = true
		}
		s.apply(a, e)
	}
	if ev.ReplyTo != nil && !replied {
		if err != nil {
			ev.ReplyTo(nil, err)
		} else {
			b, _ := json.Marshal(snap)
			ev.ReplyTo(b, nil)
		}
	}
	if len(s.observers) > 0 {
		st := Step{Machine: a.id, Event: ev, Snapshot: snap, Result: res, Err: err}
		for _, fn := range s.observers {
			fn(st)
		}
	}
	if snap.Status != StatusActive {
		// Last: whoever waits on Done sees every effect handed out and
		// the observer called.
		s.mu.Lock()
		s.dropTimersLocked(a)
		s.mu.Unlock()
		close(a.done)
	}
}

// apply hands out one effect. Only the processing goroutine calls it,
// so effects leave in the order the machine made them.
func (s *System) apply(a *Actor, e Effect) {
	switch e.Kind {
	case EffectSend:
		s.route(a.id, e.To, e.Event)
	case EffectSchedule:
		s.schedule(a, e.ID, e.To, e.Event, e.Delay)
	case EffectCancel:
		s.mu.Lock()
		if t := a.byID[e.ID]; t != nil {
			delete(a.byID, e.ID)
			delete(a.timers, t)
			t.t.Stop()
		}
		s.mu.Unlock()
	case EffectReply:
		e.Event.ReplyTo(e.Payload, nil)
	case EffectRequest:
		s.request(a, e)
	}
}

// route delivers a send: to a hosted mailbox, else through the transport.
func (s *System) route(from, to string, ev Event) {
	ev.Source = from
	if s.Deliver(to, ev) == nil {
		return
	}
	if s.transport == nil {
		s.log.Warn("statechart: send to a machine that is not hosted here dropped (no transport)", "from", from, "to", to, "event", ev.Name)
		return
	}
	if err := s.transport.Send(from, to, ev); err != nil {
		s.log.Warn("statechart: send failed", "from", from, "to", to, "event", ev.Name, "err", err)
	}
}

func (s *System) schedule(a *Actor, id, to string, ev Event, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.in.status != StatusActive {
		return
	}
	key := id
	if key == "" {
		s.nextID++
		key = fmt.Sprintf("\x00%d", s.nextID) // cannot collide with a document id
	}
	t := &timerEntry{id: key, to: to, ev: ev, due: s.clock.Now().Add(d)}
	a.timers[t] = true
	a.byID[key] = t // an earlier send with this id stays pending (XState)
	t.t = s.clock.AfterFunc(d, func() { s.fire(a, t) })
}

func (s *System) fire(a *Actor, t *timerEntry) {
	s.mu.Lock()
	if !a.timers[t] {
		s.mu.Unlock()
		return
	}
	delete(a.timers, t)
	if a.byID[t.id] == t {
		delete(a.byID, t.id)
	}
	s.mu.Unlock()
	s.route(a.id, t.to, t.ev)
}

func (s *System) dropTimersLocked(a *Actor) {
	for t := range a.timers {
		t.t.Stop()
	}
	clear(a.timers)
	clear(a.byID)
}

// request delivers a request and routes its answer back to a's mailbox.
func (s *System) request(a *Actor, e Effect) {
	answer := func(data json.RawMessage, err error) {
		ev := Event{Name: e.OnReply, Data: data, Source: e.To}
		if err != nil {
			b, _ := json.Marshal(map[string]string{"error": err.Error()})
			ev = Event{Name: e.OnError, Data: b, Source: e.To}
		}
		if derr := s.Deliver(a.id, ev); derr != nil {
			s.log.Debug("statechart: answer for a machine that is gone dropped", "machine", a.id, "event", ev.Name)
		}
	}
	ev := e.Event
	ev.Source = a.id
	ev.ReplyTo = answer
	if s.Deliver(e.To, ev) == nil {
		return
	}
	if s.transport == nil {
		answer(nil, fmt.Errorf("%w: %q", ErrUnknownMachine, e.To))
		return
	}
	ev.ReplyTo = nil
	s.transport.Request(a.id, e.To, ev, e.Delay, answer)
}

// Saved is a hosted machine's snapshot with its pending delayed sends,
// as System.Save returns it and System.SpawnSaved takes it.
type Saved struct {
	Snapshot Snapshot      `json:"snapshot"`
	Pending  []PendingSend `json:"pending,omitempty"`
}

// PendingSend is a delayed send not yet delivered.
type PendingSend struct {
	ID      string          `json:"id,omitempty"`
	To      string          `json:"to"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data,omitempty"`
	DueInMs int64           `json:"dueInMs"`
}

// Save returns the snapshot of hosted machine id and its pending
// delayed sends (due times relative to the clock's now), between
// macrosteps. Events still in its mailbox are not included.
func (s *System) Save(id string) (Saved, error) {
	s.proc.Lock()
	defer s.proc.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.actors[id]
	if a == nil {
		return Saved{}, fmt.Errorf("%w: %q", ErrUnknownMachine, id)
	}
	out := Saved{Snapshot: a.in.Snapshot()}
	now := s.clock.Now()
	var list []*timerEntry
	for t := range a.timers {
		list = append(list, t)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].due.Before(list[j].due) })
	for _, t := range list {
		p := PendingSend{ID: t.id, To: t.to, Event: t.ev.Name, Data: t.ev.Data, DueInMs: max(t.due.Sub(now).Milliseconds(), 0)}
		if len(p.ID) > 0 && p.ID[0] == 0 {
			p.ID = ""
		}
		out.Pending = append(out.Pending, p)
	}
	return out, nil
}

// SpawnSaved hosts m under id in the state saved describes (no entry
// actions run) and re-arms its pending delayed sends.
func (s *System) SpawnSaved(id string, m *Machine, saved Saved) (*Actor, error) {
	in, err := Restore(m, saved.Snapshot, WithID(id), WithMaxMicrosteps(s.maxSteps))
	if err != nil {
		return nil, err
	}
	a, err := s.host(id, in, nil)
	if err != nil {
		return nil, err
	}
	if in.status != StatusActive {
		close(a.done)
		return a, nil
	}
	for _, p := range saved.Pending {
		s.schedule(a, p.ID, p.To, Event{Name: p.Event, Data: p.Data, Source: id}, time.Duration(p.DueInMs)*time.Millisecond)
	}
	return a, nil
}
