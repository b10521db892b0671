package protocol

import (
	"strconv"
	"unicode/utf8"
)

// Response is one server line as a client reads it: a reply
// {"Success","Data","Error"} or a pushed event or request. Kind is
// KindReply when the line has no "Kind" key, as the original service's
// lines never do; HasKind tells the two apart. Slices point into the line.
type Response struct {
	Success bool
	Data    []byte // raw "Data"; nil when absent or null
	Error   String // zero when absent or null
	Kind    Kind
	HasKind bool
	Code    String // error code token; zero when absent
	ID      []byte // echoed request "Id"; nil when absent
}

// Decode parses a server line without its terminator. A leading UTF-8 BOM
// is not handled here; Reader strips it at the start of a stream.
func (r *Response) Decode(line []byte) error { return r.decode(line, nil) }

// DecodeEvent is Decode that also reads an object "Data" as a pushed
// event into ev, in the same pass over the line (Decode and then
// Event.Decode of Data walk Data twice). ok reports whether Data held a
// valid event (its required fields included, TargetMachineId among
// them); ev is then set, its slices pointing into the line. A Data
// object nested as deep as MaxDepth itself is accepted here, since its
// members are walked as objects of their own.
func (r *Response) DecodeEvent(line []byte, ev *Event) (ok bool, err error) {
	*ev = Event{}
	var st eventState
	if err := r.decode(line, &eventDecode{ev: ev, st: &st}); err != nil {
		return false, err
	}
	return st == eventGood, nil
}

type eventState uint8

const (
	eventNone eventState = iota // Data was not an object (or absent)
	eventGood
	eventBad // a member was invalid or a required one missing
)

type eventDecode struct {
	ev *Event
	st *eventState
}

// data walks the object Data that starts at it.i, recording its members
// in d.ev, and sets it.val and it.i past it as skip would.
func (d *eventDecode) data(it *objectIter) bool {
	start := it.i
	*d.ev = Event{}
	var in objectIter
	if !in.resetPlain(it.b[start:], it.plain) {
		it.bad = true
		return false
	}
	*d.st = eventGood
	for in.next() {
		if *d.st == eventGood && d.ev.member(eventKey(in.name()), in.val) != nil {
			*d.st = eventBad
		}
	}
	if in.err() {
		it.bad = true
		return false
	}
	if *d.st == eventGood && d.ev.check(true) != nil {
		*d.st = eventBad
	}
	it.i = start + in.i
	it.val = it.b[start:it.i]
	return true
}

func (r *Response) decode(line []byte, ed *eventDecode) error {
	*r = Response{}
	if !utf8.Valid(line) {
		return ErrInvalidJSON
	}
	var it objectIter
	if !it.reset(line) {
		return ErrInvalidJSON
	}
	for it.nextKey() {
		isData := ed != nil && it.is("Data")
		if isData && it.i < len(it.b) && it.b[it.i] == '{' {
			if !ed.data(&it) {
				break
			}
		} else {
			if isData { // a later "Data" replaces an earlier one
				*ed.ev, *ed.st = Event{}, eventNone
			}
			if !it.skip() {
				break
			}
		}
		switch {
		case it.is("Success"):
			r.Success = string(it.val) == "true"
		case it.is("Data"):
			r.Data = it.val
		case it.is("Error"):
			if it.val[0] == '"' {
				r.Error = String(it.val)
			}
		case it.is("Kind"):
			r.HasKind = true
			switch string(it.val) {
			case `"Event"`:
				r.Kind = KindEvent
			case `"Request"`:
				r.Kind = KindRequest
			case `"Trace"`:
				r.Kind = KindTrace
			default:
				r.Kind = KindReply
			}
		case it.is("Code"):
			if it.val[0] == '"' {
				r.Code = String(it.val)
			}
		case it.is("Id"):
			r.ID = it.val
		}
	}
	if it.err() || skipWS(it.rest(), 0) != len(it.rest()) {
		return ErrInvalidJSON
	}
	if r.Data != nil && isNull(r.Data) {
		r.Data = nil
	}
	return nil
}

// LooksLikeEvent reports whether a reply-shaped Data object is a pushed
// MachineEvent, for lines from a server that writes no "Kind" (the original
// service). It checks for the EventName and SourceMachineId keys at the top
// level of Data, not anywhere in it, so a payload mentioning them does not
// confuse it (the C# client's substring test did, P9).
func LooksLikeEvent(data []byte) bool {
	var it objectIter
	if !it.reset(data) {
		return false
	}
	name, src := false, false
	for it.next() {
		name = name || it.is("EventName")
		src = src || it.is("SourceMachineId")
	}
	return name && src && !it.err()
}

// RequestIDOf returns the "RequestId" of a pushed request's Data, or 0.
func RequestIDOf(data []byte) uint64 {
	var it objectIter
	if !it.reset(data) {
		return 0
	}
	for it.next() {
		if it.is("RequestId") {
			n, err := strconv.ParseUint(string(it.val), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}
