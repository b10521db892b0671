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
func (r *Response) Decode(line []byte) error {
	*r = Response{}
	if !utf8.Valid(line) {
		return ErrInvalidJSON
	}
	var it objectIter
	if !it.reset(line) {
		return ErrInvalidJSON
	}
	for it.next() {
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
