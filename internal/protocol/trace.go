package protocol

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Trace kinds (a trace's Type; docs/protocol.md §4.12).
const (
	TraceEvent      = "event"
	TracePublish    = "publish"
	TraceRequest    = "request"
	TraceReply      = "reply"
	TraceRegister   = "register"
	TraceUnregister = "unregister"
	TraceConnect    = "connect"
	TraceDisconnect = "disconnect"
	TraceFailure    = "failure"
	TraceState      = "state"
	TraceDropped    = "dropped"
)

// TraceKinds lists every trace kind a filter may name.
var TraceKinds = []string{TraceEvent, TracePublish, TraceRequest, TraceReply, TraceRegister,
	TraceUnregister, TraceConnect, TraceDisconnect, TraceFailure, TraceState, TraceDropped}

// Trace outcomes other than an error code's name.
const (
	OutcomeDelivered = "delivered"
	OutcomeOK        = "ok"
)

// Trace is one record of the bus's traffic, the Data of a "Kind":"Trace"
// line (docs/protocol.md §4.12). Its JSON form has every member, in this
// order.
type Trace struct {
	Seq          uint64          `json:"Seq"`
	Time         Time            `json:"Time"`
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
}

// TraceFilter selects traces (the payload of a Monitor request). The zero
// value selects everything, with payloads.
type TraceFilter struct {
	Machines []string `json:"Machines,omitempty"` // id patterns: exact, "*" or "prefix*"; Source or Target
	Events   []string `json:"Events,omitempty"`   // event name patterns
	Kinds    []string `json:"Kinds,omitempty"`    // trace types; empty: all
	// NoPayload leaves payloads out (the wire's "Payload":false).
	NoPayload bool `json:"-"`
	// MaxPayloadBytes cuts longer payloads; 0: no limit.
	MaxPayloadBytes int `json:"MaxPayloadBytes,omitempty"`
	// Stop detaches the connection's monitor instead (the wire's
	// "Stop":true); the other members are then ignored.
	Stop bool `json:"-"`
}

// filterWire is TraceFilter's JSON form.
type filterWire struct {
	Machines        []string `json:"Machines"`
	Events          []string `json:"Events"`
	Kinds           []string `json:"Kinds"`
	Payload         *bool    `json:"Payload"`
	MaxPayloadBytes int      `json:"MaxPayloadBytes"`
	Stop            bool     `json:"Stop"`
}

// MarshalJSON writes the filter as a Monitor payload.
func (f TraceFilter) MarshalJSON() ([]byte, error) {
	var payload *bool
	if f.NoPayload {
		no := false
		payload = &no
	}
	type plain struct {
		Machines        []string `json:"Machines,omitempty"`
		Events          []string `json:"Events,omitempty"`
		Kinds           []string `json:"Kinds,omitempty"`
		Payload         *bool    `json:"Payload,omitempty"`
		MaxPayloadBytes int      `json:"MaxPayloadBytes,omitempty"`
		Stop            bool     `json:"Stop,omitempty"`
	}
	return json.Marshal(plain{f.Machines, f.Events, f.Kinds, payload, f.MaxPayloadBytes, f.Stop})
}

// DecodeTraceFilter reads a Monitor payload: absent or null is the zero
// filter. Errors are *Error with CodeInvalidPayload.
func DecodeTraceFilter(payload []byte) (TraceFilter, error) {
	var f TraceFilter
	if len(payload) == 0 || string(payload) == "null" {
		return f, nil
	}
	if !Valid(payload) || payload[0] != '{' {
		return f, invalidPayload("Monitor payload must be a filter object")
	}
	var w filterWire
	if err := json.Unmarshal(payload, &w); err != nil {
		return f, invalidPayload("Monitor filter: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	if w.MaxPayloadBytes < 0 {
		return f, invalidPayload("Monitor filter: MaxPayloadBytes must not be negative")
	}
	for _, k := range w.Kinds {
		if !knownKind(k) {
			return f, invalidPayload("Monitor filter: unknown kind " + strconv.Quote(k) + " (one of " + strings.Join(TraceKinds, ", ") + ")")
		}
	}
	f.Machines, f.Events, f.Kinds, f.MaxPayloadBytes, f.Stop = w.Machines, w.Events, w.Kinds, w.MaxPayloadBytes, w.Stop
	f.NoPayload = w.Payload != nil && !*w.Payload
	return f, nil
}

func knownKind(k string) bool {
	for _, n := range TraceKinds {
		if n == k {
			return true
		}
	}
	return false
}

// MatchPattern reports whether s matches p: "*" matches anything,
// "prefix*" any string starting with prefix, anything else only itself.
func MatchPattern(p, s string) bool {
	if strings.HasSuffix(p, "*") {
		return strings.HasPrefix(s, p[:len(p)-1])
	}
	return p == s
}

func matchAny(ps []string, s string) bool {
	for _, p := range ps {
		if MatchPattern(p, s) {
			return true
		}
	}
	return false
}

// Match reports whether a trace of type kind, between source and target,
// for event, passes the filter (docs/protocol.md §4.12).
func (f *TraceFilter) Match(kind, source, target, event string) bool {
	if len(f.Kinds) > 0 {
		ok := false
		for _, k := range f.Kinds {
			if k == kind {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.Machines) > 0 && !(source != "" && matchAny(f.Machines, source)) && !(target != "" && matchAny(f.Machines, target)) {
		return false
	}
	if len(f.Events) > 0 && event != "" && !matchAny(f.Events, event) {
		return false
	}
	return true
}

// CutPayload applies the filter's payload options to p: it returns what a
// trace carries (nil for null) and whether it was cut.
func (f *TraceFilter) CutPayload(p []byte) (json.RawMessage, bool) {
	if f.NoPayload || len(p) == 0 {
		return nil, false
	}
	if f.MaxPayloadBytes == 0 || len(p) <= f.MaxPayloadBytes {
		return p, false
	}
	cut := p[:f.MaxPayloadBytes]
	for len(cut) > 0 && !utf8.Valid(cut) {
		cut = cut[:len(cut)-1]
	}
	return AppendQuoted(nil, string(cut)), true
}

// AppendTrace appends a complete "Kind":"Trace" line for t, newline
// included. t.Payload must be valid JSON without line breaks (as every
// payload read from a request line is), or empty (null).
func AppendTrace(b []byte, t *Trace) []byte {
	b = append(b, `{"Success":true,"Data":{"Seq":`...)
	b = appendUint(b, t.Seq)
	b = append(b, `,"Time":"`...)
	b = AppendTime(b, time.Time(t.Time))
	b = append(b, `","Type":`...)
	b = AppendQuoted(b, t.Type)
	b = append(b, `,"Outcome":`...)
	b = AppendQuoted(b, t.Outcome)
	b = append(b, `,"Source":`...)
	b = AppendQuoted(b, t.Source)
	b = append(b, `,"Target":`...)
	b = AppendQuoted(b, t.Target)
	b = append(b, `,"Event":`...)
	b = AppendQuoted(b, t.Event)
	b = append(b, `,"Conn":`...)
	b = appendUint(b, t.Conn)
	b = append(b, `,"Pid":`...)
	b = appendInt(b, t.Pid)
	b = append(b, `,"Uid":`...)
	b = appendInt(b, t.Uid)
	b = append(b, `,"TargetConn":`...)
	b = appendUint(b, t.TargetConn)
	b = append(b, `,"TargetPid":`...)
	b = appendInt(b, t.TargetPid)
	b = append(b, `,"RequestId":`...)
	b = appendUint(b, t.RequestID)
	b = append(b, `,"Recipients":`...)
	b = appendInt(b, t.Recipients)
	b = append(b, `,"Size":`...)
	b = appendInt(b, t.Size)
	b = append(b, `,"Error":`...)
	b = AppendQuoted(b, t.Error)
	b = append(b, `,"Payload":`...)
	if len(t.Payload) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, t.Payload...)
	}
	b = append(b, `,"PayloadBytes":`...)
	b = appendInt(b, t.PayloadBytes)
	b = append(b, `,"Truncated":`...)
	if t.Truncated {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"Count":`...)
	b = appendUint(b, t.Count)
	return append(b, `},"Error":null,"Kind":"Trace"}`+"\n"...)
}

// State is what a machine last reported of itself (ReportState; docs/protocol.md §4.13).
type State struct {
	Value     json.RawMessage `json:"Value"`
	Status    string          `json:"Status"`
	Context   json.RawMessage `json:"Context"`
	UpdatedAt Time            `json:"UpdatedAt"`
}

// StateReport is a decoded ReportState payload.
type StateReport struct {
	MachineID  string
	Value      json.RawMessage
	Status     string
	Context    json.RawMessage
	Definition json.RawMessage // nil when not given
}

// Bounds of a ReportState payload.
const (
	MaxStateBytes      = 64 << 10
	MaxDefinitionBytes = 1 << 20
)

// DecodeStateReport reads a ReportState payload. Errors are *Error with
// CodeInvalidPayload or CodePayloadNull.
func DecodeStateReport(payload []byte) (StateReport, error) {
	var r StateReport
	if len(payload) == 0 || string(payload) == "null" {
		return r, ErrPayloadNull
	}
	if payload[0] != '{' {
		return r, invalidPayload("ReportState payload must be a state object")
	}
	var w struct {
		MachineID  *string         `json:"MachineId"`
		Value      json.RawMessage `json:"Value"`
		Status     *string         `json:"Status"`
		Context    json.RawMessage `json:"Context"`
		Definition json.RawMessage `json:"Definition"`
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return r, invalidPayload("ReportState: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	if w.MachineID == nil || *w.MachineID == "" {
		return r, invalidPayload("MachineId is required")
	}
	if len(w.Value)+len(w.Context) > MaxStateBytes {
		return r, invalidPayload("ReportState: Value and Context exceed 64 KiB")
	}
	if len(w.Definition) > MaxDefinitionBytes {
		return r, invalidPayload("ReportState: Definition exceeds 1 MiB")
	}
	r.MachineID = *w.MachineID
	r.Value, r.Context = nullToNil(w.Value), nullToNil(w.Context)
	if w.Status != nil {
		r.Status = *w.Status
	}
	r.Definition = nullToNil(w.Definition)
	return r, nil
}

func nullToNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

// appendUint and appendInt write the small numbers most trace members
// hold (0, -1, one digit) without strconv's general path.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	return strconv.AppendUint(b, v, 10)
}

func appendInt(b []byte, v int) []byte {
	switch {
	case v >= 0 && v < 10:
		return append(b, byte('0'+v))
	case v == -1:
		return append(b, '-', '1')
	}
	return strconv.AppendInt(b, int64(v), 10)
}
