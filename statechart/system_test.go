package statechart

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, doc string, reg *Registry) *Machine {
	t.Helper()
	m, err := Load([]byte(doc), reg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// recorder is a Transport that records what leaves the System.
type recorder struct{ sent []string }

func (r *recorder) Send(from, to string, ev Event) error {
	r.sent = append(r.sent, fmt.Sprintf("%s->%s:%s%s", from, to, ev.Name, ev.Data))
	return nil
}

func (r *recorder) Request(from, to string, ev Event, _ time.Duration, answer func(json.RawMessage, error)) {
	r.sent = append(r.sent, fmt.Sprintf("%s->%s:?%s", from, to, ev.Name))
	answer(json.RawMessage(`"remote answer"`), nil)
}

// Sends are deferred to the end of the macrostep and leave in the order
// the actions made them; raise is not deferred.
func TestDeferredSendsLeaveInOrderAfterTheMacrostep(t *testing.T) {
	var seen []string
	reg := NewRegistry().Action("probe", func(s *Scope, p map[string]any) error {
		seen = append(seen, fmt.Sprintf("%v in %v", p["at"], s.In("#m.b")))
		return nil
	})
	m := mustLoad(t, `{"id": "m", "initial": "a", "states": {
	  "a": {"on": {"GO": {"target": "b", "actions": [
	      {"type": "sendTo", "params": {"to": "x", "event": "ONE"}},
	      {"type": "sendTo", "params": {"to": "y", "event": "TWO"}},
	      {"type": "raise", "params": {"event": "INNER"}},
	      {"type": "sendTo", "params": {"to": "x", "event": "THREE", "payload": 3}},
	      {"type": "probe", "params": {"at": "action"}}]}}},
	  "b": {"on": {"INNER": {"actions": [{"type": "sendTo", "params": {"to": "x", "event": "FOUR"}}, {"type": "probe", "params": {"at": "inner"}}]}}}}}`, reg)
	in, _ := NewInterpreter(m)
	if _, err := in.Start(); err != nil {
		t.Fatal(err)
	}
	res, err := in.Send(Event{Name: "GO"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Effects {
		got = append(got, e.To+":"+e.Event.Name)
	}
	if want := []string{"x:ONE", "y:TWO", "x:THREE", "x:FOUR"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("effects %v, want %v", got, want)
	}
	if want := []string{"action in false", "inner in true"}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("actions saw %v, want %v", seen, want)
	}
	if res.Microsteps != 2 {
		t.Fatalf("%d microsteps", res.Microsteps)
	}
}

// Several machines in one System: in-process delivery with per-pair FIFO
// order, sends to others through the transport, self-sends behind
// waiting events.
func TestSystemInProcessOrdering(t *testing.T) {
	producer := mustLoad(t, `{"id": "producer", "initial": "run", "states": {"run": {"entry": [
	    {"type": "sendTo", "params": {"to": "consumer", "event": "E1"}},
	    {"type": "sendTo", "params": {"to": "consumer", "event": "E2"}},
	    {"type": "sendTo", "params": {"to": "remote", "event": "OUT"}},
	    {"type": "sendTo", "params": {"to": "consumer", "event": "E3"}}]}}}`, nil)
	consumer := mustLoad(t, `{"id": "consumer", "initial": "run", "context": {"got": []}, "states": {"run": {"on": {
	    "*": {"actions": [{"type": "log", "params": {"message": "event"}}, {"type": "sendTo", "params": {"to": "sink", "event": "SEEN"}}]}}}}}`, nil)
	var order []string
	rec := &recorder{}
	sys := NewSystem(WithTransport(rec), WithObserver(func(st Step) {
		order = append(order, st.Machine+":"+st.Event.Name+"<"+st.Event.Source)
	}))
	if _, err := sys.Spawn("consumer", consumer); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Spawn("producer", producer); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Spawn("producer", producer); err == nil {
		t.Fatal("id hosted twice")
	}
	sys.Drain()
	want := []string{"consumer:xstate.init<", "producer:xstate.init<", "consumer:E1<producer", "consumer:E2<producer", "consumer:E3<producer"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v\nwant %v", order, want)
	}
	if want := []string{"producer->remote:OUT", "consumer->sink:SEEN", "consumer->sink:SEEN", "consumer->sink:SEEN"}; !reflect.DeepEqual(rec.sent, want) {
		t.Fatalf("transport got %v", rec.sent)
	}
}

// Local and remote requests: the answer comes back as an event; a
// machine that does not reply answers with its snapshot.
func TestRequestReply(t *testing.T) {
	asker := mustLoad(t, `{"id": "asker", "initial": "ask", "states": {
	  "ask": {"entry": [
	      {"type": "request", "params": {"to": "calc", "event": "ADD", "payload": {"a": 2, "b": 3}}},
	      {"type": "request", "params": {"to": "quiet", "event": "Q", "onReply": "QUIET_SNAPSHOT"}},
	      {"type": "request", "params": {"to": "far", "event": "FAR"}}],
	    "on": {
	      "ADD.reply": {"actions": {"type": "assign", "params": {"key": "sum", "fromEvent": ""}}},
	      "QUIET_SNAPSHOT": {"actions": {"type": "assign", "params": {"key": "quiet", "fromEvent": "value"}}},
	      "FAR.reply": {"actions": {"type": "assign", "params": {"key": "far", "fromEvent": ""}}}}}}}`, nil)
	reg := NewRegistry().Action("add", func(s *Scope, _ map[string]any) error {
		var in struct{ A, B int }
		if err := s.Event().Decode(&in); err != nil {
			return err
		}
		return s.Reply(in.A + in.B)
	})
	calc := mustLoad(t, `{"id": "calc", "initial": "up", "states": {"up": {"on": {"ADD": {"actions": "add"}}}}}`, reg)
	quiet := mustLoad(t, `{"id": "quiet", "initial": "idle", "states": {"idle": {}}}`, nil)
	rec := &recorder{}
	sys := NewSystem(WithTransport(rec))
	for id, m := range map[string]*Machine{"asker": asker, "calc": calc, "quiet": quiet} {
		if _, err := sys.Spawn(id, m); err != nil {
			t.Fatal(err)
		}
	}
	sys.Drain()
	a, _ := sys.Save("asker")
	want := map[string]any{"sum": 5.0, "quiet": "idle", "far": "remote answer"}
	if !reflect.DeepEqual(a.Snapshot.Context, want) {
		t.Fatalf("context %v, want %v", a.Snapshot.Context, want)
	}
	// Without a transport, a request to nobody answers with an error event.
	sys2 := NewSystem()
	lonely := mustLoad(t, `{"id": "l", "initial": "a", "states": {"a": {
	  "entry": {"type": "request", "params": {"to": "nobody", "event": "Q"}},
	  "on": {"Q.error": {"actions": {"type": "assign", "params": {"key": "err", "fromEvent": "error"}}}}}}}`, nil)
	sys2.Spawn("l", lonely)
	sys2.Drain()
	s, _ := sys2.Save("l")
	if e, _ := s.Snapshot.Context["err"].(string); !strings.Contains(e, "nobody") {
		t.Fatalf("context %v", s.Snapshot.Context)
	}
}

// Virtual time: timers fire only when the clock is advanced; Save and
// SpawnSaved carry pending delayed sends.
func TestVirtualTimeAndSaveRestore(t *testing.T) {
	m := mustLoad(t, `{"id": "t", "initial": "a", "context": {"n": 0}, "states": {
	  "a": {"after": {"1000": "b"}, "entry": {"type": "sendTo", "params": {"to": "out", "event": "LATER", "delay": 1500, "id": "later"}}},
	  "b": {"entry": {"type": "increment", "params": {"key": "n"}}, "on": {"STOP": "end"}},
	  "end": {"type": "final"}}}`, nil)
	clock := NewVirtualClock(time.Unix(0, 0))
	rec := &recorder{}
	sys := NewSystem(WithClock(clock), WithTransport(rec))
	a, _ := sys.Spawn("t", m)
	sys.Drain()
	clock.Advance(400 * time.Millisecond)
	sys.Drain()
	if v := string(a.Snapshot().Value); v != `"a"` {
		t.Fatalf("after 400ms: %s", v)
	}
	saved, err := sys.Save("t")
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Pending) != 2 || saved.Pending[0].DueInMs != 600 || saved.Pending[1].ID != "later" || saved.Pending[1].DueInMs != 1100 {
		t.Fatalf("pending %+v", saved.Pending)
	}
	// Round trip through JSON, into a new System with its own clock.
	b, _ := json.Marshal(saved)
	var back Saved
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	clock2 := NewVirtualClock(time.Unix(100, 0))
	rec2 := &recorder{}
	sys2 := NewSystem(WithClock(clock2), WithTransport(rec2))
	a2, err := sys2.SpawnSaved("t", m, back)
	if err != nil {
		t.Fatal(err)
	}
	until := clock2.Now().Add(600 * time.Millisecond)
	for clock2.FireNext(until) {
		sys2.Drain()
	}
	if v := string(a2.Snapshot().Value); v != `"b"` || a2.Snapshot().Context["n"] != 1.0 {
		t.Fatalf("restored machine after 600ms: %s %v", v, a2.Snapshot().Context)
	}
	clock2.Advance(time.Second)
	if !reflect.DeepEqual(rec2.sent, []string{"t->out:LATER"}) {
		t.Fatalf("restored delayed send: %v", rec2.sent)
	}
	sys2.Deliver("t", Event{Name: "STOP"})
	sys2.Drain()
	select {
	case <-a2.Done():
	default:
		t.Fatal("done not closed")
	}
	if clock2.Pending() != 0 {
		t.Fatalf("%d timers left after done", clock2.Pending())
	}
	if err := sys2.Deliver("nobody", Event{Name: "X"}); !errors.Is(err, ErrUnknownMachine) {
		t.Fatalf("deliver to nobody: %v", err)
	}
	if err := sys2.Stop("t"); err != nil || sys2.Hosts("t") {
		t.Fatalf("stop: %v", err)
	}
}

func TestRealClockDelays(t *testing.T) {
	m := mustLoad(t, `{"id": "t", "initial": "a", "states": {"a": {"after": {"1": "b"}}, "b": {"type": "final"}}}`, nil)
	sys := NewSystem()
	a, _ := sys.Spawn("t", m)
	ctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	ran := make(chan error)
	go func() { ran <- sys.Run(ctx) }()
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("after 1ms never fired")
	}
	cancel()
	if err := <-ran; err == nil {
		t.Fatal("Run returned nil")
	}
}
