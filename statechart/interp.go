package statechart

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// EffectKind says what an Effect asks the System to do.
type EffectKind int

// Effect kinds.
const (
	EffectSend     EffectKind = iota // deliver Event to To now
	EffectSchedule                   // deliver Event to To after Delay; ID for Cancel ("" none)
	EffectCancel                     // cancel the latest pending EffectSchedule with ID
	EffectReply                      // answer the request Event with Payload
	EffectRequest                    // send Event to To as a request; answer as OnReply/OnError; Delay is the timeout
)

// Effect is a deferred action, handed out in order after its macrostep.
type Effect struct {
	Kind    EffectKind
	To      string // target machine id (the machine's own id for a self-send)
	Event   Event  // the event to deliver; Source is the sending machine
	Delay   time.Duration
	ID      string
	Payload json.RawMessage // EffectReply
	OnReply string          // EffectRequest
	OnError string          // EffectRequest
}

// Result is what a macrostep produced: its deferred effects in FIFO
// order, the messages of its log actions, and how many microsteps it
// took.
type Result struct {
	Effects    []Effect
	Logs       []string
	Microsteps int
}

// Status is a machine's status.
type Status string

// Statuses, as XState names them.
const (
	StatusActive Status = "active"
	StatusDone   Status = "done"  // a top-level final state was reached
	StatusError  Status = "error" // an action or guard failed, or a macrostep did not settle
)

// DefaultMaxMicrosteps is the default limit on microsteps per macrostep.
const DefaultMaxMicrosteps = 10000

// Interpreter runs one instance of a Machine: it turns one event at a
// time into a macrostep and returns the macrostep's deferred effects. It
// does no I/O and starts no goroutines (a System adds mailboxes, timers
// and routing); it is not safe for concurrent use.
type Interpreter struct {
	m        *Machine
	id       string
	maxSteps int

	active  []bool // by node order
	hist    map[*StateNode][]*StateNode
	ctx     map[string]any
	status  Status
	err     error
	started bool

	// per macrostep
	internal []Event
	effects  []Effect
	logs     []string
	changed  bool
}

// Option configures an Interpreter.
type Option func(*Interpreter)

// WithID sets the instance's id: the source of its sends and the
// target of its self-sends. Default: the machine's id.
func WithID(id string) Option { return func(in *Interpreter) { in.id = id } }

// WithMaxMicrosteps bounds the microsteps of one macrostep (eventless
// transitions plus raised events); past it the macrostep fails with
// ErrNotSettled. Default DefaultMaxMicrosteps; n < 1 means the default.
func WithMaxMicrosteps(n int) Option {
	return func(in *Interpreter) {
		if n >= 1 {
			in.maxSteps = n
		}
	}
}

// NewInterpreter returns an interpreter for m, not yet started. m must
// come from Load (a Machine from Parse cannot run).
func NewInterpreter(m *Machine, opts ...Option) (*Interpreter, error) {
	if m.reg == nil {
		return nil, errors.New("statechart: machine was parsed without a registry; use Load to run it")
	}
	in := &Interpreter{m: m, id: m.id, maxSteps: DefaultMaxMicrosteps, active: make([]bool, len(m.nodes)),
		hist: map[*StateNode][]*StateNode{}, status: StatusActive}
	for _, o := range opts {
		o(in)
	}
	return in, nil
}

// ID returns the instance's id.
func (in *Interpreter) ID() string { return in.id }

// Machine returns the machine the interpreter runs.
func (in *Interpreter) Machine() *Machine { return in.m }

// Status returns the current status.
func (in *Interpreter) Status() Status { return in.status }

// Err returns the error that stopped the machine (status error), else nil.
func (in *Interpreter) Err() error { return in.err }

// Start enters the initial configuration (running entry actions) as
// XState does on start, with the event xstate.init, then settles
// eventless transitions and raised events. It fails if already started.
func (in *Interpreter) Start() (Result, error) {
	if in.started {
		return Result{}, errors.New("statechart: already started")
	}
	in.started = true
	in.ctx = cloneContext(in.m.context)
	return in.macrostep(Event{Name: "xstate.init"}, true)
}

// Send processes one external event to completion (a macrostep) and
// returns its effects. An event no transition takes changes nothing. It
// fails with ErrNotActive when the machine is not started, done or
// failed, and with a *RunError (status becomes error, the effects of the
// failed macrostep are dropped) when an action or guard fails or the
// macrostep does not settle.
func (in *Interpreter) Send(ev Event) (Result, error) {
	if !in.started || in.status != StatusActive {
		return Result{}, fmt.Errorf("%w (%s is %s)", ErrNotActive, in.id, in.statusText())
	}
	return in.macrostep(ev, false)
}

func (in *Interpreter) statusText() string {
	if !in.started {
		return "not started"
	}
	return string(in.status)
}

func (in *Interpreter) macrostep(ev Event, initial bool) (Result, error) {
	in.internal, in.effects, in.logs = nil, nil, nil
	steps, err := in.run(ev, initial)
	res := Result{Logs: in.logs, Microsteps: steps}
	in.internal, in.logs = nil, nil
	if err != nil {
		in.status, in.err, in.effects = StatusError, err, nil
		return res, err
	}
	res.Effects, in.effects = in.effects, nil
	return res, nil
}

// run is XState's macrostep: the event's microstep, then eventless
// transitions before each internal event until both are exhausted.
func (in *Interpreter) run(ev Event, initial bool) (int, error) {
	steps := 0
	if initial {
		if err := in.enterInitial(ev); err != nil {
			return 1, err
		}
	} else {
		ts, err := in.selectTransitions(ev)
		if err != nil {
			return 0, err
		}
		if _, err := in.microstep(ts, ev); err != nil {
			return 1, err
		}
	}
	steps++
	eventless := true
	var last *Transition
	for in.status == StatusActive {
		var ts []*Transition
		var err error
		if eventless {
			if ts, err = in.selectEventless(ev); err != nil {
				return steps, err
			}
		}
		fromEventless := len(ts) > 0
		if !fromEventless {
			if len(in.internal) == 0 {
				break
			}
			ev, in.internal = in.internal[0], in.internal[1:]
			if ts, err = in.selectTransitions(ev); err != nil {
				return steps, err
			}
		}
		if steps++; steps > in.maxSteps {
			return steps, in.notSettled(last, ev)
		}
		if len(ts) > 0 {
			last = ts[0]
		}
		changed, err := in.microstep(ts, ev)
		if err != nil {
			return steps, err
		}
		eventless = !fromEventless || changed
	}
	return steps, nil
}

func (in *Interpreter) notSettled(last *Transition, ev Event) error {
	path := in.m.root.Path
	if last != nil {
		path = last.Path
	}
	return &RunError{Machine: in.id, Path: path,
		Err: fmt.Errorf("%w within %d microsteps (last event %s)", ErrNotSettled, in.maxSteps, ev.Name)}
}

// runActions runs action references in order with the event ev.
func (in *Interpreter) runActions(refs []*actionRef, ev Event) error {
	for _, a := range refs {
		s := &Scope{in: in, ev: ev}
		var err error
		if a.args != nil {
			err = s.runBuiltin(a)
		} else {
			err = a.fn(s, a.params)
		}
		if err != nil {
			return &RunError{Machine: in.id, Path: a.path, Err: fmt.Errorf("action %q: %w", a.name, err)}
		}
	}
	return nil
}

// Active returns the ids of the active state nodes in document order.
func (in *Interpreter) Active() []string {
	var out []string
	for _, n := range in.m.nodes {
		if in.active[n.order] {
			out = append(out, n.ID)
		}
	}
	return out
}

// Context returns a copy of the machine's context.
func (in *Interpreter) Context() map[string]any { return cloneContext(in.ctx) }

func cloneContext(c map[string]any) map[string]any {
	out := maps.Clone(c)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range out {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := slices.Clone(x)
		for i, e := range s {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}
