//go:build !windows

package server

import (
	"errors"
	"net"
	"syscall"
)

// rawWriter writes to a socket without blocking: it returns how much the
// kernel took, and the caller hands the rest to a blocking writer. Only
// the goroutine that owns a connection's write side calls it.
type rawWriter = *unixWriter

type unixWriter struct {
	rc  syscall.RawConn
	buf []byte
	n   int
	err error
	fn  func(fd uintptr) bool // bound once, so a write allocates nothing
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

func (w *unixWriter) writeFD(fd uintptr) bool {
	w.n, w.err = 0, nil
	for w.n < len(w.buf) {
		n, err := syscall.Write(int(fd), w.buf[w.n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			w.err = err
			break
		}
		w.n += n
	}
	return true // never wait for writability here
}

// write writes as much of b as the socket takes now. A full socket is not
// an error: n < len(b) and err == nil.
func (w *unixWriter) write(b []byte) (int, error) {
	if w == nil {
		return 0, nil
	}
	w.buf = b
	err := w.rc.Write(w.fn)
	w.buf = nil
	if err != nil {
		return 0, err
	}
	if errors.Is(w.err, syscall.EAGAIN) {
		return w.n, nil
	}
	return w.n, w.err
}
