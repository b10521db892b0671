package main

import (
	"bytes"
	"fmt"
)

// Every peer carries the same bytes: a 240-byte statebus SendEvent line
// whose event payload is a 100-byte JSON object. The payload's "id" field
// holds the sender's index and the message's sequence number in fixed
// width, so a message can be stamped in place and identified on arrival
// with one search, whatever envelope the peer wraps around it.
const (
	lineSize    = 240
	payloadSize = 100
	srcDigits   = 3
	seqDigits   = 12
	idKey       = `"id":"`
	timestamp   = "2025-10-04T02:24:28Z"
)

// template is one sender's pre-encoded message. set stamps a sequence
// number into line (and so into payload, a sub-slice of it) in place.
type template struct {
	line    []byte // the whole SendEvent line, ending in '\n'
	payload []byte // the event's Payload JSON inside line
	name    string // the EventName
	seqOff  int    // offset of the sequence digits in line

	// shapes, when set, are lines of the same length with event names of
	// different lengths (and payloads shorter by as much): set takes them
	// in turn, so no line is shaped like the one before.
	shapes []*template
}

// machineName is the statebus machine id, Redis channel or NATS subject of
// a sender ("s007") or receiver ("r003").
func machineName(prefix byte, i int) string { return fmt.Sprintf("%c%03d", prefix, i) }

func makePayload(src, size int) []byte {
	p := fmt.Appendf(nil, `{"id":"%0*d-%0*d","pad":"`, srcDigits, src, seqDigits, 0)
	for len(p) < size-2 {
		p = append(p, 'x')
	}
	return append(p, '"', '}')
}

// newTemplate builds the line from source to target for sender index src.
func newTemplate(source, target string, src int) *template {
	return newShape(source, target, src, 0)
}

// newShapedTemplate is newTemplate with n shapes in turn (see template).
func newShapedTemplate(source, target string, src, n int) *template {
	t := newTemplate(source, target, src)
	if n > 1 {
		for k := range n {
			t.shapes = append(t.shapes, newShape(source, target, src, k))
		}
	}
	return t
}

// newShape builds the line with a payload k bytes shorter than
// payloadSize and the event name k bytes longer.
func newShape(source, target string, src, k int) *template {
	payload := makePayload(src, payloadSize-k)
	build := func(name string) []byte {
		var b []byte
		b = fmt.Appendf(b, `{"Type":2,"Payload":{"SourceMachineId":%q,"TargetMachineId":%q,"EventName":%q,"Payload":`, source, target, name)
		b = append(b, payload...)
		b = fmt.Appendf(b, `,"Timestamp":%q}}`, timestamp)
		return append(b, '\n')
	}
	name := "TICK"
	if n := len(build(name)); n < lineSize {
		name += string(bytes.Repeat([]byte{'_'}, lineSize-n))
	}
	line := build(name)
	off := bytes.Index(line, []byte(idKey)) + len(idKey) + srcDigits + 1
	pStart := bytes.LastIndex(line[:off], []byte(`{"id"`))
	return &template{line: line, payload: line[pStart : pStart+len(payload)], name: name, seqOff: off}
}

// set stamps seq into the template (switching to the next shape first if
// it has several).
func (t *template) set(seq uint64) {
	if len(t.shapes) > 0 {
		v := t.shapes[seq%uint64(len(t.shapes))]
		t.line, t.payload, t.name, t.seqOff = v.line, v.payload, v.name, v.seqOff
	}
	d := t.line[t.seqOff : t.seqOff+seqDigits]
	for i := seqDigits - 1; i >= 0; i-- {
		d[i] = byte('0' + seq%10)
		seq /= 10
	}
}

// parseID finds a message's sender index and sequence number in b (a line,
// an event's payload or a peer's message body).
func parseID(b []byte) (src int, seq uint64, ok bool) {
	i := bytes.Index(b, []byte(idKey))
	if i < 0 || len(b) < i+len(idKey)+srcDigits+1+seqDigits {
		return 0, 0, false
	}
	d := b[i+len(idKey):]
	for _, c := range d[:srcDigits] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		src = src*10 + int(c-'0')
	}
	if d[srcDigits] != '-' {
		return 0, 0, false
	}
	for _, c := range d[srcDigits+1 : srcDigits+1+seqDigits] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	return src, seq, true
}
