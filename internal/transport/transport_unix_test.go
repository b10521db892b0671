//go:build !windows

package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sbt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestPipePathMatchesDotNet(t *testing.T) {
	for _, tc := range []struct{ tmpdir, name, want string }{
		{"", "XStateNet.MessageBus", "/tmp/CoreFxPipe_XStateNet.MessageBus"},
		{"/var/tmp", "x", "/var/tmp/CoreFxPipe_x"},
		{"/var/tmp/", "x", "/var/tmp/CoreFxPipe_x"},
		{"/tmp", "/run/statebus/bus.sock", "/run/statebus/bus.sock"},
	} {
		t.Setenv("TMPDIR", tc.tmpdir)
		if got := PipePath(tc.name); got != tc.want {
			t.Errorf("TMPDIR=%q PipePath(%q) = %q, want %q", tc.tmpdir, tc.name, got, tc.want)
		}
	}
	t.Setenv("TMPDIR", "/x")
	if got := Resolve("", ""); got != "/x/CoreFxPipe_XStateNet.MessageBus" {
		t.Errorf("Resolve default = %q", got)
	}
	if got := Resolve("/s.sock", "ignored"); got != "/s.sock" {
		t.Errorf("Resolve socket = %q", got)
	}
}

func TestListenModeAndCleanup(t *testing.T) {
	for _, mode := range []os.FileMode{0, 0o600, 0o660} {
		path := filepath.Join(shortDir(t), "m.sock")
		ln, err := Listen(path, Options{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		want := mode
		if want == 0 {
			want = 0o600
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode %o: socket has %o", mode, got)
		}
		ln.Close()
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket not removed on close: %v", err)
		}
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "stale.sock")
	// A socket file nobody listens on, as a crashed bus leaves behind.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	ln, err := Listen(path, Options{})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestListenLeavesLiveBusAlone(t *testing.T) {
	path := filepath.Join(shortDir(t), "live.sock")
	ln, err := Listen(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := Listen(path, Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen = %v, want ErrInUse", err)
	}
	// The live one still works.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("live listener disturbed: %v", err)
	}
	c.Close()
}

func TestListenRefusesNonSocketFile(t *testing.T) {
	path := filepath.Join(shortDir(t), "file")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatal("regular file was touched")
	}
}

func TestDialNothingListening(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := Dial(ctx, filepath.Join(shortDir(t), "none.sock")); err == nil {
		t.Fatal("dial succeeded with nothing listening")
	}
}
