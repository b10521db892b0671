package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// benchEventLine is a pushed event as the bus writes it, with the bench
// module's 100-byte payload.
const benchEventLine = `{"Success":true,"Data":{"SourceMachineId":"s-000","TargetMachineId":"r-000","EventName":"E","Payload":{"id":"000-000000000001","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"Timestamp":"2026-12-07T10:44:50.0907277Z"},"Error":null,"Kind":"Event"}` + "\n"

// feedBus is a fake bus on a socket: it answers the client's lines with
// success and, once the second (a Ping after the registration) is
// answered, writes n event lines as fast as the socket takes them. It measures the client's
// receiving path alone.
func feedBus(b *testing.B, n int) string {
	b.Helper()
	dir, err := os.MkdirTemp("", "sbr")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "bus.sock")
	ln, err := transport.Listen(path, transport.Options{})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	var nc net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		nc = c
		close(accepted)
		rd := bufio.NewReader(c)
		lines := 0
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				return
			}
			var l fakeLine
			if err := json.Unmarshal(line, &l); err != nil {
				return
			}
			if _, err := c.Write([]byte(okReply(l.Id, "null") + "\n")); err != nil {
				return
			}
			if lines++; lines == 2 {
				go feed(c, n)
			}
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		<-accepted
		if nc != nil {
			nc.Close()
		}
		<-done
	})
	return path
}

func feed(c net.Conn, n int) {
	chunk := bytes.Repeat([]byte(benchEventLine), 256)
	for n > 0 {
		k := min(n, 256)
		if _, err := c.Write(chunk[:k*len(benchEventLine)]); err != nil {
			return
		}
		n -= k
	}
}

// BenchmarkReceiveEvents reads b.N pushed events through Events, as the
// bench module's Go-client receivers do.
func BenchmarkReceiveEvents(b *testing.B) {
	path := feedBus(b, b.N)
	c, err := client.Dial(ctxT(b), path, client.WithMachines("r-000"), client.WithLogger(quiet), client.WithReconnect(false))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Events(ctx, 1<<16)
	if _, err := c.Ping(ctxT(b)); err != nil { // starts the feed
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := <-ch; !ok {
			b.Fatal("channel closed")
		}
	}
}

// BenchmarkPingPong is one event each way between two clients of an
// in-process bus, one at a time: SendAsyncAs to send, Events to receive
// (the bench module's pingpong, in small).
func BenchmarkPingPong(b *testing.B) {
	bus := startBus(b, server.Config{})
	a := dialBench(b, bus, "a")
	z := dialBench(b, bus, "z")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ach, zch := a.Events(ctx, 1<<16), z.Events(ctx, 1<<16)
	go func() {
		for ev := range zch {
			if err := z.SendAsyncAs("z", "a", "PONG", ev.Payload); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.SendAsyncAs("a", "z", "PING", benchPayload); err != nil {
			b.Fatal(err)
		}
		if _, ok := <-ach; !ok {
			b.Fatal("channel closed")
		}
	}
}

func dialBench(b *testing.B, bus *bus, id string) *client.Conn {
	b.Helper()
	c, err := client.Dial(ctxT(b), bus.path, client.WithMachines(id), client.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
