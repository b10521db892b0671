//go:build windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// DefaultSecurityDescriptor lets local authenticated users, SYSTEM,
// administrators and the owner read and write the pipe and denies network
// logons, so non-admin local clients connect and remote ones cannot.
const DefaultSecurityDescriptor = "D:P(D;;GA;;;NU)(A;;GRGW;;;AU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)"

// PipePath returns the Windows path of the named pipe called name,
// \\.\pipe\name; a name that already is a pipe path is returned as is.
func PipePath(name string) string {
	if strings.HasPrefix(name, `\\`) {
		return name
	}
	return `\\.\pipe\` + name
}

// Listen listens on the named pipe at path with opts.SecurityDescriptor
// (default DefaultSecurityDescriptor). A pipe served by another live
// process is reported as ErrInUse.
func Listen(path string, opts Options) (net.Listener, error) {
	sd := opts.SecurityDescriptor
	if sd == "" {
		sd = DefaultSecurityDescriptor
	}
	// A live server answers a dial; then leave it alone. (Creating the
	// first instance also fails for a pipe name in use, but not on every
	// implementation: Wine allows it.)
	timeout := 200 * time.Millisecond
	if c, err := winio.DialPipe(path, &timeout); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s: another process is listening on it", ErrInUse, path)
	}
	ln, err := winio.ListenPipe(path, &winio.PipeConfig{
		SecurityDescriptor: sd,
		InputBufferSize:    64 << 10,
		OutputBufferSize:   64 << 10,
	})
	if err != nil {
		// go-winio creates the first instance with
		// FILE_FLAG_FIRST_PIPE_INSTANCE, which fails with access denied when
		// another process already serves the name.
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, fmt.Errorf("%w: %s: %v", ErrInUse, path, err)
		}
		return nil, err
	}
	return ln, nil
}

func dial(ctx context.Context, path string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, path)
}
