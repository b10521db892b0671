package metrics

import "testing"

// On Linux both figures come from /proc, never the fallbacks.
func TestProcessReadsProc(t *testing.T) {
	var p ProcessStats
	readProc(&p)
	if p.OpenFiles < 3 || p.ResidentBytes < 1<<20 {
		t.Fatalf("%+v", p)
	}
}
