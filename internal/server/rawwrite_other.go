//go:build !(darwin || linux || openbsd)

package server

import "net"

// rawWriter has no non-blocking write here (Windows pipes, and unix
// systems without writev in x/sys/unix): every flush hands its buffers to
// the writer goroutine.
type rawWriter = *noRawWriter

type noRawWriter struct{}

func newRawWriter(net.Conn) rawWriter { return nil }

func (*noRawWriter) write([][]byte) (int, error) { return 0, nil }
