package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// Trace kinds: a Trace's Type (docs/protocol.md §4.12).
const (
	TraceEvent      = protocol.TraceEvent      // a SendEvent, delivered or failed
	TracePublish    = protocol.TracePublish    // a Publish
	TraceRequest    = protocol.TraceRequest    // a Request, accepted or refused
	TraceReply      = protocol.TraceReply      // a Reply, or a Request that ended without one
	TraceRegister   = protocol.TraceRegister   // a Register or Subscribe
	TraceUnregister = protocol.TraceUnregister // an Unregister, or an id released with its connection
	TraceConnect    = protocol.TraceConnect    // a connection accepted or refused
	TraceDisconnect = protocol.TraceDisconnect // a connection ended
	TraceFailure    = protocol.TraceFailure    // a line that failed before it named an action
	TraceState      = protocol.TraceState      // a ReportState
	TraceDropped    = protocol.TraceDropped    // traces this monitor missed; see Trace.Count
)

// TraceKinds lists every trace kind, in the order of the constants.
func TraceKinds() []string { return append([]string(nil), protocol.TraceKinds...) }

// Trace outcomes other than an error code (ErrNotConnected's
// "target_not_connected" and the like).
const (
	OutcomeDelivered = protocol.OutcomeDelivered // queued for its target
	OutcomeOK        = protocol.OutcomeOK        // anything else done
)

// Trace is one record of the bus's traffic, as a Monitor receives it
// (docs/protocol.md §4.12 describes every member).
//
// Its JSON form (MarshalJSON, UnmarshalJSON) is the wire's: every member,
// named and ordered as the bus writes them, Time in the bus's .NET form,
// plus "Local":true on a dropped trace made by the client.
type Trace struct {
	Seq          uint64          // the bus's trace number
	Time         time.Time       // when the bus saw the action
	Type         string          // one of the Trace* kinds
	Outcome      string          // OutcomeDelivered, OutcomeOK, or an error code
	Source       string          // the sending (registering, reporting) machine id; "" if none
	Target       string          // the target machine id (a reply's: the requester); "" if none
	Event        string          // the event name; "" if none
	Conn         uint64          // the connection the action came from
	Pid          int             // its peer's process id; -1 unknown, 0 from another host
	Uid          int             // its peer's user id; -1 unknown, 0 from another host
	TargetConn   uint64          // the target's connection for a delivered action, else 0
	TargetPid    int             // the target's peer process id for a delivered action, else -1
	RequestID    uint64          // the bus's request id of a request or reply, else 0
	Recipients   int             // for a publish: how many machines it reached
	Size         int             // bytes of the line that caused the action
	Error        string          // the failure text when Outcome is an error code
	Payload      json.RawMessage // the payload, verbatim; a JSON string of its first bytes when Truncated; nil if none or left out
	PayloadBytes int             // the payload's length as sent
	Truncated    bool            // Payload was cut to the filter's MaxPayloadBytes
	Count        uint64          // for TraceDropped: how many traces were missed
	// Local marks a TraceDropped the client made itself: Count traces
	// arrived while the Traces channel was full and were dropped.
	Local bool
}

// Failed reports whether the action failed: its Outcome is an error code.
func (t *Trace) Failed() bool {
	return t.Outcome != "" && t.Outcome != OutcomeDelivered && t.Outcome != OutcomeOK
}

// traceJSON is Trace's JSON form.
type traceJSON struct {
	Seq          uint64          `json:"Seq"`
	Time         protocol.Time   `json:"Time"`
	Type         string          `json:"Type"`
	Outcome      string          `json:"Outcome"`
	Source       string          `json:"Source"`
	Target       string          `json:"Target"`
	Event        string          `json:"Event"`
	Conn         uint64          `json:"Conn"`
	Pid          int             `json:"Pid"`
	Uid          int             `json:"Uid"`
	TargetConn   uint64          `json:"TargetConn"`
	TargetPid    int             `json:"TargetPid"`
	RequestID    uint64          `json:"RequestId"`
	Recipients   int             `json:"Recipients"`
	Size         int             `json:"Size"`
	Error        string          `json:"Error"`
	Payload      json.RawMessage `json:"Payload"`
	PayloadBytes int             `json:"PayloadBytes"`
	Truncated    bool            `json:"Truncated"`
	Count        uint64          `json:"Count"`
	Local        bool            `json:"Local,omitempty"`
}

// MarshalJSON writes t as the bus writes a trace's Data, on one line,
// without HTML escaping (json.Marshal escapes <, > and & in the result
// again; a json.Encoder with SetEscapeHTML(false) keeps the bytes).
func (t Trace) MarshalJSON() ([]byte, error) {
	w := traceJSON{t.Seq, protocol.Time(t.Time), t.Type, t.Outcome, t.Source, t.Target, t.Event, t.Conn, t.Pid, t.Uid,
		t.TargetConn, t.TargetPid, t.RequestID, t.Recipients, t.Size, t.Error, t.Payload, t.PayloadBytes, t.Truncated, t.Count, t.Local}
	if len(w.Payload) == 0 {
		w.Payload = nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads a trace's Data. A null Payload becomes nil.
func (t *Trace) UnmarshalJSON(b []byte) error {
	var w traceJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if string(w.Payload) == "null" {
		w.Payload = nil
	}
	*t = Trace{w.Seq, time.Time(w.Time), w.Type, w.Outcome, w.Source, w.Target, w.Event, w.Conn, w.Pid, w.Uid,
		w.TargetConn, w.TargetPid, w.RequestID, w.Recipients, w.Size, w.Error, w.Payload, w.PayloadBytes, w.Truncated, w.Count, w.Local}
	return nil
}

// MonitorFilter selects the traces a Monitor receives. The zero value
// selects everything, with payloads. The bus applies it (docs/protocol.md
// §4.12); Apply applies it to recorded traces.
type MonitorFilter struct {
	// Machines are id patterns: an exact id, "*" (anything) or
	// "prefix*". A trace matches when its Source or Target matches one.
	// Empty: every machine; traces without a machine match only then.
	Machines []string
	// Events are event name patterns, the same syntax. Traces without an
	// event name are not filtered by them. Empty: every event.
	Events []string
	// Kinds are the trace kinds to see (TraceEvent ...). Empty: all.
	Kinds []string
	// NoPayload leaves payloads out: every trace's Payload is nil.
	NoPayload bool
	// MaxPayloadBytes cuts longer payloads to a JSON string of their first
	// bytes (whole UTF-8 characters) and sets Truncated. 0: no limit.
	MaxPayloadBytes int
}

func (f *MonitorFilter) wire() protocol.TraceFilter {
	return protocol.TraceFilter{Machines: f.Machines, Events: f.Events, Kinds: f.Kinds, NoPayload: f.NoPayload, MaxPayloadBytes: f.MaxPayloadBytes}
}

// MarshalJSON writes the filter as the bus reads it: the payload of a
// Monitor request, members left out when at their default.
func (f MonitorFilter) MarshalJSON() ([]byte, error) { return f.wire().MarshalJSON() }

// UnmarshalJSON reads a Monitor request's filter object. An unknown kind
// or a negative MaxPayloadBytes is an error, as on the bus.
func (f *MonitorFilter) UnmarshalJSON(b []byte) error {
	w, err := protocol.DecodeTraceFilter(b)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return &Error{Code: pe.Code.String(), Text: pe.Text}
		}
		return err
	}
	*f = MonitorFilter{Machines: w.Machines, Events: w.Events, Kinds: w.Kinds, NoPayload: w.NoPayload, MaxPayloadBytes: w.MaxPayloadBytes}
	return nil
}

// Match reports whether t passes the filter's Machines, Events and Kinds,
// as the bus decides it. Dropped traces always pass: they are not about
// a machine.
func (f *MonitorFilter) Match(t *Trace) bool {
	if t.Type == TraceDropped {
		return true
	}
	w := f.wire()
	return w.Match(t.Type, t.Source, t.Target, t.Event)
}

// Apply returns t as a Monitor with filter f would have received it, and
// whether it passes at all: for replaying a recording with a narrower
// filter than it was recorded with. A payload the recording had cut
// already stays cut; it is cut again when f's limit is smaller.
func (f *MonitorFilter) Apply(t Trace) (Trace, bool) {
	if !f.Match(&t) {
		return t, false
	}
	if t.Payload == nil {
		return t, true
	}
	if f.NoPayload {
		t.Payload, t.Truncated = nil, false
		return t, true
	}
	raw := []byte(t.Payload)
	if t.Truncated {
		var s string
		if json.Unmarshal(t.Payload, &s) != nil {
			return t, true
		}
		raw = []byte(s)
	}
	if f.MaxPayloadBytes == 0 || len(raw) <= f.MaxPayloadBytes {
		return t, true
	}
	w := f.wire()
	cut, _ := w.CutPayload(raw)
	t.Payload, t.Truncated = cut, true
	return t, true
}
