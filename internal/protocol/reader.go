package protocol

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
)

// DefaultMaxLine is the default bound on one line, terminator excluded.
const DefaultMaxLine = 1 << 20

const (
	// initialReadBuf is the buffer an idle connection keeps.
	initialReadBuf = 512
	// streamReadBuf is what a buffer grows to while reads keep filling
	// it, so a streaming client's lines come in large batches (one read
	// and one flush per batch). Such buffers come from a pool shared by
	// all Readers and go back to it when the stream slows down.
	streamReadBuf = 64 << 10
)

var streamBufs = sync.Pool{New: func() any { return new([streamReadBuf]byte) }}

// Reader reads newline-delimited lines from a stream with a hard bound on
// line length. Lines end at "\n"; a "\r" before it is removed. A UTF-8 byte
// order mark at the very start of the stream is removed. The buffer starts
// small, grows to a pooled 64 KiB one while reads keep filling it (and
// beyond, up to the bound, for a longer line) and shrinks back once drained
// by small reads, so memory stays bounded by the maximum line however much
// is sent without a newline. A Reader is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	scan       int // bytes in buf[start:scan] hold no '\n'
	max        int
	bomChecked bool
	err        error
	total      int64  // bytes read from the stream
	filled     bool   // the last read filled all the room it was given
	lastRead   int    // bytes the last read returned
	pooled     bool   // buf came from streamBufs
	spent      []byte // a pooled buffer the last line may alias; back to the pool on the next call
	timeout    error  // a read deadline passed; returned once
}

// NewReader returns a Reader over r for lines of at most max bytes
// (DefaultMaxLine when max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &Reader{r: r, max: max}
}

// Release drops the buffer when nothing is buffered, so an idle reader
// holds no memory; the next read allocates a small one again.
func (r *Reader) Release() {
	r.putSpent()
	if r.start == r.end {
		if r.pooled {
			r.spent = r.buf
			r.putSpent()
		}
		r.buf, r.pooled, r.start, r.scan, r.end = nil, false, 0, 0, 0
	}
}

// putSpent returns a retired pooled buffer, once no line aliases it.
func (r *Reader) putSpent() {
	if r.spent != nil {
		streamBufs.Put((*[streamReadBuf]byte)(r.spent))
		r.spent = nil
	}
}

// Total reports how many bytes have been read from the stream.
func (r *Reader) Total() int64 { return r.total }

// Buffered reports how many bytes are buffered and not yet returned.
func (r *Reader) Buffered() int { return r.end - r.start }

// ReadLine returns the next line without its terminator. The slice aliases
// the Reader's buffer and is valid until the next call. At the end of the
// stream a final unterminated line is returned, then io.EOF. A line longer
// than the bound returns ErrLineTooLong, after which the Reader keeps
// returning that error: the caller replies and closes the connection. Read
// errors of the underlying stream are returned as they are.
func (r *Reader) ReadLine() ([]byte, error) {
	r.putSpent()
	for {
		if i := bytes.IndexByte(r.buf[r.scan:r.end], '\n'); i >= 0 {
			nl := r.scan + i
			line := r.buf[r.start:nl]
			r.start, r.scan = nl+1, nl+1
			return r.finish(line)
		}
		r.scan = r.end
		if r.timeout != nil {
			err := r.timeout
			r.timeout = nil
			return nil, err
		}
		if r.err != nil {
			if r.start < r.end {
				line := r.buf[r.start:r.end]
				r.start, r.scan = r.end, r.end
				if !r.bomChecked && string(line) == "\xEF\xBB\xBF" {
					// A stream holding only a BOM holds no line.
					r.bomChecked = true
					return nil, r.err
				}
				return r.finish(line)
			}
			return nil, r.err
		}
		// Allow max bytes of content plus "\r" and a 3-byte BOM.
		if r.end-r.start > r.max+4 {
			r.err = ErrLineTooLong
			r.start, r.scan, r.end = 0, 0, 0
			return nil, r.err
		}
		r.fill()
	}
}

func (r *Reader) finish(line []byte) ([]byte, error) {
	if !r.bomChecked {
		r.bomChecked = true
		line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > r.max {
		r.err = ErrLineTooLong
		r.start, r.scan, r.end = 0, 0, 0
		return nil, r.err
	}
	if r.start == r.end && (!r.filled && r.lastRead < initialReadBuf && len(r.buf) > initialReadBuf || len(r.buf) > streamReadBuf) {
		// Drained after a small read: the stream has slowed down, so do
		// not keep a large buffer. line aliases the old buffer; a pooled
		// one goes back to the pool on the next call.
		if r.pooled {
			r.spent = r.buf
		}
		r.buf, r.pooled, r.start, r.scan, r.end = nil, false, 0, 0, 0
	}
	return line, nil
}

// fill reads once from the stream, first making room.
func (r *Reader) fill() {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.scan -= r.start
		r.start, r.end = 0, n
	}
	// Grow when a line does not fit, or while reads keep filling the
	// buffer (a stream: read bigger batches).
	if r.end == len(r.buf) || r.filled && len(r.buf) < streamReadBuf {
		limit := r.max + 5
		var nb []byte
		pooled := false
		switch {
		case r.buf == nil:
			nb = make([]byte, min(initialReadBuf, limit))
		case len(r.buf) < streamReadBuf && limit >= streamReadBuf:
			nb, pooled = streamBufs.Get().(*[streamReadBuf]byte)[:], true
		default:
			nb = make([]byte, min(2*len(r.buf), limit))
		}
		copy(nb, r.buf[:r.end])
		if r.pooled {
			// No line aliases it any more: the previous one was only
			// valid until this call.
			streamBufs.Put((*[streamReadBuf]byte)(r.buf))
		}
		r.buf, r.pooled = nb, pooled
	}
	room := len(r.buf) - r.end
	n, err := r.r.Read(r.buf[r.end:])
	r.lastRead = n
	r.filled = n == room
	r.end += n
	r.total += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		r.timeout = err // not sticky: the caller may read again
	default:
		r.err = err
	}
}
