package statechart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Transport carries events to machines a System does not host (another
// process, through statebus). Send must keep the order of the events
// one machine sends to one target. Request must not block: it calls
// answer exactly once, from any goroutine.
type Transport interface {
	Send(from, to string, ev Event) error
	Request(from, to string, ev Event, timeout time.Duration, answer func(json.RawMessage, error))
}

// Step describes one processed macrostep, for observers.
type Step struct {
	Machine  string
	Event    Event // xstate.init for the start
	Snapshot Snapshot
	Result   Result
	Err      error // the macrostep's failure; nil when it worked
}

// System hosts machines, each with one mailbox processed one event at a
// time, and hands out their deferred effects after each macrostep in
// FIFO order: to the mailboxes of machines it hosts (in-process, no
// copy through a socket), to its Transport for other ids, to its Clock
// for delayed sends. All machines of a System are processed on one
// goroutine (Run's or Drain's caller), so the order of events between
// any two of them is the order they were sent in. Methods are safe for
// concurrent use, except that Run and Drain must not overlap.
type System struct {
	clock     Clock
	transport Transport
	observers []func(Step)
	log       *slog.Logger
	maxSteps  int

	proc   sync.Mutex // held while processing one event
	mu     sync.Mutex
	actors map[string]*Actor
	ready  []*Actor
	wake   chan struct{}
	nextID uint64
}

// SystemOption configures a System.
type SystemOption func(*System)

// WithClock sets the clock of delayed sends. Default RealClock().
func WithClock(c Clock) SystemOption { return func(s *System) { s.clock = c } }

// WithTransport sets where events for ids the System does not host go.
// Default none: such sends are logged and dropped, and requests fail.
func WithTransport(t Transport) SystemOption { return func(s *System) { s.transport = t } }

// WithObserver calls fn after every macrostep, on the processing
// goroutine; fn must not call Drain. Observers add up: each one given is
// called, in the order given.
func WithObserver(fn func(Step)) SystemOption {
	return func(s *System) { s.observers = append(s.observers, fn) }
}

// WithLogger sets where undeliverable sends are logged. Default slog.Default().
func WithLogger(l *slog.Logger) SystemOption { return func(s *System) { s.log = l } }

// WithSystemMaxMicrosteps sets every machine's microstep limit (see WithMaxMicrosteps).
func WithSystemMaxMicrosteps(n int) SystemOption { return func(s *System) { s.maxSteps = n } }

// NewSystem returns an empty System.
func NewSystem(opts ...SystemOption) *System {
	s := &System{clock: RealClock(), log: slog.Default(), actors: map[string]*Actor{}, wake: make(chan struct{}, 1)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Actor is a machine hosted by a System.
type Actor struct {
	sys     *System
	id      string
	in      *Interpreter
	mailbox []Event
	queued  bool
	snap    Snapshot
	done    chan struct{} // closed once the machine is done or failed
	timers  map[*timerEntry]bool
	byID    map[string]*timerEntry
}

type timerEntry struct {
	id, to string
	ev     Event
	due    time.Time
	t      Timer
}

// startEvent marks the start of a machine in its mailbox.
const startEvent = "xstate.init"

// Spawn hosts m under id and queues its start: its entry actions run
// when the System next processes events. It fails if id is taken.
func (s *System) Spawn(id string, m *Machine) (*Actor, error) {
	in, err := NewInterpreter(m, WithID(id), WithMaxMicrosteps(s.maxSteps))
	if err != nil {
		return nil, err
	}
	return s.host(id, in, []Event{{Name: startEvent}})
}

func (s *System) host(id string, in *Interpreter, first []Event) (*Actor, error) {
	a := &Actor{sys: s, id: id, in: in, done: make(chan struct{}), timers: map[*timerEntry]bool{},
		byID: map[string]*timerEntry{}, snap: in.Snapshot()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.actors[id] != nil {
		return nil, fmt.Errorf("statechart: machine id %q is already hosted", id)
	}
	s.actors[id] = a
	for _, ev := range first {
		s.enqueueLocked(a, ev)
	}
	return a, nil
}

// ID returns the actor's machine id.
func (a *Actor) ID() string { return a.id }

// Snapshot returns the snapshot published after the last macrostep.
func (a *Actor) Snapshot() Snapshot {
	a.sys.mu.Lock()
	defer a.sys.mu.Unlock()
	return a.snap
}

// Done is closed once the machine is done or has failed, after the
// effects of its last macrostep were handed out and the observer saw it.
func (a *Actor) Done() <-chan struct{} { return a.done }

// Hosts reports whether the System hosts a machine with this id.
func (s *System) Hosts(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.actors[id] != nil
}

// Deliver puts ev at the back of the mailbox of hosted machine to. It
// fails with ErrUnknownMachine if no such machine is hosted.
func (s *System) Deliver(to string, ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.actors[to]
	if a == nil {
		return fmt.Errorf("%w: %q", ErrUnknownMachine, to)
	}
	s.enqueueLocked(a, ev)
	return nil
}

// Send delivers ev to machine to: into its mailbox when hosted here,
// else through the Transport (ev.Source is the sender).
func (s *System) Send(to string, ev Event) error {
	if err := s.Deliver(to, ev); !errors.Is(err, ErrUnknownMachine) {
		return err
	}
	if s.transport == nil {
		return fmt.Errorf("%w: %q (and no transport)", ErrUnknownMachine, to)
	}
	return s.transport.Send(ev.Source, to, ev)
}

func (s *System) enqueueLocked(a *Actor, ev Event) {
	a.mailbox = append(a.mailbox, ev)
	if !a.queued {
		a.queued = true
		s.ready = append(s.ready, a)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Drain processes events until every mailbox is empty and returns how
// many it processed. Timers do not fire during Drain unless the clock
// fires them from another goroutine.
func (s *System) Drain() int {
	n := 0
	for s.step() {
		n++
	}
	return n
}

// Run processes events as they arrive until ctx ends.
func (s *System) Run(ctx context.Context) error {
	for {
		s.Drain()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		}
	}
}

// step processes one event of the first ready machine.
func (s *System) step() bool {
	s.proc.Lock()
	defer s.proc.Unlock()
	s.mu.Lock()
	if len(s.ready) == 0 {
		s.mu.Unlock()
		return false
	}
	a := s.ready[0]
	s.ready = s.ready[1:]
	if len(a.mailbox) == 0 { // stopped while queued
		a.queued = false
		s.mu.Unlock()
		return true
	}
	ev := a.mailbox[0]
	a.mailbox = a.mailbox[1:]
	if len(a.mailbox) > 0 {
		s.ready = append(s.ready, a)
	} else {
		a.queued, a.mailbox = false, nil
	}
	s.mu.Unlock()
	s.process(a, ev)
	return true
}

// Stop removes hosted machine id: its mailbox is discarded, its pending
// delayed sends are cancelled and the id is free again. Requests waiting
// in its mailbox are answered with ErrNotActive.
func (s *System) Stop(id string) error {
	s.mu.Lock()
	a := s.actors[id]
	if a == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownMachine, id)
	}
	delete(s.actors, id)
	s.dropTimersLocked(a)
	pending := a.mailbox
	a.mailbox = nil
	s.mu.Unlock()
	for _, ev := range pending {
		if ev.ReplyTo != nil {
			ev.ReplyTo(nil, fmt.Errorf("%w (%s was stopped)", ErrNotActive, id))
		}
	}
	return nil
}
