package server

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/router"
)

// Traces: a record of every bus action, for monitors (docs/protocol.md
// §4.12). The routing path pays one atomic load when no monitor is
// attached: Server.taps is nil then, and nothing is built.
//
// A tapper is one monitor: a wire monitor (a connection that sent
// Monitor) or an in-process Tap (the web inspector). The set of tappers is
// copied on write and read without a lock.

// tapper receives the traces that pass its filter. take must not block:
// a monitor that cannot keep up loses traces, counted, never the sender's
// time. payload is the raw payload, valid only during the call; from is
// the connection whose reader produced the trace, or nil.
type tapper interface {
	filter() *protocol.TraceFilter
	take(t *protocol.Trace, payload []byte, from *conn)
}

type tapSet struct{ list []tapper }

// addTap adds t to the set, replacing old if it is in it.
func (s *Server) addTap(t, old tapper) {
	s.tapMu.Lock()
	defer s.tapMu.Unlock()
	var list []tapper
	if cur := s.taps.Load(); cur != nil {
		for _, x := range cur.list {
			if x != old {
				list = append(list, x)
			}
		}
	}
	s.taps.Store(&tapSet{list: append(list, t)})
}

// removeTap takes t out of the set.
func (s *Server) removeTap(t tapper) {
	s.tapMu.Lock()
	defer s.tapMu.Unlock()
	cur := s.taps.Load()
	if cur == nil {
		return
	}
	var list []tapper
	for _, x := range cur.list {
		if x != t {
			list = append(list, x)
		}
	}
	if len(list) == 0 {
		s.taps.Store(nil)
		return
	}
	s.taps.Store(&tapSet{list: list})
}

// tracing reports whether any monitor is attached; call it before building
// a trace.
func (s *Server) tracing() bool { return s.taps.Load() != nil }

// emit hands t to every tapper whose filter it passes, each with the
// payload cut as that tapper asked; a trace that some tapper takes is
// numbered and stamped first.
func (s *Server) emit(t *protocol.Trace, payload []byte, from *conn) {
	set := s.taps.Load()
	if set == nil {
		return
	}
	stamped := false
	for _, tp := range set.list {
		f := tp.filter()
		if !f.Match(t.Type, t.Source, t.Target, t.Event) {
			continue
		}
		if !stamped {
			// Numbered and timed only when some monitor takes it.
			stamped = true
			t.Seq = s.traceSeq.Add(1)
			t.Time = protocol.Time(time.Now())
			t.PayloadBytes = len(payload)
		}
		// Concrete calls, so that t stays on the caller's stack.
		switch tp := tp.(type) {
		case *connTap:
			tp.take(t, payload, from)
		case *Tap:
			tp.take(t, payload, from)
		}
	}
}

// transient returns b as a string without copying it, for the strings of
// a trace that lives only during emit: they are encoded (wire monitors)
// or cloned (Tap.take) before emit returns, and b is not changed
// meanwhile. It saves three allocations per traced event.
func transient(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// traceOf starts a trace of kind for an action of connection c (nil: none).
func traceOf(kind string, c *conn) protocol.Trace {
	t := protocol.Trace{Type: kind, Outcome: protocol.OutcomeOK, Pid: -1, Uid: -1, TargetPid: -1}
	if c != nil {
		t.Conn, t.Pid, t.Uid = c.id, c.peer.PID, c.peer.UID
	}
	return t
}

// outcome sets the trace's outcome from a code: delivered (or ok) when
// none, else the code and its text.
func outcome(t *protocol.Trace, code protocol.Code, delivered bool, text string) {
	switch {
	case code != protocol.CodeNone:
		t.Outcome, t.Error = code.String(), text
	case delivered:
		t.Outcome = protocol.OutcomeDelivered
	}
}

// connTap is a wire monitor: traces are written to its connection's
// outbox, bounded by MaxQueueBytes; what does not fit is dropped and
// counted, and a dropped trace tells the monitor how many it missed once
// there is room again.
type connTap struct {
	c       *conn
	f       protocol.TraceFilter
	dropped uint64      // under c.mu: missed since the last dropped trace
	armed   bool        // under c.mu: a flush is scheduled
	timer   *time.Timer // under c.mu: the scheduled flush
}

// traceFlushDelay is how long traces may wait in a monitor's queue before
// they are written: written in batches, they cost the bus one write (and
// the monitor one wake-up) per batch instead of per trace. A batch of
// flushEarly bytes is written at once.
const traceFlushDelay = 2 * time.Millisecond

// flushLater writes the monitor's queue after traceFlushDelay.
func (m *connTap) flushLater() {
	m.c.mu.Lock()
	m.armed = false
	m.c.mu.Unlock()
	m.c.flush()
}

// stop cancels a scheduled flush (the monitor is detached).
func (m *connTap) stop() {
	m.c.mu.Lock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.c.mu.Unlock()
}

func (m *connTap) filter() *protocol.TraceFilter { return &m.f }

func (m *connTap) take(t *protocol.Trace, payload []byte, from *conn) {
	c := m.c
	tr := *t
	tr.Payload, tr.Truncated = m.f.CutPayload(payload)
	limit := c.srv.limits().MaxQueueBytes
	c.mu.Lock()
	if c.closing || c.dead {
		c.mu.Unlock()
		return
	}
	need := len(tr.Payload) + 512
	if c.queuedLocked()+need > limit && c.queuedLocked() > 0 {
		m.dropped++
		c.mu.Unlock()
		c.srv.tracesDropped.Add(1)
		return
	}
	if m.dropped > 0 {
		d := protocol.Trace{Seq: tr.Seq, Time: tr.Time, Type: protocol.TraceDropped, Outcome: protocol.OutcomeOK, Pid: -1, Uid: -1, TargetPid: -1, Count: m.dropped}
		m.dropped = 0
		c.reserveLocked(512)
		c.out = protocol.AppendTrace(c.out, &d)
	}
	c.reserveLocked(need)
	c.out = protocol.AppendTrace(c.out, &tr)
	if c.queuedLocked() < flushEarly {
		if !m.armed {
			m.armed = true
			if m.timer == nil {
				m.timer = time.AfterFunc(traceFlushDelay, m.flushLater)
			} else {
				m.timer.Reset(traceFlushDelay)
			}
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if from != nil {
		from.markDirty(c)
	} else {
		c.flush()
	}
}

// Tap is an in-process monitor (the web inspector's): traces that pass
// its filter arrive on C. It never blocks the bus: when C's buffer is
// full, traces are dropped for this Tap and counted, and a trace of type
// "dropped" with their Count precedes the next one that fits. Payloads
// are copies. Close detaches it; C is then closed.
type Tap struct {
	s       *Server
	f       protocol.TraceFilter
	ch      chan protocol.Trace
	mu      sync.Mutex // serializes sends with Close, and the dropped count
	dropped uint64
	closed  bool
}

// Tap attaches an in-process monitor with filter f and room for buffer
// traces (at least 1).
func (s *Server) Tap(f protocol.TraceFilter, buffer int) *Tap {
	t := &Tap{s: s, f: f, ch: make(chan protocol.Trace, max(buffer, 1))}
	s.addTap(t, nil)
	return t
}

// C returns the channel traces arrive on.
func (t *Tap) C() <-chan protocol.Trace { return t.ch }

// Close detaches the tap and closes C. It may be called more than once.
func (t *Tap) Close() {
	t.s.removeTap(t)
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.ch)
	}
	t.mu.Unlock()
}

func (t *Tap) filter() *protocol.TraceFilter { return &t.f }

func (t *Tap) take(tr *protocol.Trace, payload []byte, _ *conn) {
	out := *tr
	out.Source, out.Target, out.Event = strings.Clone(tr.Source), strings.Clone(tr.Target), strings.Clone(tr.Event)
	out.Error = strings.Clone(tr.Error)
	p, cut := t.f.CutPayload(payload)
	out.Payload, out.Truncated = append(json.RawMessage(nil), p...), cut
	if len(out.Payload) == 0 {
		out.Payload = nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if t.dropped > 0 {
		d := protocol.Trace{Seq: out.Seq, Time: out.Time, Type: protocol.TraceDropped, Outcome: protocol.OutcomeOK, Pid: -1, Uid: -1, TargetPid: -1, Count: t.dropped}
		select {
		case t.ch <- d:
			t.dropped = 0
		default:
			t.dropped++
			t.s.tracesDropped.Add(1)
			return
		}
	}
	select {
	case t.ch <- out:
	default:
		t.dropped++
		t.s.tracesDropped.Add(1)
	}
}

// TracesDropped reports how many traces monitors have missed in all.
func (s *Server) TracesDropped() uint64 { return s.tracesDropped.Load() }

// Monitors reports how many monitors are attached.
func (s *Server) Monitors() int {
	if set := s.taps.Load(); set != nil {
		return len(set.list)
	}
	return 0
}

// traceFailure traces a line that failed before it named an action.
func (c *conn) traceFailure(code protocol.Code, text string) {
	if !c.srv.tracing() {
		return
	}
	t := traceOf(protocol.TraceFailure, c)
	t.Size = c.lineLen
	outcome(&t, code, false, text)
	c.srv.emit(&t, nil, c)
}

// traceRoute traces an event, publish or request of c from src to tgt:
// delivered to m (nil when it failed or went to another host) under the
// request id, or failed with code and text.
func (c *conn) traceRoute(kind string, src, tgt []byte, m *router.Machine, requestID uint64, code protocol.Code, text string) {
	t := traceOf(kind, c)
	t.Source, t.Target, t.Event = transient(src), transient(tgt), transient(c.ev.Name.Value(nil))
	t.Size, t.RequestID = c.lineLen, requestID
	outcome(&t, code, true, text)
	if m != nil {
		if o, ok := m.Owner.(*conn); ok {
			t.TargetConn, t.TargetPid = o.id, o.peer.PID
		}
	}
	c.srv.emit(&t, c.ev.Payload, c)
}

// tracePublish traces a Publish that reached n machines.
func (c *conn) tracePublish(src []byte, n int) {
	t := traceOf(protocol.TracePublish, c)
	t.Source, t.Event = transient(src), transient(c.ev.Name.Value(nil))
	t.Size, t.Recipients, t.Outcome = c.lineLen, n, protocol.OutcomeDelivered
	c.srv.emit(&t, c.ev.Payload, c)
}

// traceMachine traces a register or unregister of id by connection c
// (from: the reader producing it, or nil in teardown).
func (c *conn) traceMachine(kind, id string, code protocol.Code, from *conn) {
	if !c.srv.tracing() {
		return
	}
	t := traceOf(kind, c)
	t.Source = id
	if from != nil {
		t.Size = c.lineLen
	}
	outcome(&t, code, false, code.Prefix()+id)
	c.srv.emit(&t, nil, from)
}

// traceConn traces a connection accepted, refused or ended.
func (s *Server) traceConn(kind string, id uint64, peer PeerInfo, code protocol.Code, text string) {
	if !s.tracing() {
		return
	}
	t := traceOf(kind, nil)
	t.Conn, t.Pid, t.Uid = id, peer.PID, peer.UID
	outcome(&t, code, false, text)
	s.emit(&t, nil, nil)
}

// traceCompletion traces the end of one of c's Requests: answered (a) or
// failed; the reply goes to c, the requester.
func (c *conn) traceCompletion(p *router.Pending, a *protocol.Answer, fail *protocol.Error) {
	t := traceOf(protocol.TraceReply, nil)
	t.Source, t.Target, t.Event, t.RequestID = p.Target.ID, p.Source, p.Event, p.ID
	t.TargetConn, t.TargetPid = c.id, c.peer.PID
	if o, ok := p.Target.Owner.(*conn); ok {
		t.Conn, t.Pid, t.Uid = o.id, o.peer.PID, o.peer.UID
	}
	var payload []byte
	if fail != nil && fail.Code != protocol.CodeRemote {
		outcome(&t, fail.Code, false, fail.Text)
	} else {
		t.Outcome = protocol.OutcomeDelivered
		if a != nil {
			payload = a.Payload
		}
		if fail != nil {
			t.Error = fail.Text
		} else if a != nil && !a.Error.IsZero() {
			t.Error = string(a.Error.Value(nil))
		}
	}
	c.srv.emit(&t, payload, nil)
}
