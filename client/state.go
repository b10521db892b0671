package client

import (
	"context"
	"encoding/json"
	"fmt"
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

// stateWire is the bus's form of a MachineState.
type stateWire struct {
	Value     json.RawMessage
	Status    string
	Context   json.RawMessage
	UpdatedAt protocol.Time
}

func (w *stateWire) state() *MachineState {
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

// appendStateReport builds a ReportState payload. Each part is encoded as
// a payload (encodePayload): nil is null, json.RawMessage passes through,
// anything else is marshalled; every part ends up on one line.
func appendStateReport(id string, value any, status string, stateContext, definition any) ([]byte, error) {
	v, err := encodePayload(value)
	if err != nil {
		return nil, fmt.Errorf("statebus: state value: %w", err)
	}
	cx, err := encodePayload(stateContext)
	if err != nil {
		return nil, fmt.Errorf("statebus: state context: %w", err)
	}
	def, err := encodePayload(definition)
	if err != nil {
		return nil, fmt.Errorf("statebus: definition: %w", err)
	}
	b := make([]byte, 0, 64+len(id)+len(v)+len(status)+len(cx)+len(def))
	b = append(b, `{"MachineId":`...)
	b = protocol.AppendQuoted(b, id)
	b = appendRaw(append(b, `,"Value":`...), v)
	b = protocol.AppendQuoted(append(b, `,"Status":`...), status)
	b = appendRaw(append(b, `,"Context":`...), cx)
	if def != nil {
		b = append(append(b, `,"Definition":`...), def...)
	}
	return append(b, '}'), nil
}

func appendRaw(b, raw []byte) []byte {
	if raw == nil {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// ReportState tells the bus which state the machine id (owned by this
// connection) is in, for ListMachines, MachineState and monitors (a
// TraceState trace): value is the state value (for a statechart, its
// XState value such as "idle" or {"active":"waiting"}), status a word
// such as "active", "done" or "error", stateContext the machine's
// context. definition, optional (nil: keep the last one), is the
// machine's definition, an XState v5 JSON chart, kept by the bus until
// the id is released or another definition is reported. value,
// stateContext and definition are encoded as Send encodes a payload. It
// waits for the bus's acknowledgement; the bus refuses an id owned by
// another connection (an *Error matching ErrIDTaken, code "not_owner"),
// and a report over 64 KiB of value and context, or 1 MiB of definition
// (ErrRejected, "invalid_payload").
func (c *Conn) ReportState(ctx context.Context, id string, value any, status string, stateContext, definition any) error {
	payload, err := appendStateReport(id, value, status, stateContext, definition)
	if err != nil {
		return err
	}
	_, err = c.roundTrip(ctx, func(b []byte, n uint64) []byte {
		return protocol.AppendPayloadRequest(b, protocol.TypeReportState, n, payload)
	})
	if err != nil {
		return fmt.Errorf("statebus: reporting the state of %q: %w", id, err)
	}
	return nil
}

// ReportStateAsync is ReportState without waiting for the bus's
// acknowledgement, for a machine that reports after every step: it
// returns an error only when the report cannot be queued (disconnected,
// closed, a value that does not marshal). A refusal by the bus is passed
// to the WithAsyncErrorHandler function (or logged) with Target id and
// Event "ReportState". Reports are queued in call order with the
// connection's other sends, so the bus keeps the last one.
func (c *Conn) ReportStateAsync(id string, value any, status string, stateContext, definition any) error {
	payload, err := appendStateReport(id, value, status, stateContext, definition)
	if err != nil {
		return err
	}
	s, err := c.current(context.Background())
	if err != nil {
		return err
	}
	_, err = s.enqueue(&pendingCall{target: id, event: "ReportState"}, nil, func(b []byte, n uint64) []byte {
		return protocol.AppendPayloadRequest(b, protocol.TypeReportState, n, payload)
	})
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
		State      *stateWire
		Definition json.RawMessage
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return MachineStateInfo{}, fmt.Errorf("statebus: unexpected MachineState reply %s: %w", data, err)
	}
	return MachineStateInfo{ID: w.MachineId, State: w.State.state(), Definition: nullToNil(w.Definition)}, nil
}
