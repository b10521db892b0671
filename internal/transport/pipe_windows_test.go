package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/statebus/statebus/internal/transport"
)

// underWine reports whether the test runs under Wine.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// listenPipe listens on a fresh pipe. Under Wine the first client of a
// go-winio listener is handed to its placeholder instance and never
// accepted, so a throwaway client takes that place first.
func listenPipe(t *testing.T) (string, net.Listener) {
	t.Helper()
	path := transport.PipePath(fmt.Sprintf("statebus-test-%d", time.Now().UnixNano()))
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if underWine() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c, err := transport.Dial(ctx, path); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return path, ln
}

func TestSecondListenerIsRefused(t *testing.T) {
	path, ln := listenPipe(t)
	defer ln.Close()
	go func() { // a live bus accepts
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	if _, err := transport.Listen(path, transport.Options{}); !errors.Is(err, transport.ErrInUse) {
		t.Fatalf("a second listener on a live pipe: %v, want ErrInUse", err)
	}
}
