package protocol

import "bytes"

// HasLine reports whether a complete line is already buffered, so that the
// next ReadLine will not block. A caller uses it to flush its output before
// waiting for more input.
func (r *Reader) HasLine() bool {
	if r.err != nil {
		return true
	}
	i := bytes.IndexByte(r.buf[r.scan:r.end], '\n')
	if i < 0 {
		r.scan = r.end
		return false
	}
	r.scan += i
	return true
}
