package transport

import (
	"errors"
	"net"

	"golang.org/x/sys/windows"
)

func peerOf(c net.Conn) (Peer, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Unknown, errors.New("transport: connection is not a named pipe")
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(windows.Handle(f.Fd()), &pid); err != nil {
		return Unknown, err
	}
	p := Unknown
	p.PID = int(pid)
	return p, nil
}
