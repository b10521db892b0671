package client_test

import (
	"bufio"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// rawSink registers id on a plain socket and discards everything the bus
// writes to it, so the benchmarks measure the sending client (and the
// in-process bus), not a receiving client's decoding.
func rawSink(b *testing.B, bus *bus, id string) {
	b.Helper()
	nc, err := transport.Dial(ctxT(b), bus.path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := nc.Write([]byte(`{"Type":0,"Payload":"` + id + `","Id":1}` + "\n")); err != nil {
		b.Fatal(err)
	}
	rd := bufio.NewReader(nc)
	if _, err := rd.ReadSlice('\n'); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(io.Discard, rd)
	}()
	b.Cleanup(func() {
		nc.Close()
		<-done
	})
}

var benchPayload = json.RawMessage(`{"seq":123456,"kind":"tick","values":[1,2,3,4,5,6,7,8]}`)

// benchSendAsync pipelines b.N events to a sink and waits for every
// acknowledgement (the bench module's "client" column, in small).
func benchSendAsync(b *testing.B, payload any) {
	// A queue that a sink on a busy machine cannot fill: the benchmark
	// measures the sender, not queue_full.
	bus := startBus(b, server.Config{MaxQueueBytes: 512 << 20})
	rawSink(b, bus, "sink")
	var failed atomic.Value
	c, err := client.Dial(ctxT(b), bus.path, client.WithMachines("src"), client.WithLogger(quiet),
		client.WithAsyncErrorHandler(func(e *client.AsyncError) { failed.CompareAndSwap(nil, e) }))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.SendAsyncAs("src", "sink", "TICK", payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Flush(ctxT(b)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := c.Stats().AsyncErrors; n != 0 {
		b.Fatalf("%d async errors, the first: %v", n, failed.Load())
	}
}

func BenchmarkSendAsync(b *testing.B) { benchSendAsync(b, benchPayload) }

// BenchmarkSendAsyncMultiLine sends a pretty-printed payload, which the
// client has to compact to one line.
func BenchmarkSendAsyncMultiLine(b *testing.B) {
	pretty, err := json.MarshalIndent(json.RawMessage(benchPayload), "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	benchSendAsync(b, json.RawMessage(pretty))
}

// BenchmarkSend is one acknowledged round trip per event.
func BenchmarkSend(b *testing.B) {
	bus := startBus(b, server.Config{})
	rawSink(b, bus, "sink")
	c, err := client.Dial(ctxT(b), bus.path, client.WithMachines("src"), client.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.SendAs(ctx, "src", "sink", "TICK", benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}
