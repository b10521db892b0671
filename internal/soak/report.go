package soak

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteCSV writes the samples with a header row.
func WriteCSV(w io.Writer, samples []Sample) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"elapsed_s", "rss_bytes", "goroutines", "open_files", "queued_bytes", "connections", "events_per_s", "request_p50_us", "request_p99_us", "errors"})
	for _, s := range samples {
		cw.Write([]string{
			strconv.FormatFloat(s.Elapsed.Seconds(), 'f', 1, 64),
			strconv.FormatUint(s.ResidentBytes, 10),
			strconv.Itoa(s.Goroutines), strconv.Itoa(s.OpenFiles), strconv.Itoa(s.QueuedBytes),
			strconv.Itoa(s.Connections), strconv.FormatFloat(s.EventsPerSec, 'f', 0, 64),
			strconv.FormatInt(s.RequestP50.Microseconds(), 10), strconv.FormatInt(s.RequestP99.Microseconds(), 10),
			strconv.FormatUint(s.Errors, 10),
		})
	}
	cw.Flush()
	return cw.Error()
}

// series is one plotted quantity.
type series struct {
	title string
	value func(Sample) float64
}

var plotted = []series{
	{"bus RSS (MiB)", func(s Sample) float64 { return float64(s.ResidentBytes) / (1 << 20) }},
	{"bus goroutines", func(s Sample) float64 { return float64(s.Goroutines) }},
	{"bus open files", func(s Sample) float64 { return float64(s.OpenFiles) }},
	{"queued bytes", func(s Sample) float64 { return float64(s.QueuedBytes) }},
	{"request p99 (µs)", func(s Sample) float64 { return float64(s.RequestP99.Microseconds()) }},
	{"events/s", func(s Sample) float64 { return s.EventsPerSec }},
}

// WriteSVG draws each quantity against time in a small chart of its own,
// so an operator can see at a glance whether it stays flat.
func WriteSVG(w io.Writer, samples []Sample, title string) error {
	const cw, ch, pad = 420, 150, 40
	cols := 2
	rows := (len(plotted) + cols - 1) / cols
	width, height := cols*(cw+pad)+pad, rows*(ch+pad+20)+pad+20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="18" font-size="14">%s</text>`+"\n", pad, escape(title))
	var end time.Duration
	if len(samples) > 0 {
		end = samples[len(samples)-1].Elapsed
	}
	for i, sr := range plotted {
		x0, y0 := pad+(i%cols)*(cw+pad), 40+(i/cols)*(ch+pad+20)
		lo, hi := 0.0, 0.0
		for _, s := range samples {
			hi = max(hi, sr.value(s))
		}
		if hi == lo {
			hi = lo + 1
		}
		hi *= 1.1
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x0, y0-6, escape(sr.title))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0, y0, cw, ch)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%.4g</text><text x="%d" y="%d" text-anchor="end">0</text>`+"\n", x0-3, y0+10, hi, x0-3, y0+ch)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", x0+cw, y0+ch+14, end.Round(time.Second))
		var pts strings.Builder
		for _, s := range samples {
			x := float64(x0)
			if end > 0 {
				x += float64(cw) * s.Elapsed.Seconds() / end.Seconds()
			}
			y := float64(y0+ch) - float64(ch)*(sr.value(s)-lo)/(hi-lo)
			fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="%s"/>`+"\n", strings.TrimSpace(pts.String()))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Drift compares the mean of the last third of the samples with the
// middle third for the resource series (RSS, goroutines, files), which
// must stay flat; it returns one line per series, marking growth above
// tolerance (a fraction, e.g. 0.2).
func Drift(samples []Sample, tolerance float64) (lines []string, flat bool) {
	flat = true
	n := len(samples)
	if n < 6 {
		return []string{"too few samples to judge drift"}, true
	}
	mean := func(part []Sample, f func(Sample) float64) float64 {
		var sum float64
		for _, s := range part {
			sum += f(s)
		}
		return sum / float64(len(part))
	}
	mid, last := samples[n/3:2*n/3], samples[2*n/3:]
	for _, sr := range plotted[:3] {
		a, b := mean(mid, sr.value), mean(last, sr.value)
		verdict := "flat"
		if a > 0 && (b-a)/a > tolerance {
			verdict, flat = "GROWING", false
		}
		lines = append(lines, fmt.Sprintf("%-16s middle third %.1f, last third %.1f: %s", sr.title, a, b, verdict))
	}
	return lines, flat
}
