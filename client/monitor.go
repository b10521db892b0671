package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// ErrMonitoring: Conn.Monitor while a Monitor of the same Conn is open.
// The bus keeps one filter per connection; change it with
// Monitor.SetFilter, or Close the Monitor first.
var ErrMonitoring = errors.New("statebus: a Monitor is already open on this connection")

// DefaultTraceBuffer is how many traces a Monitor's channel holds by
// default (WithTraceBuffer).
const DefaultTraceBuffer = 4096

// MonitorOption configures Conn.Monitor.
type MonitorOption func(*monitorOptions)

type monitorOptions struct {
	buffer int
}

// WithTraceBuffer sets how many traces wait in the Traces channel for
// their reader. When it is full, further traces are dropped on the client
// and counted (MonitorStats.ClientDropped) rather than hold up the Conn.
// Default DefaultTraceBuffer; values below 1 keep the default.
func WithTraceBuffer(n int) MonitorOption {
	return func(o *monitorOptions) {
		if n > 0 {
			o.buffer = n
		}
	}
}

// MonitorStats are a Monitor's counters.
type MonitorStats struct {
	Received      uint64 // trace lines read from the bus, dropped traces included
	BusDropped    uint64 // traces the bus dropped for this monitor: the sum of its dropped traces' Count
	ClientDropped uint64 // traces read but dropped because the Traces channel was full
}

// Monitor is a stream of the bus's traces (docs/protocol.md §4.12), from
// Conn.Monitor. Its methods are safe for concurrent use.
type Monitor struct {
	c  *Conn
	ch chan Trace

	// mu guards the members below and is held while sending on ch, so
	// end cannot close ch under a send.
	mu      sync.Mutex
	filter  MonitorFilter
	ended   bool
	err     error
	pending uint64 // traces dropped and not yet reported in a Local dropped trace

	received, busDropped, clientDropped atomic.Uint64
}

// Monitor asks the bus for a trace of every action matching f and
// returns the stream, once the bus has accepted. Only privileged peers
// may monitor: a refusal is an *Error with Code "unauthorized" (matching
// ErrRejected), an invalid filter one with "invalid_payload".
//
// A Conn has at most one open Monitor (another call fails with
// ErrMonitoring): the bus keeps one filter per connection. The Conn
// stays usable for everything else. After a reconnect the Conn sends the
// Monitor request again, with the current filter, before any other call;
// traces of the time it was disconnected are lost (WithStateHandler
// tells when). If the bus refuses it then, the Monitor ends with that
// error.
//
// Traces never hold up the Conn's reader: when the channel is full
// (WithTraceBuffer), traces are dropped and counted, and the next trace
// that fits is preceded by a Local TraceDropped trace saying how many.
// The bus does the same on its side when the connection does not keep up
// (a TraceDropped trace that is not Local).
func (c *Conn) Monitor(ctx context.Context, f MonitorFilter, opts ...MonitorOption) (*Monitor, error) {
	o := monitorOptions{buffer: DefaultTraceBuffer}
	for _, opt := range opts {
		opt(&o)
	}
	m := &Monitor{c: c, ch: make(chan Trace, o.buffer), filter: f}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil, ErrClosed
	case c.monitor.Load() != nil:
		c.mu.Unlock()
		return nil, ErrMonitoring
	}
	c.monitor.Store(m)
	c.mu.Unlock()
	if err := m.send(ctx, f); err != nil {
		c.monitor.CompareAndSwap(m, nil)
		m.end(err)
		return nil, err
	}
	return m, nil
}

// send sends a Monitor request with filter f on the live session.
func (m *Monitor) send(ctx context.Context, f MonitorFilter) error {
	payload, err := f.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = m.c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendPayloadRequest(b, protocol.TypeMonitor, n, payload)
	})
	return err
}

// resend sends the Monitor request again on a new session s, during a
// reconnect. A refusal by the bus ends the Monitor; other errors (the
// session died) are returned.
func (m *Monitor) resend(ctx context.Context, s *session) error {
	f := m.Filter()
	payload, err := f.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = s.call(ctx.Done(), m.c.done, func(b []byte, n uint64) []byte {
		return protocol.AppendPayloadRequest(b, protocol.TypeMonitor, n, payload)
	})
	var be *Error
	if errors.As(err, &be) {
		m.c.monitor.CompareAndSwap(m, nil)
		m.end(fmt.Errorf("statebus: monitoring again after a reconnect: %w", err))
		return nil
	}
	if errors.Is(err, errCanceled) {
		return ctx.Err()
	}
	return err
}

// Traces returns the stream of traces. It is closed when the Monitor
// ends: Close, the Conn's Close, the connection dropping with reconnection
// off, or the bus refusing the Monitor after a reconnect; Err then says
// which.
func (m *Monitor) Traces() <-chan Trace { return m.ch }

// Err returns why Traces was closed: ErrClosed after Close (of the
// Monitor or the Conn), an error matching ErrDisconnected when the
// connection dropped for good, the bus's *Error when it refused the
// Monitor after a reconnect. It is nil while the Monitor runs.
func (m *Monitor) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Filter returns the filter in force.
func (m *Monitor) Filter() MonitorFilter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.filter
}

// SetFilter replaces the filter: the bus applies f to every trace after
// its reply. On failure the previous filter stays in force.
func (m *Monitor) SetFilter(ctx context.Context, f MonitorFilter) error {
	if err := m.Err(); err != nil {
		return err
	}
	if err := m.send(ctx, f); err != nil {
		return err
	}
	m.mu.Lock()
	m.filter = f
	m.mu.Unlock()
	return nil
}

// Stats returns the Monitor's counters.
func (m *Monitor) Stats() MonitorStats {
	return MonitorStats{Received: m.received.Load(), BusDropped: m.busDropped.Load(), ClientDropped: m.clientDropped.Load()}
}

// Close ends the Monitor: Traces is closed (traces still in it can be
// read) and the Conn drops later trace lines. It asks the bus to detach
// the monitor ({"Stop":true}) without waiting for the reply. Close is
// idempotent and returns nil; another Monitor may be opened on the Conn
// after it.
func (m *Monitor) Close() error {
	c := m.c
	if !c.monitor.CompareAndSwap(m, nil) {
		m.end(ErrClosed)
		return nil
	}
	m.end(ErrClosed)
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		payload := []byte(`{"Stop":true}`)
		s.enqueue(&pendingCall{ch: make(chan result, 1)}, nil, func(b []byte, n uint64) []byte {
			return protocol.AppendPayloadRequest(b, protocol.TypeMonitor, n, payload)
		})
	}
	return nil
}

// end closes the stream with err, once.
func (m *Monitor) end(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return
	}
	m.ended, m.err = true, err
	close(m.ch)
}

// push delivers one trace line's Data without blocking. It runs on the
// session's reader.
func (m *Monitor) push(data []byte) {
	var t Trace
	if err := t.UnmarshalJSON(data); err != nil {
		m.c.log().Warn("statebus client: unreadable trace from the bus; skipped", "err", err, "line", truncate(data))
		return
	}
	m.received.Add(1)
	if t.Type == TraceDropped {
		m.busDropped.Add(t.Count)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return
	}
	if m.pending > 0 {
		select {
		case m.ch <- Trace{Time: time.Now(), Type: TraceDropped, Outcome: OutcomeOK, Pid: -1, Uid: -1, TargetPid: -1, Count: m.pending, Local: true}:
			m.pending = 0
		default:
			m.pending++
			m.clientDropped.Add(1)
			return
		}
	}
	select {
	case m.ch <- t:
	default:
		m.pending++
		m.clientDropped.Add(1)
	}
}

// endMonitor ends the Conn's Monitor, if any, with err.
func (c *Conn) endMonitor(err error) {
	if m := c.monitor.Swap(nil); m != nil {
		m.end(err)
	}
}

// trace routes one trace line to the Monitor; without one it is dropped.
func (c *Conn) trace(data []byte) {
	if m := c.monitor.Load(); m != nil {
		m.push(data)
	}
}
