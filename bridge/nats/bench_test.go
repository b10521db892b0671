package nats

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statebus/statebus/client"
)

// benchPair returns a sender and the address of a target machine "target"
// on the same host (local) or on another host (remote).
func benchHosts(b *testing.B) (*host, *host) {
	n := startNATS(b)
	a, h := startHost(b, n, "alpha"), startHost(b, n, "beta")
	meshed(b, a, h)
	return a, h
}

// BenchmarkSend is one acknowledged SendEvent (a round trip: the sender
// waits for the Delivered ack, which across hosts waits for the remote
// bus's verdict).
func BenchmarkSend(b *testing.B) {
	a, other := benchHosts(b)
	for _, where := range []struct {
		name string
		h    *host
	}{{"local", a}, {"remote", other}} {
		b.Run(where.name, func(b *testing.B) {
			id := "target-" + where.name
			tc := where.h.dial(id)
			drain(tc)
			sc := a.dial("sender-" + where.name)
			ctx := context.Background()
			if err := sc.Send(ctx, id, "E", 1); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := sc.Send(ctx, id, "E", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRequest is one Request/Reply round trip.
func BenchmarkRequest(b *testing.B) {
	a, other := benchHosts(b)
	for _, where := range []struct {
		name string
		h    *host
	}{{"local", a}, {"remote", other}} {
		b.Run(where.name, func(b *testing.B) {
			id := "answer-" + where.name
			tc := where.h.dial(id)
			tc.OnRequest("*", func(context.Context, client.Event) (any, error) { return 1, nil })
			sc := a.dial("asker-" + where.name)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, err := sc.Request(ctx, id, "Q", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkThroughput is SendEvent throughput with 8 concurrent sending
// connections, each pipelining (SendAsync), to one target machine; it
// reports events delivered per second and the share refused with
// queue_full.
func BenchmarkThroughput(b *testing.B) {
	a, other := benchHosts(b)
	for _, where := range []struct {
		name string
		h    *host
	}{{"local", a}, {"remote", other}} {
		b.Run(where.name, func(b *testing.B) {
			// Run more than once with growing b.N: fresh ids each time.
			run := runs.Add(1)
			id := fmt.Sprintf("sink-%s-%d", where.name, run)
			tc := where.h.dial(id)
			defer tc.Close()
			var got atomic.Int64
			tc.OnEvent("*", func(client.Event) { got.Add(1) })
			senders := make([]*client.Conn, 8)
			for i := range senders {
				senders[i] = a.dial(fmt.Sprintf("src-%s-%d-%d", where.name, run, i))
				defer senders[i].Close()
			}
			b.ResetTimer()
			start := time.Now()
			per := b.N/len(senders) + 1
			done := make(chan error, len(senders))
			for _, c := range senders {
				go func() {
					for range per {
						if err := c.SendAsync(id, "E", 1); err != nil {
							done <- err
							return
						}
					}
					done <- c.Flush(context.Background())
				}()
			}
			for range senders {
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			// Every event is delivered or refused (queue_full: the sink
			// reads slower than 8 pipelining senders can write).
			want := int64(per * len(senders))
			refused := func() int64 {
				var n uint64
				for _, c := range senders {
					n += c.Stats().AsyncErrors
				}
				return int64(n)
			}
			deadline := time.Now().Add(60 * time.Second)
			for got.Load()+refused() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(got.Load())/secs, "delivered/s")
			b.ReportMetric(float64(refused())/float64(want)*100, "%refused")
		})
	}
}

var runs atomic.Int64

func drain(c *client.Conn) { c.OnEvent("*", func(client.Event) {}) }
