// Package transport opens the local endpoints statebus listens on and
// clients dial: Unix domain sockets, and Windows named pipes through
// go-winio. It maps .NET pipe names to the endpoint the .NET runtime uses,
// so unmodified NamedPipeClientStream clients connect. It knows nothing of
// messages.
package transport

import (
	"context"
	"errors"
	"net"
	"os"
)

// DefaultPipeName is the XStateNet pipe name.
const DefaultPipeName = "XStateNet.MessageBus"

// ErrInUse means another live process is listening on the endpoint.
var ErrInUse = errors.New("transport: endpoint in use")

// Options tune Listen.
type Options struct {
	// Mode is the Unix socket file's permission bits. Default 0600.
	Mode os.FileMode
	// Group, when positive, is the gid the Unix socket file is given
	// (with Mode 0660, its members may connect). 0 or -1: the process's.
	Group int
	// SecurityDescriptor is the Windows pipe's SDDL. Default
	// DefaultSecurityDescriptor.
	SecurityDescriptor string
}

// Resolve returns the endpoint for a --socket path or a --pipe name: the
// socket path when given, else PipePath of the pipe name (default
// DefaultPipeName).
func Resolve(socket, pipe string) string {
	if socket != "" {
		return socket
	}
	if pipe == "" {
		pipe = DefaultPipeName
	}
	return PipePath(pipe)
}

// Dial connects to the endpoint at path (a socket path, or a \\.\pipe\
// path on Windows), honouring ctx's deadline.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	return dial(ctx, path)
}
