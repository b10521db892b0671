package protocol

import (
	"strings"
	"testing"
	"time"
)

// AppendTime's hand-made date and time agree with the standard layout.
func TestAppendTimeMatchesLayout(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2025, 10, 4, 2, 24, 27, 123456700, time.UTC),
		time.Date(2026, 2, 28, 9, 5, 3, 100, time.FixedZone("x", 5*3600+1800)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		got := string(AppendTime(nil, tm))
		want := tm.UTC().Format("2006-01-02T15:04:05")
		if !strings.HasPrefix(got, want) {
			t.Errorf("%v: %s, want prefix %s", tm, got, want)
		}
	}
	for i := range 100000 {
		tm := time.Unix(int64(i)*987654321%253402300799, int64(i*7919)%1e9)
		if got, want := string(AppendTime(nil, tm))[:19], tm.UTC().Format("2006-01-02T15:04:05"); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}
