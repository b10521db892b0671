package metrics

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of Histogram's buckets.
var LatencyBuckets = []time.Duration{
	time.Microsecond, 2500 * time.Nanosecond, 5 * time.Microsecond, 10 * time.Microsecond,
	25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 100 * time.Millisecond, time.Second,
}

// Histogram counts durations into LatencyBuckets without locks or
// allocation. The zero value is ready to use.
type Histogram struct {
	counts [17]atomic.Uint64 // one per bucket, then +Inf
	sum    atomic.Int64      // nanoseconds
}

// Observe records d.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// HistogramSnapshot is a histogram's state: cumulative counts per bucket
// bound (as Prometheus wants them), the total count and sum.
type HistogramSnapshot struct {
	Cumulative []uint64 // per LatencyBuckets entry
	Count      uint64
	Sum        time.Duration
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Cumulative: make([]uint64, len(LatencyBuckets))}
	var run uint64
	for i := range h.counts {
		run += h.counts[i].Load()
		if i < len(LatencyBuckets) {
			s.Cumulative[i] = run
		}
	}
	s.Count = run
	s.Sum = time.Duration(h.sum.Load())
	return s
}
