package metrics

import "runtime"

// ProcessStats are the bus process's own resource figures, for spotting
// leaks: they must return to their baseline once clients are gone.
type ProcessStats struct {
	Goroutines    int
	OpenFiles     int    // -1 where the platform does not tell
	ResidentBytes uint64 // resident set size; the Go heap's system bytes where RSS is unknown
}

// Process reads the current process's figures.
func Process() ProcessStats {
	p := ProcessStats{Goroutines: runtime.NumGoroutine(), OpenFiles: -1}
	readProc(&p)
	if p.ResidentBytes == 0 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		p.ResidentBytes = m.Sys
	}
	return p
}
