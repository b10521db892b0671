package metrics

import (
	"math"
	"sync"
	"testing"
	"time"
)

// bucketOf returns the index of the bucket Observe(d) counts d in, read
// off a fresh histogram's snapshot: the first cumulative count that is 1,
// len(LatencyBuckets) for +Inf.
func bucketOf(d time.Duration) int {
	var h Histogram
	h.Observe(d)
	s := h.Snapshot()
	for i, c := range s.Cumulative {
		if c == 1 {
			return i
		}
	}
	return len(LatencyBuckets)
}

// Buckets are Prometheus "le" buckets: a duration equal to a bound is
// counted in that bound's bucket, one nanosecond more in the next.
func TestHistogramBucketBounds(t *testing.T) {
	for i, b := range LatencyBuckets {
		if got := bucketOf(b); got != i {
			t.Errorf("Observe(%v) in bucket %d, want %d", b, got, i)
		}
		if got := bucketOf(b + 1); got != i+1 {
			t.Errorf("Observe(%v) in bucket %d, want %d", b+1, got, i+1)
		}
		if i > 0 && LatencyBuckets[i-1] >= b {
			t.Errorf("bounds not increasing at %d", i)
		}
	}
	for _, d := range []time.Duration{0, -time.Second, 1} {
		if got := bucketOf(d); got != 0 {
			t.Errorf("Observe(%v) in bucket %d, want 0", d, got)
		}
	}
	if got := bucketOf(time.Hour); got != len(LatencyBuckets) {
		t.Errorf("Observe(1h) in bucket %d, want +Inf", got)
	}
}

func TestHistogramSnapshot(t *testing.T) {
	var h Histogram
	if s := h.Snapshot(); s.Count != 0 || s.Sum != 0 || len(s.Cumulative) != len(LatencyBuckets) {
		t.Fatalf("zero value: %+v", s)
	}
	in := []time.Duration{500 * time.Nanosecond, time.Microsecond, 3 * time.Microsecond, 3 * time.Microsecond, 20 * time.Millisecond, 2 * time.Second}
	var sum time.Duration
	for _, d := range in {
		h.Observe(d)
		sum += d
	}
	s := h.Snapshot()
	if s.Count != uint64(len(in)) || s.Sum != sum {
		t.Fatalf("count %d sum %v, want %d %v", s.Count, s.Sum, len(in), sum)
	}
	// Cumulative: everything at or below each bound; the 2s one only in
	// Count (+Inf).
	want := map[time.Duration]uint64{time.Microsecond: 2, 2500 * time.Nanosecond: 2, 5 * time.Microsecond: 4,
		10 * time.Millisecond: 4, 25 * time.Millisecond: 5, time.Second: 5}
	for i, b := range LatencyBuckets {
		if w, ok := want[b]; ok && s.Cumulative[i] != w {
			t.Errorf("le %v: %d, want %d", b, s.Cumulative[i], w)
		}
	}
	// A snapshot is a copy: later observations do not change it.
	h.Observe(time.Microsecond)
	if s.Cumulative[0] != 2 || s.Count != uint64(len(in)) {
		t.Fatalf("snapshot changed: %+v", s)
	}
}

// quantileBound is the upper bound of the bucket holding the q-quantile
// of a snapshot, as Prometheus's histogram_quantile would locate it (the
// first bucket whose cumulative count reaches q*Count); +Inf past the
// last bound.
func quantileBound(s HistogramSnapshot, q float64) time.Duration {
	rank := q * float64(s.Count)
	for i, c := range s.Cumulative {
		if float64(c) >= rank {
			return LatencyBuckets[i]
		}
	}
	return math.MaxInt64
}

// The snapshot answers quantile questions to a bucket's precision.
func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for range 900 {
		h.Observe(3 * time.Microsecond) // le 5µs
	}
	for range 90 {
		h.Observe(40 * time.Microsecond) // le 50µs
	}
	for range 9 {
		h.Observe(3 * time.Millisecond) // le 5ms
	}
	h.Observe(5 * time.Second) // +Inf
	s := h.Snapshot()
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5 * time.Microsecond}, {0.9, 5 * time.Microsecond}, {0.95, 50 * time.Microsecond},
		{0.99, 50 * time.Microsecond}, {0.995, 5 * time.Millisecond}, {0.999, 5 * time.Millisecond}, {1, math.MaxInt64},
	} {
		if got := quantileBound(s, tt.q); got != tt.want {
			t.Errorf("q%v in bucket le %v, want %v", tt.q, got, tt.want)
		}
	}
}

// Observe and Snapshot may run concurrently (run with -race): every
// snapshot is internally consistent and no later one goes backwards, and
// nothing is lost.
func TestHistogramConcurrent(t *testing.T) {
	const writers, each = 8, 5000
	var h Histogram
	var wg sync.WaitGroup
	done := make(chan struct{})
	readerErr := make(chan string, 1)
	go func() {
		defer close(readerErr)
		var prev HistogramSnapshot
		for {
			s := h.Snapshot()
			for i := range s.Cumulative {
				if i > 0 && s.Cumulative[i] < s.Cumulative[i-1] {
					readerErr <- "cumulative counts decrease"
					return
				}
				if prev.Cumulative != nil && s.Cumulative[i] < prev.Cumulative[i] {
					readerErr <- "a bucket went backwards"
					return
				}
			}
			if s.Count < s.Cumulative[len(s.Cumulative)-1] || s.Count < prev.Count {
				readerErr <- "count below the buckets or going backwards"
				return
			}
			prev = s
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h.Observe(time.Duration(w*each+i) * 100 * time.Nanosecond)
			}
		}()
	}
	wg.Wait()
	close(done)
	if msg, bad := <-readerErr; bad {
		t.Fatal(msg)
	}
	s := h.Snapshot()
	n := writers * each
	if s.Count != uint64(n) {
		t.Fatalf("count %d, want %d", s.Count, n)
	}
	// Sum of 0..n-1 times 100ns.
	if want := time.Duration(n*(n-1)/2) * 100; s.Sum != want {
		t.Fatalf("sum %v, want %v", s.Sum, want)
	}
	// 0..1µs: the 11 multiples of 100ns from 0 to 1000ns.
	if s.Cumulative[0] != 11 {
		t.Fatalf("le 1µs: %d", s.Cumulative[0])
	}
}
