package protocol

import (
	"encoding/json"
	"time"
)

// AppendTime appends t in UTC as .NET writes a DateTime of kind Utc with the
// round-trip ("O") format trimmed as System.Text.Json does: seconds, then up
// to seven fraction digits with trailing zeros removed (none when zero),
// then "Z". Example: 2025-10-04T02:24:27.1234567Z.
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	dst = appendSeconds(dst, t)
	return appendFraction(dst, t.Nanosecond())
}

// appendSeconds appends the UTC time t up to its seconds.
func appendSeconds(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05")
	}
	// By hand: AppendFormat parses its layout on every call, which
	// shows in the profile of a bus that stamps every event.
	return append(dst, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
}

// appendFraction appends the fraction of a second nsec (at most seven
// digits, trailing zeros removed, none when zero) and the "Z".
func appendFraction(dst []byte, nsec int) []byte {
	ticks := nsec / 100
	if ticks != 0 {
		var frac [8]byte
		frac[0] = '.'
		for i := 7; i >= 1; i-- {
			frac[i] = byte('0' + ticks%10)
			ticks /= 10
		}
		n := 8
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// Clock appends times exactly as AppendTime does, keeping the text of the
// last second it wrote: a time in that same second costs only its
// fraction, as for a stream of events stamped as they are sent. The zero
// Clock is ready to use; it is not safe for concurrent use.
type Clock struct {
	sec  int64 // the Unix second whose text head holds, when n > 0
	n    int
	head [19]byte
}

// AppendTime appends t as the function AppendTime does.
func (c *Clock) AppendTime(dst []byte, t time.Time) []byte {
	if sec := t.Unix(); c.n == 0 || sec != c.sec {
		u := t.UTC()
		if y := u.Year(); y < 0 || y > 9999 {
			return AppendTime(dst, t)
		}
		c.sec, c.n = sec, len(appendSeconds(c.head[:0], u))
	}
	dst = append(dst, c.head[:c.n]...)
	return appendFraction(dst, t.Nanosecond())
}

// Time is a time.Time that marshals to JSON in the .NET form of AppendTime.
type Time time.Time

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte(`"0001-01-01T00:00:00"`), nil
	}
	b := append(make([]byte, 0, 32), '"')
	b = AppendTime(b, time.Time(t))
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler; it accepts RFC 3339 with up to
// nine fraction digits and the zone-less form .NET writes for unspecified
// times (read as UTC). JSON null leaves t unchanged.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // a no-op, by the json.Unmarshaler convention
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseTime(s)
	*t = Time(v)
	return err
}

// ParseTime reads a timestamp as Time.UnmarshalJSON does, from the string
// itself (no quotes): RFC 3339 with up to nine fraction digits, or the
// zone-less form .NET writes for unspecified times (read as UTC).
func ParseTime(s string) (time.Time, error) {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return v, nil
	}
	if v, err2 := time.Parse("2006-01-02T15:04:05.999999999", s); err2 == nil {
		return v, nil
	}
	return v, err
}
