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

// A Clock writes what AppendTime writes, whatever order the times come in.
func TestClockMatchesAppendTime(t *testing.T) {
	var c Clock
	base := time.Date(2026, 12, 7, 11, 59, 58, 0, time.UTC)
	times := []time.Time{
		base, base.Add(100), base.Add(999999999), base.Add(time.Second), base.Add(time.Second + 1234567),
		base, base.In(time.FixedZone("x", -7*3600)).Add(3 * time.Second), time.Now(), time.Now(),
		time.Date(10000, 1, 1, 0, 0, 0, 5e8, time.UTC), base, time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), base,
		time.Date(1969, 12, 31, 23, 59, 59, 5e8, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 7e8, time.UTC),
	}
	for i := range 100000 {
		times = append(times, base.Add(time.Duration(i)*123456789*time.Nanosecond/7))
	}
	for _, tm := range times {
		if got, want := string(c.AppendTime([]byte("x"), tm)), string(AppendTime([]byte("x"), tm)); got != want {
			t.Fatalf("%v: Clock wrote %s, AppendTime %s", tm, got, want)
		}
	}
}
