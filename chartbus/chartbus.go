// Package chartbus runs statecharts (package statechart) as members of a
// statebus bus, through the public Go client.
//
// A Host owns one statechart.System and one client.Conn. Each machine it
// starts is bound to its bus id with Conn.Bind: events the bus delivers
// to the id go to the machine's mailbox, in the order the bus delivers
// them. A machine's sends to ids the Host runs go straight to their
// mailboxes (no socket hop); sends to other ids leave through
// Conn.SendAsyncAs as the machine's id, so events from one machine to
// another keep their order whether the two share a process or not. The
// same chart runs unchanged in one process, across processes and, with a
// bridge, across hosts.
//
// Every bus member reports its state to the bus (client.Conn's
// ReportStateAsync) after each macrostep, pipelined with its sends: one
// line per step, no round trip; the first report carries the chart's
// definition (statechart.Machine.Definition), for the inspector to draw.
// ListMachines, MachineState and monitors see the reports. A bus too old
// to take them (unknown_type) turns reporting off for the Host.
//
// Request/reply maps onto the bus's Request/Reply: a bus Request for a
// hosted machine becomes an event whose answer is the payload of the
// machine's "reply" action, or its snapshot when it does not reply; a
// machine's "request" action to an id not hosted here is a
// Conn.RequestAsync whose answer comes back as an event.
package chartbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/statechart"
)

// Host runs statecharts as bus members on one connection. Its methods
// are safe for concurrent use.
type Host struct {
	conn *client.Conn
	sys  *statechart.System

	mu      sync.Mutex
	members map[string]*client.Member
	closed  bool
	unreq   func()

	// rmu orders the state reports of every member: held while one is
	// queued, so the bus keeps the latest.
	rmu       sync.Mutex
	reporters map[string]*reporter
	noReports atomic.Bool // the bus does not take ReportState
}

// reporter is the state reporting of one member.
type reporter struct {
	bound   bool                 // its id is registered: reports may go
	early   *statechart.Snapshot // the last step before it was bound
	def     json.RawMessage      // the definition, until the first report
	defSent bool
}

// New returns a Host on conn. It answers every bus Request that reaches
// conn (it installs an OnRequest("*") handler): requests for the machines
// it runs go to them, others are refused. opts configure the System
// (clock, observer, logger, microstep limit); a WithTransport among them
// is replaced by the bus.
func New(conn *client.Conn, opts ...statechart.SystemOption) *Host {
	h := &Host{conn: conn, members: map[string]*client.Member{}, reporters: map[string]*reporter{}}
	h.sys = statechart.NewSystem(append(opts, statechart.WithTransport(busTransport{h}), statechart.WithObserver(h.observe))...)
	h.unreq = conn.OnRequest("*", h.serveRequest)
	return h
}

// System returns the Host's System, to host machines that are not bus
// members or to inspect them.
func (h *Host) System() *statechart.System { return h.sys }

// Start hosts m as bus member id: the machine is spawned (its start is
// queued first in its mailbox) and id is registered on the connection.
// It fails if the id is hosted already or the bus refuses it (an
// *client.Error matching client.ErrIDTaken, say).
func (h *Host) Start(ctx context.Context, id string, m *statechart.Machine) (*statechart.Actor, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, client.ErrClosed
	}
	rep := &reporter{def: m.Definition()}
	if len(rep.def) > maxDefinitionBytes {
		rep.def = nil // the bus would refuse the report
	}
	h.rmu.Lock()
	if h.reporters[id] != nil {
		h.rmu.Unlock()
		return nil, fmt.Errorf("statechart: machine id %q is already hosted", id)
	}
	h.reporters[id] = rep
	h.rmu.Unlock()
	a, err := h.sys.Spawn(id, m)
	if err != nil {
		h.dropReporter(id, rep)
		return nil, err
	}
	mem, err := h.conn.Bind(ctx, id, func(ev client.Event) {
		// An error means the machine was stopped while its id was
		// still bound: the event has no machine left to go to.
		_ = h.sys.Deliver(id, fromClient(ev))
	})
	if err != nil {
		h.sys.Stop(id)
		h.dropReporter(id, rep)
		return nil, err
	}
	h.mu.Lock()
	h.members[id] = mem
	h.mu.Unlock()
	h.rmu.Lock()
	rep.bound = true
	if rep.early != nil {
		h.reportLocked(id, rep, rep.early)
		rep.early = nil
	}
	h.rmu.Unlock()
	return a, nil
}

// maxDefinitionBytes is the bus's bound on a reported definition.
const maxDefinitionBytes = 1 << 20

func (h *Host) dropReporter(id string, rep *reporter) {
	h.rmu.Lock()
	if h.reporters[id] == rep {
		delete(h.reporters, id)
	}
	h.rmu.Unlock()
}

// observe reports a member's state after each of its macrosteps. It runs
// on the System's processing goroutine.
func (h *Host) observe(st statechart.Step) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	rep := h.reporters[st.Machine]
	switch {
	case rep == nil: // not a bus member
	case !rep.bound:
		snap := st.Snapshot
		rep.early = &snap
	default:
		h.reportLocked(st.Machine, rep, &st.Snapshot)
	}
}

// reportLocked queues one state report. h.rmu must be held.
func (h *Host) reportLocked(id string, rep *reporter, snap *statechart.Snapshot) {
	if h.noReports.Load() {
		return
	}
	var def any
	if !rep.defSent && rep.def != nil {
		def = rep.def
	}
	err := h.conn.ReportStateAsync(id, snap.Value, string(snap.Status), snap.Context, def, func(err error) { h.reported(id, err) })
	if err == nil || errors.Is(err, client.ErrDisconnected) {
		rep.defSent = true // kept by the Conn, sent again after a reconnect
	}
}

// reported handles the bus's answer to a state report, on the Conn's
// reader goroutine.
func (h *Host) reported(id string, err error) {
	var be *client.Error
	switch {
	case err == nil:
	case errors.As(err, &be) && be.Code == "unknown_type":
		if !h.noReports.Swap(true) {
			slog.Warn("chartbus: the bus does not take state reports (it is older than ReportState); not reporting", "machine", id)
		}
	default:
		slog.Warn("chartbus: state report refused", "machine", id, "err", err)
	}
}

// Stop stops machine id and releases its bus id.
func (h *Host) Stop(ctx context.Context, id string) error {
	h.mu.Lock()
	mem := h.members[id]
	delete(h.members, id)
	h.mu.Unlock()
	h.rmu.Lock()
	delete(h.reporters, id)
	h.rmu.Unlock()
	err := h.sys.Stop(id)
	if mem != nil {
		err = errors.Join(err, mem.Close(ctx))
	}
	return err
}

// Run processes the machines' events until ctx ends (see
// statechart.System.Run).
func (h *Host) Run(ctx context.Context) error { return h.sys.Run(ctx) }

// Close stops every machine, releases their ids, removes the request
// handler and waits for outgoing Requests to end (they fail once the
// connection closes). It does not close the connection.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ids := make([]string, 0, len(h.members))
	for id := range h.members {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	var err error
	for _, id := range ids {
		err = errors.Join(err, h.Stop(ctx, id))
	}
	h.unreq()
	return err
}

func fromClient(ev client.Event) statechart.Event {
	out := statechart.Event{Name: ev.Name, Source: ev.Source}
	if len(ev.Payload) > 0 && string(ev.Payload) != "null" {
		out.Data = ev.Payload
	}
	return out
}

// serveRequest answers a bus Request for a hosted machine once the
// machine has processed it.
func (h *Host) serveRequest(ctx context.Context, ev client.Event) (any, error) {
	type answer struct {
		data json.RawMessage
		err  error
	}
	ch := make(chan answer, 1)
	sev := fromClient(ev)
	sev.ReplyTo = func(data json.RawMessage, err error) { ch <- answer{data, err} }
	if err := h.sys.Deliver(ev.Target, sev); err != nil {
		return nil, fmt.Errorf("no statechart %q here", ev.Target)
	}
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, a.err
		}
		if a.data == nil {
			return nil, nil
		}
		return a.data, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// busTransport carries sends to ids the Host does not run.
type busTransport struct{ h *Host }

func payload(data json.RawMessage) any {
	if data == nil {
		return nil
	}
	return data
}

func (t busTransport) Send(from, to string, ev statechart.Event) error {
	return t.h.conn.SendAsyncAs(from, to, ev.Name, payload(ev.Data))
}

// Request is queued on the connection in order with the machine's other
// sends (RequestAsync); the answer arrives on the connection's reader and
// goes to the machine's mailbox. The bus enforces the timeout (its default
// without one); closing the connection fails it.
func (t busTransport) Request(from, to string, ev statechart.Event, timeout time.Duration, answer func(json.RawMessage, error)) {
	if err := t.h.conn.RequestAsync(from, to, ev.Name, payload(ev.Data), timeout, answer); err != nil {
		go answer(nil, err) // not while the System is handing out effects
	}
}
