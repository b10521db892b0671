package top

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/statebus/statebus/client"
)

// Source takes samples of one bus. It dials on the first Sample and
// again after the connection broke, so a view outlives a bus restart.
// Not safe for concurrent use.
type Source struct {
	// Dial connects to the bus (without reconnection: Source redials).
	Dial func(ctx context.Context) (*client.Conn, error)
	// Timeout bounds each Sample's calls; 0 means 5 seconds.
	Timeout time.Duration
	// NoMonitor leaves per-machine counting off (the view says so).
	NoMonitor bool

	conn *client.Conn
	mon  *watcher
}

// Sample asks the bus for its health, metrics and machines, and the
// monitor's tally for the per-machine counts. On an error the connection
// is closed and the next Sample dials again.
func (s *Source) Sample(ctx context.Context) (Sample, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if s.conn == nil {
		c, err := s.Dial(ctx)
		if err != nil {
			return Sample{}, err
		}
		s.conn = c
	}
	if s.mon == nil && !s.NoMonitor {
		s.mon = startWatcher(s.Dial)
	}
	smp, err := s.query(ctx)
	if err != nil {
		s.Close()
		return Sample{}, err
	}
	smp.Monitor = MonitorStatus{Reason: "per-machine rates off (--no-monitor)"}
	if s.mon != nil {
		ids := make(map[string]bool, len(smp.Machines))
		for _, m := range smp.Machines {
			ids[m.ID] = true
		}
		s.mon.tally.Keep(func(id string) bool { return ids[id] })
		smp.Traffic, smp.Dropped = s.mon.tally.Snapshot()
		smp.Monitor = s.mon.status()
	}
	smp.At = time.Now()
	return smp, nil
}

func (s *Source) query(ctx context.Context) (Sample, error) {
	var smp Sample
	var err error
	if smp.Health, err = s.conn.Health(ctx); err != nil {
		return smp, err
	}
	if smp.Metrics, err = s.conn.Metrics(ctx); err != nil {
		return smp, err
	}
	smp.Machines, err = s.conn.ListMachines(ctx)
	return smp, err
}

// Close closes the connections; a later Sample dials again.
func (s *Source) Close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if s.mon != nil {
		s.mon.stop()
		s.mon = nil
	}
}

// watcher runs the monitor subscription on a connection of its own, so
// that a flood of traces never delays the queries' replies.
type watcher struct {
	tally  *Tally
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once the subscription was answered

	mu sync.Mutex
	st MonitorStatus
}

func startWatcher(dial func(context.Context) (*client.Conn, error)) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{tally: NewTally(), cancel: cancel, done: make(chan struct{}), ready: make(chan struct{}), st: MonitorStatus{Reason: "per-machine rates: waiting for the monitor"}}
	go func() {
		defer close(w.done)
		w.run(ctx, dial)
	}()
	return w
}

func (w *watcher) status() MonitorStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

func (w *watcher) setStatus(st MonitorStatus) {
	w.mu.Lock()
	w.st = st
	w.mu.Unlock()
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// MonitorKinds are the trace kinds top asks for: the ones it counts,
// and the bus's dropped counts, which come whatever the filter.
var MonitorKinds = []string{client.TraceEvent, client.TracePublish, client.TraceRequest, client.TraceReply,
	client.TraceFailure, client.TraceState, client.TraceDropped}

// retryEvery is how long the watcher waits before it dials or
// subscribes again after a failure other than a refusal.
const retryEvery = time.Second

// run subscribes and counts until ctx ends. A refusal (unauthorized, or
// a bus without Monitor) is final; a broken connection is retried.
func (w *watcher) run(ctx context.Context, dial func(context.Context) (*client.Conn, error)) {
	var once sync.Once
	ready := func() { once.Do(func() { close(w.ready) }) }
	defer ready()
	for ctx.Err() == nil {
		final := w.watch(ctx, dial, ready)
		if final {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryEvery):
		}
	}
}

// watch runs one subscription on a connection of its own and reports
// whether the bus refused it for good.
func (w *watcher) watch(ctx context.Context, dial func(context.Context) (*client.Conn, error), ready func()) (final bool) {
	c, err := dial(ctx)
	if err != nil {
		w.setStatus(MonitorStatus{Reason: "per-machine rates unavailable: " + err.Error()})
		return false
	}
	defer c.Close()
	m, err := c.Monitor(ctx, client.MonitorFilter{Kinds: MonitorKinds, NoPayload: true})
	if err != nil {
		var be *client.Error
		switch {
		case errors.As(err, &be) && be.Code == "unauthorized":
			w.setStatus(MonitorStatus{Reason: "per-machine rates need monitor access (" + be.Text + ")"})
			ready()
			return true
		case errors.As(err, &be):
			w.setStatus(MonitorStatus{Reason: "per-machine rates unavailable: the bus refused Monitor (" + be.Code + ": " + be.Text + ")"})
			ready()
			return true
		}
		w.setStatus(MonitorStatus{Reason: "per-machine rates unavailable: " + err.Error()})
		return false
	}
	defer m.Close()
	w.setStatus(MonitorStatus{OK: true})
	ready()
	for {
		select {
		case <-ctx.Done():
			return true
		case t, ok := <-m.Traces():
			if !ok {
				w.setStatus(MonitorStatus{Reason: "per-machine rates paused: the monitor ended: " + errString(m.Err())})
				return false
			}
			w.tally.Trace(&t)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// WaitMonitor waits until the monitor subscription has been answered
// (accepted or refused) or ctx ends; a no-op before the first Sample or
// with NoMonitor. "--once" waits so that its interval counts from a
// running subscription.
func (s *Source) WaitMonitor(ctx context.Context) {
	if s.mon == nil {
		return
	}
	select {
	case <-s.mon.ready:
	case <-ctx.Done():
	}
}
