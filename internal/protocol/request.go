package protocol

import (
	"strconv"
)

// MaxMachineIDBytes bounds the length of a machine id.
const MaxMachineIDBytes = 256

// Request is the envelope of one request line: {"Type":T,"Payload":P} plus an
// optional "Id" that the server echoes on the reply. Keys match ignoring
// ASCII case and the last duplicate wins, as in encoding/json; a missing Type
// means Register, as in the original service. The slices point into the
// decoded line.
type Request struct {
	Type    Type
	ID      []byte // raw "Id" (a JSON string or number), nil when absent
	Payload []byte // raw "Payload" value, nil when absent
	Token   String // "Token" on the envelope: authenticates the connection; zero when absent

	// An object Payload is read as an event in the same pass (the hot
	// path: SendEvent); Event hands the result out.
	ev      Event
	evErr   error
	evValid bool

	typ     []byte // the raw Type token, nil when absent
	timeout []byte // the raw TimeoutMs token of an object Payload, nil when absent
	plain   bool   // the line is plain (see isPlain)
}

// Event decodes the payload as an event (see Event.Decode), reusing the
// fields Decode already found when the payload was an object.
func (r *Request) Event(e *Event, needTarget bool) error {
	if !r.evValid {
		return e.Decode(r.Payload, needTarget)
	}
	*e = r.ev
	if r.evErr != nil {
		return r.evErr
	}
	return e.check(needTarget)
}

// scanPayload reads an object Payload member by member as an event while
// validating it, and returns the index just past it.
func (r *Request) scanPayload(b []byte, plain bool) (int, bool) {
	var in objectIter
	if !in.resetPlain(b, plain) {
		return 0, false
	}
	r.timeout = nil
	for in.next() {
		key := eventKey(in.name())
		if err := r.ev.member(key, in.val); err != nil && r.evErr == nil {
			r.evErr = err
		}
		if key == keyTimeout {
			r.timeout = in.val
		}
	}
	if in.err() {
		return 0, false
	}
	r.evValid = true
	return in.i, true
}

// Decode parses one line, which must not include its terminator. On error,
// r.ID is still set when the line was valid JSON with a usable Id, so the
// error reply can carry it.
func (r *Request) Decode(line []byte) error {
	*r = Request{}
	// Only strings may hold non-ASCII bytes, and the scanner checks that
	// they are UTF-8: the line needs no separate pass for its encoding.
	var it objectIter
	if !it.reset(line) {
		return ErrInvalidJSON
	}
	var typ []byte
	for it.nextKey() {
		key := envelopeKey(it.name())
		if key == keyPayload && it.i < len(it.b) && it.b[it.i] == '{' {
			r.ev, r.evErr, r.evValid = Event{}, nil, false
			n, ok := r.scanPayload(it.b[it.i:], it.plain)
			if !ok {
				it.bad = true
				break
			}
			r.Payload = it.b[it.i : it.i+n]
			it.i += n
			continue
		}
		if !it.skip() {
			break
		}
		switch key {
		case keyType:
			typ = it.val
		case keyPayload:
			r.Payload, r.evValid = it.val, false
		case keyID:
			r.ID = it.val
		case keyToken:
			if it.val[0] == '"' {
				r.Token = String(it.val)
			}
		}
	}
	if it.err() || skipWS(it.rest(), 0) != len(it.rest()) {
		r.ID = nil
		return ErrInvalidJSON
	}
	r.typ, r.plain = typ, it.plain
	if r.ID != nil {
		if c := r.ID[0]; c == 'n' {
			r.ID = nil
		} else if c != '"' && c != '-' && !isDigit(c) {
			r.ID = nil
			return &Error{CodeInvalidJSON, "Id must be a string or a number"}
		}
	}
	if r.Payload != nil && isNull(r.Payload) {
		r.Payload = nil
	}
	if typ == nil {
		r.Type = TypeRegister
		return nil
	}
	switch c := typ[0]; {
	case c == '"':
		var buf [32]byte
		name := String(typ).Value(buf[:0])
		t, ok := TypeByName(name)
		if !ok {
			return &Error{CodeUnknownType, TextUnknownType + string(name)}
		}
		r.Type = t
	case c == '-' || isDigit(c):
		n, ok := parseInt32(typ)
		if !ok {
			return ErrInvalidJSON
		}
		if n < 0 || n > int64(TypeSubscribe) {
			return &Error{CodeUnknownType, TextUnknownType + strconv.FormatInt(n, 10)}
		}
		r.Type = Type(n)
	default:
		return ErrInvalidJSON
	}
	return nil
}

// parseInt32 parses a JSON integer literal (no fraction or exponent) that
// fits in an int32, as System.Text.Json does for an enum.
func parseInt32(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, false
	}
	return n, true
}

func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

// stringField checks that v is a JSON string (or null, reported as zero).
func stringField(v []byte, name string) (String, error) {
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '"' {
		return nil, invalidPayload(name + " must be a string")
	}
	return String(v), nil
}

// Event is the payload of SendEvent, Publish and Request:
// {SourceMachineId, TargetMachineId, EventName, Payload, Timestamp} and, for
// Request, TimeoutMs. Fields point into the decoded line.
type Event struct {
	Source    String // SourceMachineId token
	Target    String // TargetMachineId token; zero for Publish
	Name      String // EventName token
	Payload   []byte // the event's own payload, raw; nil when absent
	Timestamp String // sender's timestamp token; zero when absent or null
	TimeoutMs int64  // Request only; 0 when absent
}

// Decode parses an event payload. needTarget is false for Publish.
func (e *Event) Decode(payload []byte, needTarget bool) error {
	*e = Event{}
	if payload == nil {
		return ErrPayloadNull
	}
	var it objectIter
	if !it.reset(payload) {
		return invalidPayload("Payload must be an object")
	}
	var err error
	for it.next() && err == nil {
		err = e.member(eventKey(it.name()), it.val)
	}
	switch {
	case err != nil:
		return err
	case it.err():
		return ErrInvalidJSON
	}
	return e.check(needTarget)
}

// member records the member with the given key (see eventKey) and raw
// value if it is an event field.
func (e *Event) member(key int, val []byte) (err error) {
	switch key {
	case keySource:
		e.Source, err = stringField(val, "SourceMachineId")
	case keyTarget:
		e.Target, err = stringField(val, "TargetMachineId")
	case keyEventName:
		e.Name, err = stringField(val, "EventName")
	case keyEventPayload:
		e.Payload = val
	case keyTimestamp:
		e.Timestamp, err = stringField(val, "Timestamp")
	case keyTimeout:
		if isNull(val) {
			break
		}
		n, ok := parseInt32(val)
		if !ok || n <= 0 {
			err = invalidPayload("TimeoutMs must be a positive integer")
		}
		e.TimeoutMs = n
	}
	return err
}

// check reports a missing required field.
func (e *Event) check(needTarget bool) error {
	switch {
	case e.Source.IsZero():
		return invalidPayload("SourceMachineId is required")
	case needTarget && e.Target.IsZero():
		return invalidPayload("TargetMachineId is required")
	case e.Name.IsZero():
		return invalidPayload("EventName is required")
	}
	return nil
}

// Registration is the payload of Register: {MachineId, ProcessName,
// ProcessId, RegisteredAt}. As a superset, a bare machine id string is
// accepted too, and Unregister and Subscribe accept this object form.
type Registration struct {
	MachineID    String
	ProcessName  String // zero when absent
	ProcessID    int64  // 0 when absent
	RegisteredAt String // client's timestamp token, echoed in the reply; zero when absent
	Token        String // shared secret, when the bus requires one; zero when absent
}

// Decode parses a Register, Unregister or Subscribe payload.
func (g *Registration) Decode(payload []byte) error {
	*g = Registration{}
	if payload == nil {
		return ErrPayloadNull
	}
	if len(payload) > 0 && payload[0] == '"' {
		g.MachineID = String(payload)
		return checkMachineID(g.MachineID)
	}
	var it objectIter
	if !it.reset(payload) {
		return invalidPayload("Payload must be a machine id string or a registration object")
	}
	var err error
	for it.next() && err == nil {
		switch {
		case it.is("MachineId"):
			g.MachineID, err = stringField(it.val, "MachineId")
		case it.is("ProcessName"):
			g.ProcessName, err = stringField(it.val, "ProcessName")
		case it.is("ProcessId"):
			n, ok := parseInt32(it.val)
			if !ok && !isNull(it.val) {
				err = invalidPayload("ProcessId must be a 32-bit integer")
			}
			g.ProcessID = n
		case it.is("RegisteredAt"):
			g.RegisteredAt, err = stringField(it.val, "RegisteredAt")
		case it.is("Token"):
			g.Token, err = stringField(it.val, "Token")
		}
	}
	if err != nil {
		return err
	}
	if it.err() {
		return ErrInvalidJSON
	}
	return checkMachineID(g.MachineID)
}

// checkMachineID enforces the id rules: present, not empty, at most
// MaxMachineIDBytes once unescaped, and free of control characters.
func checkMachineID(tok String) error {
	if tok.IsZero() {
		return invalidPayload("MachineId is required")
	}
	var buf [MaxMachineIDBytes + 8]byte
	v := tok.Value(buf[:0])
	switch {
	case len(v) == 0:
		return invalidPayload("MachineId must not be empty")
	case len(v) > MaxMachineIDBytes:
		return invalidPayload("MachineId is longer than " + strconv.Itoa(MaxMachineIDBytes) + " bytes")
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return invalidPayload("MachineId must not contain control characters")
		}
	}
	return nil
}

// Answer is the payload of Reply: {RequestId, Payload, Error}. A non-null
// Error makes the requester's reply a failure with that text.
type Answer struct {
	RequestID uint64
	Payload   []byte // raw; nil when absent
	Error     String // zero when absent or null
}

// Decode parses a Reply payload.
func (a *Answer) Decode(payload []byte) error {
	*a = Answer{}
	if payload == nil {
		return ErrPayloadNull
	}
	var it objectIter
	if !it.reset(payload) {
		return invalidPayload("Payload must be an object")
	}
	var err error
	seen := false
	for it.next() && err == nil {
		switch {
		case it.is("RequestId"):
			n, perr := strconv.ParseUint(string(it.val), 10, 64)
			if perr != nil || n == 0 {
				err = invalidPayload("RequestId must be a positive integer")
			}
			a.RequestID, seen = n, true
		case it.is("Payload"):
			a.Payload = it.val
		case it.is("Error"):
			a.Error, err = stringField(it.val, "Error")
		}
	}
	switch {
	case err != nil:
		return err
	case it.err():
		return ErrInvalidJSON
	case !seen:
		return invalidPayload("RequestId is required")
	}
	return nil
}
