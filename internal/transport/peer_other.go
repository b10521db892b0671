//go:build !linux && !darwin && !windows

package transport

import (
	"errors"
	"net"
)

func peerOf(net.Conn) (Peer, error) {
	return Unknown, errors.New("transport: peer credentials are not supported on this platform")
}
