package transport

import (
	"net"

	"golang.org/x/sys/unix"
)

func peerOf(c net.Conn) (Peer, error) {
	raw, err := rawConn(c)
	if err != nil {
		return Unknown, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Unknown, err
	}
	if cerr != nil {
		return Unknown, cerr
	}
	return Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}
