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
	p := Unknown
	var cerr error
	err = raw.Control(func(fd uintptr) {
		var x *unix.Xucred
		if x, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED); cerr != nil {
			return
		}
		p.UID = int(x.Uid)
		if x.Ngroups > 0 {
			p.GID = int(x.Groups[0])
		}
		if pid, err := unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
			p.PID = pid
		}
	})
	if err == nil {
		err = cerr
	}
	return p, err
}
