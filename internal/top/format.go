package top

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Text is a view laid out as lines of plain text: the header, the
// table's heading and its rows. The screen draws it with styles; --once
// prints it as it is.
type Text struct {
	Header  []string
	Heading string
	Rows    []string
	Hidden  int // rows the filter left out
}

// Most runes a column of free text takes before it is cut with "…".
const (
	maxID      = 32
	maxProcess = 20
	maxState   = 24
	maxEvent   = 20
)

// Layout formats v in order o. Rates are "-" when v has none yet or
// per-machine counting is off.
func Layout(v View, o Order) Text {
	var t Text
	t.Header = header(v)
	rows := o.Apply(v.Rows)
	t.Hidden = len(v.Rows) - len(rows)
	hasHost := false
	for _, r := range rows {
		hasHost = hasHost || r.Host != ""
	}
	cols := []column{
		{name: "MACHINE", max: maxID},
		{name: "HOST", max: maxID, skip: !hasHost},
		{name: "PID", right: true},
		{name: "PROCESS", max: maxProcess},
		{name: "STATE", max: maxState},
		{name: "IN/s", right: true},
		{name: "OUT/s", right: true},
		{name: "FAILS", right: true},
		{name: "QUEUE", right: true},
		{name: "LAST EVENT", max: maxEvent},
		{name: "AGO", right: true},
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{r.ID, orDash(r.Host), pidText(r.PID), orDash(r.Process), orDash(r.State),
			rateText(r.HaveRates, r.InPerSec), rateText(r.HaveRates, r.OutPerSec),
			failText(v.Monitor.OK, r.Failures), queueText(r.Queued), orDash(r.LastEvent), Ago(v.At, r.LastAt)}
	}
	t.Heading, t.Rows = table(cols, cells)
	return t
}

// header is the bus's part of the screen.
func header(v View) []string {
	status := "healthy"
	if !v.Healthy {
		status = "UNHEALTHY"
		if v.Problem != "" {
			status += ": " + v.Problem
		}
	}
	version := v.Version
	if version == "" {
		version = "version unknown"
	}
	lines := []string{
		fmt.Sprintf("statebus top - %s - %s - up %s - %s", v.At.Format("15:04:05"), version, Duration(v.Uptime), status),
		fmt.Sprintf("connections %d (peak %d)  machines %d  pending requests %d  queued %s",
			v.Connections, v.PeakConns, v.Machines, v.PendingReqs, Bytes(v.QueuedBytes)),
		fmt.Sprintf("events/s %s (total %d)  failures/s %s (total %d)  dropped traces %s",
			rateText(v.HaveRates, v.EventsPerSec), v.Events, rateText(v.HaveRates, v.FailuresPerSec), v.Failures, droppedText(v)),
	}
	if !v.Monitor.OK {
		lines = append(lines, orDash(v.Monitor.Reason))
	}
	return lines
}

// queueText is a machine's queue depth, "-" for another host's.
func queueText(n int) string {
	if n < 0 {
		return "-"
	}
	return Bytes(n)
}

func droppedText(v View) string {
	if !v.Monitor.OK {
		return "-"
	}
	return strconv.FormatUint(v.Dropped, 10)
}

type column struct {
	name  string
	max   int // 0: no limit
	right bool
	skip  bool
}

// table aligns cells under the column names, two spaces apart.
func table(cols []column, cells [][]string) (heading string, rows []string) {
	width := make([]int, len(cols))
	for i, c := range cols {
		width[i] = utf8.RuneCountInString(c.name)
	}
	for _, row := range cells {
		for i, c := range cols {
			row[i] = Cut(row[i], c.max)
			width[i] = max(width[i], utf8.RuneCountInString(row[i]))
		}
	}
	line := func(row []string) string {
		var b strings.Builder
		for i, c := range cols {
			if c.skip {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(row[i]))
			if c.right {
				b.WriteString(pad + row[i])
			} else {
				b.WriteString(row[i] + pad)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	heading = line(names)
	for _, row := range cells {
		rows = append(rows, line(row))
	}
	return heading, rows
}

// WriteText prints the view as plain text, no terminal control codes:
// the header, an empty line, the table.
func WriteText(w io.Writer, v View, o Order) error {
	t := Layout(v, o)
	var b strings.Builder
	for _, l := range t.Header {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n" + t.Heading + "\n")
	for _, r := range t.Rows {
		b.WriteString(r + "\n")
	}
	switch {
	case len(v.Rows) == 0:
		b.WriteString("(no machines registered)\n")
	case t.Hidden > 0:
		fmt.Fprintf(&b, "(%d of %d machines shown: filter %q)\n", len(t.Rows), len(v.Rows), o.Filter)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the view as one JSON object, rows in order o.
func WriteJSON(w io.Writer, v View, o Order) error {
	v.Rows = o.Apply(v.Rows)
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Cut shortens s to at most n runes, ending it with "…" when cut; n <= 0
// leaves it whole.
func Cut(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pidText(p int64) string {
	if p < 0 {
		return "-"
	}
	return strconv.FormatInt(p, 10)
}

// rateText is a per-second figure, "-" when unknown.
func rateText(known bool, r float64) string {
	switch {
	case !known:
		return "-"
	case r >= 10000:
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}

func failText(known bool, n uint64) string {
	if !known {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

// Ago is how long before now t was: "4s", "2m05s", "3h07m", "2d03h";
// "-" for the zero time. A t after now (another clock) is "0s".
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return Duration(max(now.Sub(t), 0))
}

// Duration is d in at most two units: "4s", "2m05s", "3h07m", "2d03h".
func Duration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// Bytes is n in B, KiB, MiB or GiB with one decimal.
func Bytes(n int) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 2 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, []string{"KiB", "MiB", "GiB"}[i])
}
