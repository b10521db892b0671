package soak

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func samples(rss func(i int) uint64) []Sample {
	var s []Sample
	for i := range 12 {
		s = append(s, Sample{Elapsed: time.Duration(i+1) * 5 * time.Second, ResidentBytes: rss(i), Goroutines: 20, OpenFiles: 15,
			RequestP99: 300 * time.Microsecond, EventsPerSec: 7000})
	}
	return s
}

func TestReports(t *testing.T) {
	s := samples(func(int) uint64 { return 12 << 20 })
	var csvOut, svg bytes.Buffer
	if err := WriteCSV(&csvOut, s); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(csvOut.String()), "\n"); len(lines) != 13 || !strings.HasPrefix(lines[1], "5.0,12582912,20,15,") {
		t.Fatalf("csv:\n%s", csvOut.String())
	}
	if err := WriteSVG(&svg, s, "title <&>"); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg.Bytes(), new(struct{})); err != nil {
		t.Fatalf("svg is not well-formed XML: %v", err)
	}
	if strings.Count(svg.String(), "<polyline") != len(plotted) {
		t.Fatal("missing charts")
	}
	if _, flat := Drift(s, 0.2); !flat {
		t.Fatal("flat series judged growing")
	}
	growing := samples(func(i int) uint64 { return uint64(10+5*i) << 20 })
	if lines, flat := Drift(growing, 0.2); flat || !strings.Contains(lines[0], "GROWING") {
		t.Fatalf("growing RSS judged flat: %v", lines)
	}
}
