package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// encodePayload turns a payload into raw JSON on one line: nil is null, a
// json.RawMessage is passed through (it must be valid JSON), and anything
// else is marshalled with encoding/json. Either is then made one line (see
// oneLine), since the wire has one message per line.
func encodePayload(v any) ([]byte, error) {
	switch p := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if p == nil {
			return nil, nil
		}
		if !protocol.Valid(p) {
			return nil, fmt.Errorf("statebus: payload is not valid JSON: %.40q", p)
		}
		return oneLine(p)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("statebus: marshalling payload: %w", err)
		}
		return oneLine(b)
	}
}

// oneLine returns the valid JSON p without line breaks. Valid JSON has no
// raw '\n' or '\r' inside its strings, so any it holds is whitespace
// between tokens; p is then compacted (json.Compact drops the whitespace
// between tokens and keeps every number and string byte as it is).
// Without one, the common case, p is returned as it is, with no copy.
func oneLine(p []byte) ([]byte, error) {
	if bytes.IndexByte(p, '\n') < 0 && bytes.IndexByte(p, '\r') < 0 {
		return p, nil
	}
	var b bytes.Buffer
	b.Grow(len(p))
	if err := json.Compact(&b, p); err != nil {
		return nil, fmt.Errorf("statebus: payload is not valid JSON: %w", err)
	}
	return b.Bytes(), nil
}

// Register binds machine ids to this connection: events sent to them
// arrive here, and they are registered again after a reconnect. It stops
// at the first id the bus refuses (an *Error matching ErrIDTaken when
// another connection owns it).
func (c *Conn) Register(ctx context.Context, ids ...string) error {
	for _, id := range ids {
		_, err := c.roundTrip(ctx, func(b []byte, n uint64) []byte {
			return protocol.AppendRegisterRequest(b, n, id, c.o.processName, pid, time.Now(), c.o.token)
		})
		if err != nil {
			return fmt.Errorf("statebus: registering %q: %w", id, err)
		}
		c.addMachine(id)
	}
	return nil
}

// Unregister releases a machine id this connection owns.
func (c *Conn) Unregister(ctx context.Context, id string) error {
	c.removeMachine(id)
	_, err := c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendMachineRequest(b, protocol.TypeUnregister, n, id)
	})
	return err
}

// Send sends an event to the machine target as this connection's first
// registered machine and waits for the bus's acknowledgement: nil once
// the event is queued for the target's connection, else an error matching
// ErrNotConnected, ErrQueueFull, ErrDisconnected, ErrClosed or ctx's error.
// payload is marshalled with encoding/json; a json.RawMessage is sent as
// it is, except that a multi-line one is compacted to one line (numbers
// and strings keep their bytes), as every payload must be on the wire.
func (c *Conn) Send(ctx context.Context, target, event string, payload any) error {
	src, err := c.defaultSource()
	if err != nil {
		return err
	}
	return c.SendAs(ctx, src, target, event, payload)
}

// SendAs is Send from the machine id source, which must be registered on
// this connection or on none.
func (c *Conn) SendAs(ctx context.Context, source, target, event string, payload any) error {
	raw, err := encodePayload(payload)
	if err != nil {
		return err
	}
	_, err = c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendEventRequest(b, protocol.TypeSendEvent, n, source, target, event, raw, nil, time.Now(), 0)
	})
	return err
}

// SendAsync queues an event without waiting for its acknowledgement, for
// throughput. It returns an error only when the event cannot be queued
// (disconnected, closed, bad payload). A failure the bus reports later is
// passed to the WithAsyncErrorHandler function (or logged) with the target
// and event name; Flush waits until every earlier SendAsync is answered.
// Events to one target arrive in the order they were queued.
func (c *Conn) SendAsync(target, event string, payload any) error {
	src, err := c.defaultSource()
	if err != nil {
		return err
	}
	return c.SendAsyncAs(src, target, event, payload)
}

// SendAsyncAs is SendAsync from the machine id source.
func (c *Conn) SendAsyncAs(source, target, event string, payload any) error {
	raw, err := encodePayload(payload)
	if err != nil {
		return err
	}
	s, err := c.current(context.Background())
	if err != nil {
		return err
	}
	_, err = s.enqueueEvent(&pendingCall{}, nil,
		&eventLine{t: protocol.TypeSendEvent, source: source, target: target, event: event, payload: raw})
	return err
}

// Flush waits until the bus has answered every SendAsync made before it
// on the current connection (their failures have then been reported).
func (c *Conn) Flush(ctx context.Context) error {
	_, err := c.Ping(ctx)
	return err
}

// Publish sends an event to every machine on the bus except this
// connection's own, as its first registered machine. It returns how many
// machines it was queued for.
func (c *Conn) Publish(ctx context.Context, event string, payload any) (int, error) {
	src, err := c.defaultSource()
	if err != nil {
		return 0, err
	}
	return c.PublishAs(ctx, src, event, payload)
}

// PublishAs is Publish from the machine id source.
func (c *Conn) PublishAs(ctx context.Context, source, event string, payload any) (int, error) {
	raw, err := encodePayload(payload)
	if err != nil {
		return 0, err
	}
	data, err := c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendEventRequest(b, protocol.TypePublish, n, source, "", event, raw, nil, time.Now(), 0)
	})
	if err != nil {
		return 0, err
	}
	var r struct{ Recipients int }
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, fmt.Errorf("statebus: unexpected Publish reply %s: %w", data, err)
	}
	return r.Recipients, nil
}

// Request sends an event to target as a request and returns the payload
// the target's OnRequest handler answered with. The bus fails it with an
// error matching ErrTimeout when ctx's deadline passes (the bus's default,
// 30s, without one), ErrTargetGone when the target disconnects first,
// ErrRemote when the handler returned an error, or as Send does.
func (c *Conn) Request(ctx context.Context, target, event string, payload any) (json.RawMessage, error) {
	src, err := c.defaultSource()
	if err != nil {
		return nil, err
	}
	return c.RequestAs(ctx, src, target, event, payload)
}

// RequestAs is Request from the machine id source.
func (c *Conn) RequestAs(ctx context.Context, source, target, event string, payload any) (json.RawMessage, error) {
	raw, err := encodePayload(payload)
	if err != nil {
		return nil, err
	}
	var timeoutMs int64
	if dl, ok := ctx.Deadline(); ok {
		timeoutMs = max(time.Until(dl).Milliseconds(), 1)
	}
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	p := &pendingRequest{ch: make(chan result, 1)}
	id, err := s.enqueueEvent(nil, p,
		&eventLine{t: protocol.TypeRequest, source: source, target: target, event: event, payload: raw, timeoutMs: timeoutMs})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-p.ch:
		if r.err != nil {
			return nil, r.err
		}
		var answer struct{ Payload json.RawMessage }
		if err := json.Unmarshal(r.data, &answer); err != nil {
			return nil, fmt.Errorf("statebus: unexpected Request reply %s: %w", r.data, err)
		}
		return answer.Payload, nil
	case <-ctx.Done():
		s.forget(id)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, errors.Join(ErrTimeout, ctx.Err())
		}
		return nil, ctx.Err()
	case <-c.done:
		s.forget(id)
		return nil, ErrClosed
	}
}

// RequestAsync sends a request like RequestAs without waiting: done is
// called exactly once, with the reply payload or the error (the bus
// enforces timeout, 0 meaning its default of 30s; ErrDisconnected or
// ErrClosed if the connection goes first). done runs on the Conn's reader
// goroutine and must not block. Requests are queued in call order with
// the connection's other sends. A non-nil return means the request was not
// sent and done will not be called.
func (c *Conn) RequestAsync(source, target, event string, payload any, timeout time.Duration, done func(json.RawMessage, error)) error {
	raw, err := encodePayload(payload)
	if err != nil {
		return err
	}
	s, err := c.current(context.Background())
	if err != nil {
		return err
	}
	p := &pendingRequest{cb: func(r result) {
		if r.err != nil {
			done(nil, r.err)
			return
		}
		var answer struct{ Payload json.RawMessage }
		if err := json.Unmarshal(r.data, &answer); err != nil {
			done(nil, fmt.Errorf("statebus: unexpected Request reply %s: %w", r.data, err))
			return
		}
		done(answer.Payload, nil)
	}}
	timeoutMs := timeout.Milliseconds()
	_, err = s.enqueueEvent(nil, p,
		&eventLine{t: protocol.TypeRequest, source: source, target: target, event: event, payload: raw, timeoutMs: timeoutMs})
	return err
}

// reply answers the Request ev with v, or with herr's text.
func (c *Conn) reply(ev *Event, v any, herr error) {
	var raw []byte
	errText := ""
	if herr != nil {
		errText = herr.Error()
	} else {
		var err error
		if raw, err = encodePayload(v); err != nil {
			errText = err.Error()
		}
	}
	s, err := c.current(context.Background())
	if err == nil {
		_, err = s.enqueue(&pendingCall{key: &sendKey{ev.Source, ev.Name}}, nil, func(b []byte, n uint64) []byte {
			return protocol.AppendReplyRequest(b, n, ev.requestID, raw, errText)
		})
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		c.asyncError(&AsyncError{Target: ev.Source, Event: ev.Name, Err: err})
	}
}

// Ping measures one round trip to the bus.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendSimpleRequest(b, protocol.TypePing, n)
	})
	return time.Since(start), err
}

// Health is the bus's health status.
type Health struct {
	IsHealthy          bool
	ConnectionCount    int
	RegisteredMachines int
	LastActivityAt     time.Time
	ErrorMessage       string       // empty when healthy
	Bridge             *BridgeState // nil when the bus has no bridge to other hosts
	Version            string       // the bus's version ("v1.2.3", "(devel)"); empty when it does not say
}

// BridgeState is the state of a bus's link to other hosts.
type BridgeState struct {
	Connected      bool
	Hosts          int
	RemoteMachines int
	Error          string
}

// Health asks the bus for its health.
func (c *Conn) Health(ctx context.Context) (Health, error) {
	var w protocol.HealthData
	if err := c.query(ctx, protocol.TypeHealth, &w); err != nil {
		return Health{}, err
	}
	h := Health{
		IsHealthy:          w.IsHealthy,
		ConnectionCount:    w.ConnectionCount,
		RegisteredMachines: w.RegisteredMachines,
		LastActivityAt:     time.Time(w.LastActivityAt),
		Version:            w.Version,
	}
	if w.ErrorMessage != nil {
		h.ErrorMessage = *w.ErrorMessage
	}
	if w.Bridge != nil {
		h.Bridge = &BridgeState{Connected: w.Bridge.Connected, Hosts: w.Bridge.Hosts, RemoteMachines: w.Bridge.RemoteMachines, Error: w.Bridge.Error}
	}
	return h, nil
}

// Metrics are the bus's counters.
type Metrics struct {
	StartedAt           time.Time
	Uptime              time.Duration
	ConnectionCount     int
	RegisteredMachines  int
	PendingRequests     int
	PeakConnections     int
	PeakConnectionsAt   time.Time
	QueuedBytes         int
	LinesIn             uint64
	BytesIn             uint64
	BytesOut            uint64
	EventsRouted        uint64
	EventsPublished     uint64
	Requests            uint64
	Replies             uint64
	RejectedConnections uint64
	DroppedLines        uint64            // queued lines the bus could not write: their peer went away
	Failures            map[string]uint64 // by error code
	Goroutines          int               // of the bus process
	OpenFiles           int               // of the bus process; -1 when unknown
	ResidentBytes       uint64            // of the bus process
	Monitors            int               // monitors attached (Conn.Monitor)
	TracesDropped       uint64            // traces monitors missed by falling behind
}

// Metrics asks the bus for its counters.
func (c *Conn) Metrics(ctx context.Context) (Metrics, error) {
	var w protocol.MetricsData
	if err := c.query(ctx, protocol.TypeMetrics, &w); err != nil {
		return Metrics{}, err
	}
	return Metrics{
		StartedAt:           time.Time(w.StartedAt),
		Uptime:              time.Duration(w.UptimeSeconds * float64(time.Second)),
		ConnectionCount:     w.ConnectionCount,
		RegisteredMachines:  w.RegisteredMachines,
		PendingRequests:     w.PendingRequests,
		PeakConnections:     w.PeakConnections,
		PeakConnectionsAt:   time.Time(w.PeakConnectionsAt),
		QueuedBytes:         w.QueuedBytes,
		LinesIn:             w.LinesIn,
		BytesIn:             w.BytesIn,
		BytesOut:            w.BytesOut,
		EventsRouted:        w.EventsRouted,
		EventsPublished:     w.EventsPublished,
		Requests:            w.Requests,
		Replies:             w.Replies,
		RejectedConnections: w.RejectedConnections,
		DroppedLines:        w.DroppedLines,
		Failures:            w.Failures,
		Goroutines:          w.Goroutines,
		OpenFiles:           w.OpenFiles,
		ResidentBytes:       w.ResidentBytes,
		Monitors:            w.Monitors,
		TracesDropped:       w.TracesDropped,
	}, nil
}

// MachineInfo describes a machine registered on the bus.
type MachineInfo struct {
	ID           string
	ProcessName  string // as the owner claimed it
	ProcessID    int64  // as the owner claimed it
	RegisteredAt time.Time
	ConnectionID uint64
	Subscribed   bool
	PeerPID      int           // the owner's process id as the OS reports it; -1 when unknown
	PeerUID      int           // the owner's user id as the OS reports it; -1 when unknown
	Host         string        // the owning host for a machine on another host (bridge); "" for local
	State        *MachineState // what the machine last reported (ReportState); nil when it reported none
	QueuedBytes  int           // bytes waiting for its connection (shared by the connection's machines); 0 for another host's
}

// ListMachines returns every machine registered on the bus, by id.
func (c *Conn) ListMachines(ctx context.Context) ([]MachineInfo, error) {
	var w []protocol.MachineData
	if err := c.query(ctx, protocol.TypeListMachines, &w); err != nil {
		return nil, err
	}
	out := make([]MachineInfo, len(w))
	for i, m := range w {
		out[i] = MachineInfo{
			ID:           m.MachineId,
			ProcessName:  m.ProcessName,
			ProcessID:    m.ProcessId,
			RegisteredAt: time.Time(m.RegisteredAt),
			ConnectionID: m.ConnectionId,
			Subscribed:   m.Subscribed,
			PeerPID:      m.PeerPid,
			PeerUID:      m.PeerUid,
			Host:         m.Host,
			State:        stateOf(m.State),
			QueuedBytes:  m.QueuedBytes,
		}
	}
	return out, nil
}

func (c *Conn) query(ctx context.Context, t protocol.Type, v any) error {
	data, err := c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendSimpleRequest(b, t, n)
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("statebus: unexpected %v reply %s: %w", t, data, err)
	}
	return nil
}

// Stats are the client's own counters.
type Stats struct {
	AsyncErrors uint64 // SendAsync and Reply failures reported
}

// Stats returns the client's counters.
func (c *Conn) Stats() Stats {
	return Stats{AsyncErrors: c.recv.asyncErrors.Load()}
}
