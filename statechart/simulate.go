package statechart

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Simulator runs one machine on a virtual clock, step by step, the way
// "statebus chart simulate" does: each step is "send EVENT [JSON]" or
// "advance MILLISECONDS", and yields one Line once the machine is idle.
// Sends to other ids are recorded in the Line, not delivered.
type Simulator struct {
	sys   *System
	clock *VirtualClock
	id    string
	actor *Actor
	cur   Line
}

// Line is the outcome of one simulation step.
type Line struct {
	Value   json.RawMessage `json:"value"`
	Status  Status          `json:"status"`
	Context map[string]any  `json:"context"`
	Log     []string        `json:"log"`
	Sent    []Sent          `json:"sent,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// Sent is an event a simulated machine sent to another id.
type Sent struct {
	To      string          `json:"to"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Request bool            `json:"request,omitempty"`
}

// ErrBadStep is returned for a step line that is not "send" or "advance".
var ErrBadStep = errors.New("statechart: bad step")

// NewSimulator starts m (its id is the machine's) at virtual time zero
// and returns the initial Line. An error starting it is also reported in
// the Line (status error).
func NewSimulator(m *Machine) (*Simulator, Line, error) {
	sim := &Simulator{clock: NewVirtualClock(time.Unix(0, 0).UTC()), id: m.ID()}
	sim.sys = NewSystem(WithClock(sim.clock), WithTransport(simTransport{sim}), WithObserver(sim.observe),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	a, err := sim.sys.Spawn(sim.id, m)
	if err != nil {
		return nil, Line{}, err
	}
	sim.actor = a
	return sim, sim.settle(), sim.lineErr()
}

type simTransport struct{ sim *Simulator }

func (t simTransport) Send(from, to string, ev Event) error {
	t.sim.cur.Sent = append(t.sim.cur.Sent, Sent{To: to, Event: ev.Name, Payload: ev.Data})
	return nil
}

func (t simTransport) Request(from, to string, ev Event, _ time.Duration, _ func(json.RawMessage, error)) {
	t.sim.cur.Sent = append(t.sim.cur.Sent, Sent{To: to, Event: ev.Name, Payload: ev.Data, Request: true})
}

func (sim *Simulator) observe(st Step) {
	sim.cur.Log = append(sim.cur.Log, st.Result.Logs...)
	if st.Err != nil && sim.cur.Error == "" {
		sim.cur.Error = st.Err.Error()
	}
}

// settle processes the mailbox until idle and returns the step's Line.
func (sim *Simulator) settle() Line {
	sim.sys.Drain()
	return sim.finish()
}

func (sim *Simulator) finish() Line {
	snap := sim.actor.Snapshot()
	l := sim.cur
	l.Value, l.Status, l.Context = snap.Value, snap.Status, snap.Context
	if l.Log == nil {
		l.Log = []string{}
	}
	sim.cur = Line{}
	return l
}

func (sim *Simulator) lineErr() error {
	if err := sim.actor.in.Err(); err != nil {
		return err
	}
	return nil
}

// Now returns the virtual time elapsed since the start.
func (sim *Simulator) Now() time.Duration { return sim.clock.Now().Sub(time.Unix(0, 0)) }

// Step runs one step line. It returns ErrBadStep (and no Line) for a
// malformed line, and the machine's error (with a status error Line)
// when the step made the machine fail.
func (sim *Simulator) Step(line string) (Line, error) {
	verb, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	switch verb {
	case "send":
		name, data, _ := strings.Cut(rest, " ")
		data = strings.TrimSpace(data)
		if name == "" {
			return Line{}, fmt.Errorf("%w: send needs an event name", ErrBadStep)
		}
		ev := Event{Name: name}
		if data != "" {
			if !json.Valid([]byte(data)) {
				return Line{}, fmt.Errorf("%w: payload of %s is not valid JSON: %s", ErrBadStep, name, data)
			}
			ev.Data = json.RawMessage(data)
		}
		before := sim.actor.in.Err()
		sim.sys.Deliver(sim.id, ev)
		l := sim.settle()
		if err := sim.actor.in.Err(); err != nil && err != before {
			return l, err
		}
		return l, nil
	case "advance":
		ms, err := strconv.ParseFloat(rest, 64)
		if err != nil || ms < 0 || ms > maxDelayMs {
			return Line{}, fmt.Errorf("%w: advance needs a number of milliseconds, got %q", ErrBadStep, rest)
		}
		before := sim.actor.in.Err()
		until := sim.clock.Now().Add(time.Duration(ms * float64(time.Millisecond)))
		for sim.clock.FireNext(until) {
			sim.sys.Drain()
		}
		sim.clock.Advance(until.Sub(sim.clock.Now()))
		l := sim.settle()
		if err := sim.actor.in.Err(); err != nil && err != before {
			return l, err
		}
		return l, nil
	}
	return Line{}, fmt.Errorf("%w: %q (want \"send EVENT [JSON]\" or \"advance MILLISECONDS\")", ErrBadStep, line)
}
