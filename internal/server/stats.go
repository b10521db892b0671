package server

import (
	"sync/atomic"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/protocol"
)

const numCodes = 32

// stats are one connection's counters. The reader goroutine updates most
// of them; snapshots read them atomically.
type stats struct {
	linesIn, bytesIn, bytesOut atomic.Uint64
	routed, published          atomic.Uint64
	requests, replies          atomic.Uint64
	dropped                    atomic.Uint64 // queued lines never written (peer gone)
	failures                   [numCodes]atomic.Uint64
}

func (s *stats) fail(code protocol.Code) {
	if int(code) < numCodes {
		s.failures[code].Add(1)
	}
}

// add folds o into s.
func (s *stats) add(o *stats) {
	s.linesIn.Add(o.linesIn.Load())
	s.bytesIn.Add(o.bytesIn.Load())
	s.bytesOut.Add(o.bytesOut.Load())
	s.routed.Add(o.routed.Load())
	s.published.Add(o.published.Load())
	s.requests.Add(o.requests.Load())
	s.replies.Add(o.replies.Load())
	s.dropped.Add(o.dropped.Load())
	for i := range s.failures {
		s.failures[i].Add(o.failures[i].Load())
	}
}

// into adds s to the metrics counters m.
func (s *stats) into(m *metrics.Counters) {
	m.LinesIn += s.linesIn.Load()
	m.BytesIn += s.bytesIn.Load()
	m.BytesOut += s.bytesOut.Load()
	m.EventsRouted += s.routed.Load()
	m.EventsPublished += s.published.Load()
	m.Requests += s.requests.Load()
	m.Replies += s.replies.Load()
	m.LinesDropped += s.dropped.Load()
	for i := range s.failures {
		if n := s.failures[i].Load(); n > 0 {
			if m.Failures == nil {
				m.Failures = make(map[string]uint64)
			}
			m.Failures[protocol.Code(i).String()] += n
		}
	}
}
