package protocol

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// DefaultMaxLine is the default bound on one line, terminator excluded.
const DefaultMaxLine = 1 << 20

const (
	// initialReadBuf is the buffer an idle connection keeps.
	initialReadBuf = 512
	// streamReadBuf is what a buffer grows to while reads keep filling
	// it, so a streaming client's lines come in large batches (one read
	// and one flush per batch).
	streamReadBuf = 64 << 10
)

// Reader reads newline-delimited lines from a stream with a hard bound on
// line length. Lines end at "\n"; a "\r" before it is removed. A UTF-8 byte
// order mark at the very start of the stream is removed. The buffer starts
// small, grows up to the bound as needed and shrinks back once drained, so
// memory stays bounded by the maximum line however much is sent without a
// newline. A Reader is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	scan       int // bytes in buf[start:scan] hold no '\n'
	max        int
	bomChecked bool
	err        error
	total      int64 // bytes read from the stream
	filled     bool  // the last read filled all the room it was given
	timeout    error // a read deadline passed; returned once
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
	if r.start == r.end {
		r.buf, r.start, r.scan, r.end = nil, 0, 0, 0
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
	if r.start == r.end && (!r.filled && len(r.buf) > initialReadBuf || len(r.buf) > streamReadBuf) {
		// Drained after a read that did not fill the buffer: the burst is
		// over, so do not keep a large buffer. line aliases the old buffer,
		// which stays alive through it.
		r.buf, r.start, r.scan, r.end = nil, 0, 0, 0
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
		size := 2 * len(r.buf)
		if size < initialReadBuf {
			size = initialReadBuf
		}
		if limit := r.max + 5; size > limit {
			size = limit
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	room := len(r.buf) - r.end
	n, err := r.r.Read(r.buf[r.end:])
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
