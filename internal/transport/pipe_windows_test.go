package transport_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/statebus/statebus/internal/server"
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

type pipeClient struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

func dialPipe(t *testing.T, path string) *pipeClient {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := transport.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &pipeClient{t: t, nc: nc, rd: bufio.NewReader(nc)}
}

func (c *pipeClient) call(line string) string {
	c.t.Helper()
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

func (c *pipeClient) read() string {
	c.t.Helper()
	s, err := c.rd.ReadString('\n')
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSuffix(s, "\n")
}

// TestBusOverNamedPipes routes events between two clients through the
// real server on a Windows named pipe, as C# clients on Windows connect.
func TestBusOverNamedPipes(t *testing.T) {
	path, ln := listenPipe(t)
	srv, err := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}()

	ping, pong := dialPipe(t, path), dialPipe(t, path)
	if r := ping.call("\xEF\xBB\xBF" + `{"Type":0,"Payload":{"MachineId":"ping-client","ProcessName":"X","ProcessId":1,"RegisteredAt":"2025-10-04T02:24:27.1234567Z"}}`); !strings.Contains(r, `"RegisteredAt":"2025-10-04T02:24:27.1234567Z"`) {
		t.Fatalf("register: %s", r)
	}
	if r := pong.call(`{"Type":3,"Payload":"pong-client"}`); !strings.Contains(r, `"SubscribedAt"`) {
		t.Fatalf("subscribe: %s", r)
	}
	for i := range 50 {
		r := ping.call(fmt.Sprintf(`{"Type":2,"Payload":{"SourceMachineId":"ping-client","TargetMachineId":"pong-client","EventName":"PING","Payload":{"n":%d}}}`, i))
		if !strings.Contains(r, `"Delivered":true`) {
			t.Fatalf("send %d: %s", i, r)
		}
		if ev := pong.read(); !strings.Contains(ev, fmt.Sprintf(`"Payload":{"n":%d}`, i)) {
			t.Fatalf("event %d: %s", i, ev)
		}
	}
	pong.nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Router().Count() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("pong-client not released after disconnect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := ping.call(`{"Type":2,"Payload":{"SourceMachineId":"ping-client","TargetMachineId":"pong-client","EventName":"PING"}}`); !strings.Contains(r, "Target machine not connected: pong-client") {
		t.Fatalf("after disconnect: %s", r)
	}
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
