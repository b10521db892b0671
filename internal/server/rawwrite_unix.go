//go:build darwin || linux || openbsd

package server

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawWriter writes to a socket without blocking: it returns how much the
// kernel took, and the caller hands the rest to a blocking writer. Only
// the goroutine that owns a connection's write side calls it.
type rawWriter = *unixWriter

type unixWriter struct {
	rc   syscall.RawConn
	bufs [][]byte // what to write: the caller's, never modified
	iov  [][]byte // scratch: the part of bufs not written yet
	n    int
	err  error
	fn   func(fd uintptr) bool // bound once, so a write allocates nothing
}

func newRawWriter(nc net.Conn) rawWriter {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &unixWriter{rc: rc}
	w.fn = w.writeFD
	return w
}

// maxIovec bounds the buffers given to one writev (IOV_MAX is 1024).
const maxIovec = 256

func (w *unixWriter) writeFD(fd uintptr) bool {
	w.n, w.err = 0, nil
	total := 0
	for _, b := range w.bufs {
		total += len(b)
	}
	for w.n < total {
		w.iov = unwritten(w.iov[:0], w.bufs, w.n)
		n, err := unix.Writev(int(fd), w.iov)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			w.err = err
			break
		}
		w.n += n
	}
	clear(w.iov)
	return true // never wait for writability here
}

// unwritten appends to dst the parts of bufs after their first n bytes,
// at most maxIovec of them.
func unwritten(dst, bufs [][]byte, n int) [][]byte {
	for _, b := range bufs {
		switch {
		case n >= len(b):
			n -= len(b)
		case len(dst) < maxIovec:
			dst = append(dst, b[n:])
			n = 0
		}
	}
	return dst
}

// write writes as much of bufs, in order, as the socket takes now, with
// one system call for all of them. A full socket is not an error: the
// count is short and err == nil.
func (w *unixWriter) write(bufs [][]byte) (int, error) {
	if w == nil {
		return 0, nil
	}
	w.bufs = bufs
	err := w.rc.Write(w.fn)
	w.bufs = nil
	if err != nil {
		return 0, err
	}
	if errors.Is(w.err, syscall.EAGAIN) {
		return w.n, nil
	}
	return w.n, w.err
}
