package transport

import (
	"errors"
	"net"
	"syscall"
)

// Peer is what the operating system says about the process at the other
// end of a connection; unlike anything in the client's messages, it
// cannot be forged. Fields the platform does not provide are -1.
type Peer struct {
	PID int // process id
	UID int // user id (Unix)
	GID int // primary group id (Unix)
}

// Unknown is the Peer of a connection the OS tells nothing about.
var Unknown = Peer{PID: -1, UID: -1, GID: -1}

// PeerOf returns the peer of c: SO_PEERCRED on Linux, LOCAL_PEERCRED and
// LOCAL_PEERPID on macOS, GetNamedPipeClientProcessId for Windows pipes.
func PeerOf(c net.Conn) (Peer, error) { return peerOf(c) }

// rawConn returns c's raw connection, for reading socket options.
func rawConn(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("transport: connection has no file descriptor")
	}
	return sc.SyscallConn()
}
