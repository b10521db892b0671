// Package soak holds a steady mixed load on a bus for a long time and
// samples the bus's memory, goroutines, files, queues and latency, so an
// operator can see that they stay flat. "statebus bench soak" runs it.
package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/client"
)

// Options configure a soak run.
type Options struct {
	Addr     string        // bus socket path or pipe name
	Duration time.Duration // total length
	Interval time.Duration // between samples (default 5s)
	Pairs    int           // sender/receiver pairs (default 4)
	Rate     int           // events per second per sender (default 2000)
	Progress io.Writer     // one line per sample; nil for none
}

// Sample is one row of the soak's record.
type Sample struct {
	Elapsed       time.Duration
	ResidentBytes uint64
	Goroutines    int
	OpenFiles     int
	QueuedBytes   int
	Connections   int
	EventsPerSec  float64
	RequestP50    time.Duration
	RequestP99    time.Duration
	Errors        uint64 // failed sends and requests in the interval
}

// Run holds the load and returns the samples.
func Run(ctx context.Context, o Options) ([]Sample, error) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Pairs <= 0 {
		o.Pairs = 4
	}
	if o.Rate <= 0 {
		o.Rate = 2000
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	probe, err := client.Dial(ctx, o.Addr, client.WithReconnect(false))
	if err != nil {
		return nil, err
	}
	defer probe.Close()

	var lat latencies
	var errs atomic.Uint64
	var wg sync.WaitGroup
	for i := range o.Pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runPair(ctx, o, i, &lat, &errs); err != nil && ctx.Err() == nil {
				errs.Add(1)
			}
		}()
	}
	var samples []Sample
	start := time.Now()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	lastRouted, lastAt := uint64(0), start
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return samples, nil
		case <-tick.C:
		}
		mctx, mcancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := probe.Metrics(mctx)
		mcancel()
		if err != nil {
			cancel()
			wg.Wait()
			return samples, fmt.Errorf("soak: reading metrics: %w", err)
		}
		now := time.Now()
		p50, p99 := lat.take()
		s := Sample{
			Elapsed: now.Sub(start), ResidentBytes: m.ResidentBytes, Goroutines: m.Goroutines,
			OpenFiles: m.OpenFiles, QueuedBytes: m.QueuedBytes, Connections: m.ConnectionCount,
			EventsPerSec: float64(m.EventsRouted-lastRouted) / now.Sub(lastAt).Seconds(),
			RequestP50:   p50, RequestP99: p99, Errors: errs.Swap(0),
		}
		if lastRouted == 0 {
			s.EventsPerSec = 0 // the first interval includes warm-up
		}
		lastRouted, lastAt = m.EventsRouted, now
		samples = append(samples, s)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "%6s  rss %6.1f MiB  goroutines %4d  files %4d  queued %7d B  %8.0f ev/s  req p99 %7s  errors %d\n",
				s.Elapsed.Round(time.Second), float64(s.ResidentBytes)/(1<<20), s.Goroutines, s.OpenFiles,
				s.QueuedBytes, s.EventsPerSec, s.RequestP99.Round(time.Microsecond), s.Errors)
		}
	}
}

// runPair streams events from a sender to a receiver at the given rate,
// with a request every 10 events and a publish every second.
func runPair(ctx context.Context, o Options, i int, lat *latencies, errs *atomic.Uint64) error {
	recvID, sendID := fmt.Sprintf("soak-recv-%d", i), fmt.Sprintf("soak-send-%d", i)
	recv, err := client.Dial(ctx, o.Addr, client.WithMachines(recvID))
	if err != nil {
		return err
	}
	defer recv.Close()
	recv.OnEvent("*", func(client.Event) {})
	recv.OnRequest("*", func(_ context.Context, ev client.Event) (any, error) { return json.RawMessage(ev.Payload), nil })
	send, err := client.Dial(ctx, o.Addr, client.WithMachines(sendID), client.WithAsyncErrorHandler(func(*client.AsyncError) { errs.Add(1) }))
	if err != nil {
		return err
	}
	defer send.Close()
	payload := json.RawMessage(`{"seq":0,"data":"0123456789012345678901234567890123456789012345678901234567890123456789012345"}`)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	perTick := max(1, o.Rate/100)
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for range perTick {
			n++
			if n%10 == 0 {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				t0 := time.Now()
				_, err := send.Request(rctx, recvID, "SOAK_REQ", payload)
				cancel()
				if err == nil {
					lat.add(time.Since(t0))
				} else if ctx.Err() == nil {
					errs.Add(1)
				}
				continue
			}
			if err := send.SendAsync(recvID, "SOAK", payload); err != nil && ctx.Err() == nil {
				errs.Add(1)
			}
		}
		if n%o.Rate < perTick {
			send.Publish(ctx, "SOAK_NEWS", nil)
		}
	}
}

// latencies collects round-trip times between samples.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// take returns the p50 and p99 of what was collected and resets.
func (l *latencies) take() (p50, p99 time.Duration) {
	l.mu.Lock()
	d := l.d
	l.d = nil
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return at(0.50), at(0.99)
}
