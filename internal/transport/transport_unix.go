//go:build !windows

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PipePath returns where .NET on Unix puts a named pipe called name, as
// NamedPipeServerStream and NamedPipeClientStream do: name itself when it
// is an absolute path, else Path.GetTempPath() ($TMPDIR with a trailing
// slash, or /tmp/ when unset) + "CoreFxPipe_" + name.
func PipePath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp/"
	}
	if !strings.HasSuffix(tmp, "/") {
		tmp += "/"
	}
	return tmp + "CoreFxPipe_" + name
}

// umaskMu serializes the umask change around bind.
var umaskMu sync.Mutex

// Listen listens on the Unix socket at path. A stale socket file (nobody
// accepting on it) is replaced; if a live process accepts on it, Listen
// returns an error wrapping ErrInUse and leaves it alone; any other file
// there is an error. The socket file is created with opts.Mode (default
// 0600) and is removed when the listener closes.
func Listen(path string, opts Options) (net.Listener, error) {
	mode := opts.Mode
	if mode == 0 {
		mode = 0o600
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	umaskMu.Lock()
	old := syscall.Umask(0o777 &^ int(mode.Perm()))
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %s: another process took it while starting", ErrInUse, path)
		}
		return nil, err
	}
	// The umask can only remove bits; set the exact mode (e.g. 0660).
	if err := os.Chmod(path, mode.Perm()); err != nil {
		ln.Close()
		return nil, err
	}
	if opts.Group > 0 {
		if err := os.Chown(path, -1, opts.Group); err != nil {
			ln.Close()
			return nil, fmt.Errorf("transport: giving %s to group %d: %w", path, opts.Group, err)
		}
	}
	return ln, nil
}

func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("transport: %s exists and is not a socket; not replacing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s: another process is listening on it", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("transport: checking %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("transport: removing stale socket %s: %w", path, err)
	}
	return nil
}

func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}
