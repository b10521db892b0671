package main

import (
	"math"
	"slices"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 when it is empty.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencySummary is the distribution of round trips, in nanoseconds.
type latencySummary struct {
	N    int     `json:"n"`
	Min  int64   `json:"min_ns"`
	P50  int64   `json:"p50_ns"`
	P99  int64   `json:"p99_ns"`
	P999 int64   `json:"p999_ns"`
	Max  int64   `json:"max_ns"`
	Mean float64 `json:"mean_ns"`
}

// summarize sorts lat in place and summarizes it.
func summarize(lat []int64) latencySummary {
	if len(lat) == 0 {
		return latencySummary{}
	}
	slices.Sort(lat)
	var sum float64
	for _, v := range lat {
		sum += float64(v)
	}
	return latencySummary{
		N: len(lat), Min: lat[0], Max: lat[len(lat)-1], Mean: sum / float64(len(lat)),
		P50: percentile(lat, 50), P99: percentile(lat, 99), P999: percentile(lat, 99.9),
	}
}

// median returns the median of vs (the mean of the middle two for an even
// count), ignoring NaNs; NaN when none is left.
func median(vs []float64) float64 {
	var s []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread is (max-min)/median of vs, ignoring NaNs: how much runs disagree.
func spread(vs []float64) float64 {
	m := median(vs)
	if math.IsNaN(m) || m == 0 {
		return math.NaN()
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return (hi - lo) / m
}
