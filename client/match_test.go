package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/transport"
)

// opCtx is shorter than ctxT: a call the client pairs with the wrong
// reply hangs until it ends.
func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeLine is what a fake bus reads of a request line.
type fakeLine struct {
	Type    any
	Id      json.RawMessage
	Payload struct{ EventName string }
}

// fakeBus is a scripted bus on a socket: for every request line of its
// one connection it writes what answer returns, so a test can send the
// replies a real bus sends only when something else went wrong.
func fakeBus(t *testing.T, answer func(l fakeLine) []string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "bus.sock")
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, nc)
		mu.Unlock()
		rd := bufio.NewReader(nc)
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				return
			}
			var l fakeLine
			if err := json.Unmarshal(line, &l); err != nil {
				t.Errorf("the client wrote %q: %v", line, err)
				return
			}
			for _, out := range answer(l) {
				if _, err := nc.Write([]byte(out + "\n")); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return path
}

func okReply(id json.RawMessage, data string) string {
	return fmt.Sprintf(`{"Success":true,"Data":%s,"Error":null,"Kind":"Reply","Id":%s}`, data, id)
}

func errReply(id json.RawMessage, code, text string) string {
	return fmt.Sprintf(`{"Success":false,"Data":null,"Error":%q,"Kind":"Reply","Code":%q,"Id":%s}`, text, code, id)
}

// What a bus answers to a line it cannot read: no Id.
const invalidJSONReply = `{"Success":false,"Data":null,"Error":"Invalid JSON format","Kind":"Reply","Code":"invalid_json"}`

// A reply completes only the call whose Id it echoes: one without an Id,
// or with an Id nothing waits for, completes nothing, and calls whose
// replies came without their Id fail rather than take a later reply.
func TestRepliesAreMatchedByID(t *testing.T) {
	var mu sync.Mutex
	var heldRequest json.RawMessage
	path := fakeBus(t, func(l fakeLine) []string {
		mu.Lock()
		defer mu.Unlock()
		switch l.Payload.EventName {
		case "STRAY_OK": // a stray success first, then the real failure
			return []string{
				`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"t"},"Error":null,"Kind":"Reply"}`,
				errReply(l.Id, "target_not_connected", "Target machine not connected: t"),
			}
		case "LOST": // answered without its Id
			return []string{invalidJSONReply}
		case "LATE": // a Request, answered after the next line's reply
			heldRequest = l.Id
			return nil
		case "":
		default:
			return []string{errReply(l.Id, "target_not_connected", "Target machine not connected: t")}
		}
		// Ping: stray lines first, then its reply, then any held
		// Request's reply.
		out := []string{invalidJSONReply, okReply(json.RawMessage("999"), "null"),
			okReply(l.Id, `{"Pong":true,"ServerTime":"2025-10-04T02:24:27Z"}`)}
		if heldRequest != nil {
			out = append(out, okReply(heldRequest, `{"RequestId":1,"SourceMachineId":"t","Payload":{"v":1}}`))
			heldRequest = nil
		}
		return out
	})
	var amu sync.Mutex
	var async []*client.AsyncError
	c, err := client.Dial(ctxT(t), path, client.WithLogger(quiet), client.WithReconnect(false),
		client.WithAsyncErrorHandler(func(e *client.AsyncError) {
			amu.Lock()
			async = append(async, e)
			amu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if _, err := c.Ping(opCtx(t)); err != nil {
		t.Fatalf("Ping after a stray invalid_json reply: %v", err)
	}
	if err := c.SendAs(opCtx(t), "s", "t", "STRAY_OK", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("SendAs after a stray success reply: %v", err)
	}
	// LOST is answered without its Id: when the next reply comes, LOST
	// fails on its own and NEXT gets its own reply.
	if err := c.SendAsyncAs("s", "t1", "LOST", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SendAsyncAs("s", "t2", "NEXT", nil); err != nil {
		t.Fatal(err)
	}
	// A Request's reply may come after later lines' replies.
	answered := make(chan string, 1)
	if err := c.RequestAsync("s", "t", "LATE", nil, 0, func(out json.RawMessage, err error) {
		answered <- fmt.Sprint(string(out), err)
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(opCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	select {
	case got := <-answered:
		if got != `{"v":1}<nil>` {
			t.Fatalf("Request answered %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Request not answered")
	}
	amu.Lock()
	defer amu.Unlock()
	if len(async) != 2 || async[0].Event != "LOST" || !errors.Is(async[0], client.ErrRejected) ||
		async[1].Event != "NEXT" || !errors.Is(async[1], client.ErrNotConnected) {
		t.Fatalf("async errors %v", async)
	}
}
