package server

import (
	"bytes"
	"sync"

	"github.com/statebus/statebus/internal/protocol"
)

// A connection's outbound queue is a list of chunks: lines are appended to
// the current chunk (outbox.out) and, when it has too little room left, it
// joins the full ones (outbox.full) and a new chunk starts. Appending
// therefore never copies what is already queued, however far the queue
// grows while its socket is full, and a flush hands the chunks it wrote
// back to a shared pool: a connection holds memory only while it has
// lines queued.

// chunkSize is the size of a queue chunk, except the first of a queue
// that was empty, which is a small one: a few replies, say, waiting on a
// client that reads slowly, hold 4 KiB rather than 64.
const (
	chunkSize = 64 << 10
	smallSize = 4 << 10
)

// replyRoom is the room reserved for a reply line: more than any reply
// but an answer or an error carrying a long machine id, which grow the
// chunk (by copying only it) when they do not fit.
const replyRoom = 1024

var (
	chunks      = sync.Pool{New: func() any { return new([chunkSize]byte) }}
	smallChunks = sync.Pool{New: func() any { return new([smallSize]byte) }}
)

// getChunk returns an empty chunk with room for n bytes, a small one if
// small is set and n fits.
func getChunk(n int, small bool) []byte {
	switch {
	case small && n <= smallSize:
		return smallChunks.Get().(*[smallSize]byte)[:0]
	case n <= chunkSize:
		return chunks.Get().(*[chunkSize]byte)[:0]
	}
	return make([]byte, 0, n)
}

// putChunk gives a chunk back to its pool; other buffers are left to the
// garbage collector.
func putChunk(b []byte) {
	switch cap(b) {
	case chunkSize:
		chunks.Put((*[chunkSize]byte)(b[:chunkSize]))
	case smallSize:
		smallChunks.Put((*[smallSize]byte)(b[:smallSize]))
	}
}

// reserveLocked makes sure the current chunk has room for n more bytes,
// closing it and starting a new one if not. o.mu held.
func (o *outbox) reserveLocked(n int) {
	if cap(o.out)-len(o.out) >= n {
		return
	}
	if len(o.out) > 0 {
		o.full = append(o.full, o.out)
		o.fullBytes += len(o.out)
	} else {
		putChunk(o.out)
	}
	o.out = getChunk(n, o.fullBytes == 0)
}

// eventRoom is the room to reserve for ev as a pushed event line.
func eventRoom(ev *protocol.Event) int {
	return len(ev.Payload) + len(ev.Source) + len(ev.Target) + len(ev.Name) + len(ev.Timestamp) + 256
}

// queuedLocked returns the number of bytes queued. o.mu held.
func (o *outbox) queuedLocked() int { return o.fullBytes + len(o.out) }

// takeLocked empties the queue and returns its chunks in order, for the
// caller to write; it owns them until it calls recycleLocked. Only the
// owner of the write side calls it (or teardown, when no one writes).
// o.mu held.
func (o *outbox) takeLocked() [][]byte {
	bufs := append(o.full, o.out)
	o.full, o.spareList = o.spareList, nil
	o.fullBytes, o.out = 0, nil
	return bufs
}

// recycleLocked gives written chunks back to the pool and keeps the list
// for the next take. o.mu held.
func (o *outbox) recycleLocked(bufs [][]byte) {
	for i, b := range bufs {
		putChunk(b)
		bufs[i] = nil
	}
	if o.full == nil {
		o.full = bufs[:0]
	} else {
		o.spareList = bufs[:0]
	}
}

// countLines returns the number of complete lines in bufs.
func countLines(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += bytes.Count(b, []byte{'\n'})
	}
	return n
}

// locate returns where the first n bytes of bufs end: the index of the
// first buffer not written in full and the offset in it, or len(bufs).
func locate(bufs [][]byte, n int) (i, off int) {
	for i, b := range bufs {
		if n < len(b) {
			return i, n
		}
		n -= len(b)
	}
	return len(bufs), 0
}
