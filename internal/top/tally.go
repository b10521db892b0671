package top

import (
	"maps"
	"sync"
	"time"

	"github.com/statebus/statebus/client"
)

// Tally counts a monitor stream's traces per machine. Its methods may be
// called concurrently: the monitor's goroutine records while the view's
// loop takes snapshots.
type Tally struct {
	mu      sync.Mutex
	traffic map[string]Traffic
	dropped uint64
}

// NewTally returns an empty tally.
func NewTally() *Tally { return &Tally{traffic: make(map[string]Traffic)} }

// Record counts one trace of kind (event, publish, request, reply,
// failure, state) with its outcome, source and target machine ids and
// event name, at the bus's time at:
//   - delivered: one out for the source, one in for the target (a
//     publish names no target: its recipients are not counted);
//   - an error code: one failure for the source;
//   - an event name: the last event of the source and the target.
//
// State traces and traces without a source or target count nothing for
// the missing side.
func (t *Tally) Record(kind, outcome, source, target, event string, at time.Time) {
	switch kind {
	case client.TraceEvent, client.TracePublish, client.TraceRequest, client.TraceReply, client.TraceFailure:
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch outcome {
	case client.OutcomeDelivered, client.OutcomeOK:
		if kind == client.TraceFailure {
			return
		}
		t.bump(source, func(x *Traffic) { x.Out++ })
		t.bump(target, func(x *Traffic) { x.In++ })
	default:
		t.bump(source, func(x *Traffic) { x.Failures++ })
	}
	if event != "" {
		last := func(x *Traffic) {
			if !at.Before(x.LastAt) {
				x.LastEvent, x.LastAt = event, at
			}
		}
		t.bump(source, last)
		t.bump(target, last)
	}
}

// bump applies f to id's traffic; needs t.mu held.
func (t *Tally) bump(id string, f func(*Traffic)) {
	if id == "" {
		return
	}
	x := t.traffic[id]
	f(&x)
	t.traffic[id] = x
}

// Trace counts one trace of a monitor stream: a dropped trace (the bus's
// or the client's) adds its Count to the dropped traces, any other goes
// to Record.
func (t *Tally) Trace(tr *client.Trace) {
	if tr.Type == client.TraceDropped {
		t.AddDropped(tr.Count)
		return
	}
	t.Record(tr.Type, tr.Outcome, tr.Source, tr.Target, tr.Event, tr.Time)
}

// AddDropped counts traces the bus dropped for this monitor.
func (t *Tally) AddDropped(n uint64) {
	t.mu.Lock()
	t.dropped += n
	t.mu.Unlock()
}

// Snapshot returns a copy of the totals and the dropped count.
func (t *Tally) Snapshot() (map[string]Traffic, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.traffic), t.dropped
}

// Keep forgets the machines for which keep is false (ids no longer on
// the bus, or never were: a send to a wrong id), so that the tally stays
// as small as the bus.
func (t *Tally) Keep(keep func(id string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	maps.DeleteFunc(t.traffic, func(id string, _ Traffic) bool { return !keep(id) })
}
