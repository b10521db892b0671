package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// MachineState is what a machine last reported of itself with
// ReportState (docs/protocol.md §4.13).
type MachineState struct {
	Value     json.RawMessage // the state value, verbatim (an XState value: "idle", {"active":"waiting"}); nil if none
	Status    string          // "active", "done", "error" ...; "" if none
	Context   json.RawMessage // the machine's context, verbatim; nil if none
	UpdatedAt time.Time       // the bus's time of the report
}

// MachineStateInfo is a machine's latest report and definition, from
// Conn.MachineState.
type MachineStateInfo struct {
	ID         string
	State      *MachineState   // nil when the machine has reported none
	Definition json.RawMessage // its definition (an XState v5 JSON chart); nil when none was given
}

// stateOf converts the bus's form of a state; nil stays nil.
func stateOf(w *protocol.State) *MachineState {
	if w == nil {
		return nil
	}
	return &MachineState{Value: nullToNil(w.Value), Status: w.Status, Context: nullToNil(w.Context), UpdatedAt: time.Time(w.UpdatedAt)}
}

func nullToNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return b
}

// stateReport is one ReportState, its parts encoded. The Conn keeps the
// last report of each of its machine ids, with the last definition, to
// send again after a reconnect: the new bus session has lost them.
type stateReport struct {
	value, context, definition []byte
	status                     string
}

// encodeStateReport encodes the parts of a report. Each is encoded as a
// payload (encodePayload): nil is null, json.RawMessage passes through,
// anything else is marshalled; every part ends up on one line.
func encodeStateReport(value any, status string, stateContext, definition any) (stateReport, error) {
	r := stateReport{status: status}
	var err error
	if r.value, err = encodePayload(value); err != nil {
		return r, fmt.Errorf("statebus: state value: %w", err)
	}
	if r.context, err = encodePayload(stateContext); err != nil {
		return r, fmt.Errorf("statebus: state context: %w", err)
	}
	if r.definition, err = encodePayload(definition); err != nil {
		return r, fmt.Errorf("statebus: definition: %w", err)
	}
	return r, nil
}

// appendPayload appends the ReportState payload of r for machine id.
func (r *stateReport) appendPayload(b []byte, id string) []byte {
	b = append(b, `{"MachineId":`...)
	b = protocol.AppendQuoted(b, id)
	b = appendRaw(append(b, `,"Value":`...), r.value)
	b = protocol.AppendQuoted(append(b, `,"Status":`...), r.status)
	b = appendRaw(append(b, `,"Context":`...), r.context)
	if r.definition != nil {
		b = append(append(b, `,"Definition":`...), r.definition...)
	}
	return append(b, '}')
}

func appendRaw(b, raw []byte) []byte {
	if raw == nil {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// buildReport returns the request builder for r, and remembers r (with
// the last definition when r has none) for a reconnect.
func (c *Conn) buildReport(id string, r stateReport) func(b []byte, n uint64) []byte {
	c.mu.Lock()
	kept := r
	if kept.definition == nil {
		kept.definition = c.reports[id].definition
	}
	if c.reports == nil {
		c.reports = make(map[string]stateReport)
	}
	c.reports[id] = kept
	c.mu.Unlock()
	return func(b []byte, n uint64) []byte {
		b = protocol.AppendRequestHeadPayload(b, protocol.TypeReportState, n)
		b = r.appendPayload(b, id)
		return append(b, '}', '\n')
	}
}

// reportAgain sends every kept report for an id registered again, with
// its definition, on the new session s during a reconnect.
func (c *Conn) reportAgain(ctx context.Context, s *session, ids []string) error {
	for _, id := range ids {
		c.mu.Lock()
		r, ok := c.reports[id]
		c.mu.Unlock()
		if !ok {
			continue
		}
		_, err := s.call(ctx.Done(), c.done, func(b []byte, n uint64) []byte {
			b = protocol.AppendRequestHeadPayload(b, protocol.TypeReportState, n)
			b = r.appendPayload(b, id)
			return append(b, '}', '\n')
		})
		var be *Error
		switch {
		case errors.As(err, &be):
			c.log().Warn("statebus client: the bus refused a machine's state again after a reconnect", "machine", id, "err", err)
		case errors.Is(err, errCanceled):
			return ctx.Err()
		case err != nil:
			return err
		}
	}
	return nil
}

// ReportState tells the bus which state the machine id (owned by this
// connection) is in, for ListMachines, MachineState and monitors (a
// TraceState trace): value is the state value (for a statechart, its
// XState value such as "idle" or {"active":"waiting"}), status a word
// such as "active", "done" or "error", stateContext the machine's
// context. definition, optional (nil: keep the last one), is the
// machine's definition, an XState v5 JSON chart, kept by the bus until
// the id is released or another definition is reported. value,
// stateContext and definition are encoded as Send encodes a payload.
//
// It waits for the bus's acknowledgement. The bus refuses an id owned by
// another connection (an *Error matching ErrIDTaken, code "not_owner"),
// and a report over 64 KiB of value and context, or 1 MiB of definition
// (ErrRejected, "invalid_payload"); a bus older than ReportState answers
// "unknown_type".
//
// The Conn keeps each id's last report (and last definition) and sends it
// again after a reconnect, until the id is unregistered.
func (c *Conn) ReportState(ctx context.Context, id string, value any, status string, stateContext, definition any) error {
	r, err := encodeStateReport(value, status, stateContext, definition)
	if err != nil {
		return err
	}
	if _, err = c.roundTrip(ctx, c.buildReport(id, r)); err != nil {
		return fmt.Errorf("statebus: reporting the state of %q: %w", id, err)
	}
	return nil
}

// ReportStateAsync is ReportState without waiting for the bus's
// acknowledgement, for a machine that reports after every step: it
// returns an error only when the report cannot be queued (disconnected,
// closed, a value that does not marshal); a report made while
// disconnected is still kept and sent after the reconnect. done, if not nil, is called
// once with the bus's answer (nil when it took the report); it runs on
// the Conn's reader goroutine and must not block. With done nil, a
// refusal goes to the WithAsyncErrorHandler function (or the log) with
// Target id and Event "ReportState". Reports are queued in call order
// with the connection's other sends, so the bus keeps the last one.
func (c *Conn) ReportStateAsync(id string, value any, status string, stateContext, definition any, done func(error)) error {
	r, err := encodeStateReport(value, status, stateContext, definition)
	if err != nil {
		return err
	}
	// Kept first: while disconnected, the latest report is the one to
	// send again after the reconnect.
	build := c.buildReport(id, r)
	s, err := c.current(context.Background())
	if err != nil {
		return err
	}
	_, err = s.enqueue(&pendingCall{done: done}, nil, build)
	return err
}

// MachineState returns the latest state the machine id reported and its
// definition. A machine that is not bound on this bus is an *Error
// matching ErrNotConnected.
func (c *Conn) MachineState(ctx context.Context, id string) (MachineStateInfo, error) {
	data, err := c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendMachineRequest(b, protocol.TypeMachineState, n, id)
	})
	if err != nil {
		return MachineStateInfo{}, err
	}
	var w struct {
		MachineId  string //lint:ignore ST1003 wire name
		State      *protocol.State
		Definition json.RawMessage
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return MachineStateInfo{}, fmt.Errorf("statebus: unexpected MachineState reply %s: %w", data, err)
	}
	return MachineStateInfo{ID: w.MachineId, State: stateOf(w.State), Definition: nullToNil(w.Definition)}, nil
}

// String returns the state compactly, for a table: the value with
// dots between nested states ("serving", "active.waiting"), parallel
// regions in braces ("p.{r1.x, r2.y}"), then the status in parentheses
// when it is not "active" ("idle (done)").
func (s *MachineState) String() string {
	if s == nil {
		return ""
	}
	v := StateValueString(s.Value)
	switch {
	case s.Status == "" || s.Status == "active":
		return v
	case v == "":
		return "(" + s.Status + ")"
	default:
		return v + " (" + s.Status + ")"
	}
}

// StateValueString renders an XState state value compactly: a string as
// it is, an object's single key and its value joined by a dot, several
// keys (parallel regions) in braces, in their order; "" for null or an
// empty object; any other JSON as it is.
func StateValueString(v json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(v))
	var b strings.Builder
	if err := writeStateValue(&b, dec); err != nil {
		return string(v)
	}
	return b.String()
}

func writeStateValue(b *strings.Builder, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	switch t := tok.(type) {
	case string:
		b.WriteString(t)
		return nil
	case nil:
		return nil
	case json.Delim:
		if t != '{' {
			return errors.New("not a state value")
		}
	default:
		return errors.New("not a state value")
	}
	var regions []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var sub strings.Builder
		if err := writeStateValue(&sub, dec); err != nil {
			return err
		}
		r := k.(string)
		if sub.Len() > 0 {
			r += "." + sub.String()
		}
		regions = append(regions, r)
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	switch len(regions) {
	case 0:
	case 1:
		b.WriteString(regions[0])
	default:
		b.WriteString("{" + strings.Join(regions, ", ") + "}")
	}
	return nil
}
