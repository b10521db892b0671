package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// report is everything one invocation measured; it is the JSON file.
type report struct {
	Command       string   `json:"command"`
	Commit        string   `json:"statebus_commit"`           // of the checkout the bus was built from
	Binary        string   `json:"statebus_binary,omitempty"` // the binary measured instead, if -statebus was given
	Started       string   `json:"started"`
	Seconds       float64  `json:"seconds"`
	CPUs          int      `json:"cpus"`
	Runs          int      `json:"runs"`
	Sizes         sizes    `json:"sizes"`
	Workloads     []string `json:"workloads"`
	Peers         []string `json:"peers"`
	LoadBefore    string   `json:"loadavg_before"`
	LoadAfter     string   `json:"loadavg_after"`
	BusyFraction  float64  `json:"machine_busy_fraction"` // all processes, ours included
	StealFraction float64  `json:"steal_fraction"`

	Cells   []cell    `json:"cells"`   // every run of every cell
	Summary []summary `json:"summary"` // medians over runs
	Ratios  []ratio   `json:"ratios"`
	Notes   []string  `json:"notes"`
}

// summary is a cell's medians over its runs (NaN: not measured).
type summary struct {
	Workload      string  `json:"workload"`
	Peer          string  `json:"peer"`
	Runs          int     `json:"runs"` // runs that completed
	Skipped       string  `json:"skipped,omitempty"`
	Errors        string  `json:"errors,omitempty"`
	MsgPerSec     float64 `json:"msg_per_sec"`
	P50us         float64 `json:"p50_us"`
	P99us         float64 `json:"p99_us"`
	P999us        float64 `json:"p999_us"`
	BaseP50us     float64 `json:"base_p50_us"`           // conns: without idle connections
	CPUusPerMsg   float64 `json:"broker_cpu_us_per_msg"` // = CPU seconds per million
	PeakRSSMiB    float64 `json:"broker_peak_rss_mib"`
	RSSPerConnKiB float64 `json:"rss_per_idle_conn_kib"`
	Spread        float64 `json:"spread"` // (max-min)/median of the headline figure
	OtherCPU      float64 `json:"other_cpu_fraction_max"`
	Check         string  `json:"check"` // "ok" or what went wrong
}

// ratio is one of the targets, computed from medians.
type ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    string  `json:"met"` // yes, no, or n/a
}

// MarshalJSON writes NaN (not measured) as null.
func (s summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"workload": s.Workload, "peer": s.Peer, "runs": s.Runs, "skipped": s.Skipped, "errors": s.Errors,
		"msg_per_sec": num(s.MsgPerSec), "p50_us": num(s.P50us), "p99_us": num(s.P99us), "p999_us": num(s.P999us),
		"base_p50_us": num(s.BaseP50us), "broker_cpu_us_per_msg": num(s.CPUusPerMsg),
		"broker_peak_rss_mib": num(s.PeakRSSMiB), "rss_per_idle_conn_kib": num(s.RSSPerConnKiB),
		"spread": num(s.Spread), "other_cpu_fraction_max": num(s.OtherCPU), "check": s.Check,
	})
}

func (r ratio) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"name": r.Name, "value": num(r.Value), "target": r.Target, "met": r.Met})
}

func num(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func (r *report) summarize() {
	for _, w := range r.Workloads {
		for _, p := range r.Peers {
			r.Summary = append(r.Summary, r.summarizeCell(w, p))
		}
	}
	r.computeRatios()
	var busy, noisy []string
	worst := 0.0
	for _, s := range r.Summary {
		if s.OtherCPU > 0.10 {
			busy = append(busy, fmt.Sprintf("%s/%s %.0f%%", s.Workload, s.Peer, 100*s.OtherCPU))
			worst = max(worst, s.OtherCPU)
		}
		if s.Spread > 0.15 && r.Runs > 1 {
			noisy = append(noisy, fmt.Sprintf("%s/%s %.0f%%", s.Workload, s.Peer, 100*s.Spread))
		}
	}
	if len(busy) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("busy machine: processes not started by the tool used over 10%% of the CPUs in %d of %d cells (worst %.0f%%): %s",
			len(busy), len(r.Summary), 100*worst, strings.Join(busy, ", ")))
	}
	if len(noisy) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("noisy: the runs of %d cells differ by more than 15%% of their median ((max-min)/median): %s",
			len(noisy), strings.Join(noisy, ", ")))
	}
	var traces, missed uint64
	for _, c := range r.Cells {
		if c.Peer == "statebus-monitored" {
			traces += c.Traces
			missed += c.TracesMissed
		}
	}
	if traces > 0 || missed > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("statebus-monitored: the monitor read %d traces in all and was told it missed %d (dropped because it fell behind)", traces, missed))
	}
	if r.StealFraction > 0.02 {
		r.Notes = append(r.Notes, fmt.Sprintf("steal time %.1f%% of the CPUs", 100*r.StealFraction))
	}
}

func (r *report) summarizeCell(w, p string) summary {
	s := summary{Workload: w, Peer: p}
	var tput, p50, p99, p999, base, cpu, rss, perConn []float64
	var problems []string
	for _, c := range r.Cells {
		if c.Workload != w || c.Peer != p {
			continue
		}
		if c.Skipped != "" {
			s.Skipped = c.Skipped
			continue
		}
		if c.Err != "" {
			problems = append(problems, fmt.Sprintf("run %d: %s", c.Run, firstLine(c.Err)))
		} else {
			s.Runs++
		}
		if !c.Check.clean() {
			problems = append(problems, fmt.Sprintf("run %d: lost %d, dup %d, reordered %d", c.Run, c.Check.Lost, c.Check.Dup, c.Check.Reordered))
		}
		if c.Acks.Refused > 0 {
			problems = append(problems, fmt.Sprintf("run %d: %d refused %v", c.Run, c.Acks.Refused, c.Acks.Codes))
		}
		s.OtherCPU = max(s.OtherCPU, c.OtherCPU)
		if c.Err != "" {
			continue
		}
		tput = append(tput, nanIfZero(c.MsgPerSec))
		if c.Latency != nil {
			p50 = append(p50, float64(c.Latency.P50)/1e3)
			p99 = append(p99, float64(c.Latency.P99)/1e3)
			p999 = append(p999, float64(c.Latency.P999)/1e3)
		}
		if c.LatencyBase != nil {
			base = append(base, float64(c.LatencyBase.P50)/1e3)
		}
		if c.PeakRSS > 0 {
			cpu = append(cpu, c.CPUPerMillion)
			rss = append(rss, float64(c.PeakRSS)/(1<<20))
		}
		if c.RSSPerConn != 0 {
			perConn = append(perConn, c.RSSPerConn/1024)
		}
	}
	s.MsgPerSec, s.P50us, s.P99us, s.P999us = median(tput), median(p50), median(p99), median(p999)
	s.BaseP50us, s.CPUusPerMsg, s.PeakRSSMiB, s.RSSPerConnKiB = median(base), median(cpu), median(rss), median(perConn)
	if len(p50) > 0 {
		s.Spread = spread(p50)
	} else {
		s.Spread = spread(tput)
	}
	s.Check = "ok"
	if len(problems) > 0 {
		s.Check = strings.Join(problems, "; ")
	}
	if s.Skipped != "" {
		s.Check = "skipped"
	}
	return s
}

func nanIfZero(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 200 {
		l = l[:200] + "..."
	}
	return l
}

func (r *report) find(w, p string) *summary {
	for i := range r.Summary {
		if r.Summary[i].Workload == w && r.Summary[i].Peer == p {
			return &r.Summary[i]
		}
	}
	return nil
}

// computeRatios works out the targets for statebus and the Go client.
func (r *report) computeRatios() {
	get := func(w, p string, f func(*summary) float64) float64 {
		s := r.find(w, p)
		if s == nil || s.Skipped != "" {
			return math.NaN()
		}
		return f(s)
	}
	tput := func(s *summary) float64 { return s.MsgPerSec }
	p50 := func(s *summary) float64 { return s.P50us }
	cpu := func(s *summary) float64 { return s.CPUusPerMsg }
	add := func(name string, v float64, target string, atLeast bool, bound float64) {
		met := "n/a"
		if !math.IsNaN(v) && !math.IsInf(v, 0) && bound != 0 {
			if (atLeast && v >= bound) || (!atLeast && v <= bound) {
				met = "yes"
			} else {
				met = "no"
			}
		}
		r.Ratios = append(r.Ratios, ratio{Name: name, Value: v, Target: target, Met: met})
	}
	for _, sb := range []string{"statebus", "statebus-goclient"} {
		for _, w := range []string{"oneway", "fanin", "pairs"} {
			add(fmt.Sprintf("%s %s msg/s vs redis", w, sb), get(w, sb, tput)/get(w, "redis", tput), ">= 1.5", true, 1.5)
			add(fmt.Sprintf("%s %s msg/s vs relay", w, sb), get(w, sb, tput)/get(w, "relay", tput), "(limit)", true, 0)
		}
		add("pingpong "+sb+" p50 vs relay", get("pingpong", sb, p50)/get("pingpong", "relay", p50), "<= 1.1", false, 1.1)
		add("pingpong "+sb+" p50 vs redis", get("pingpong", sb, p50)/get("pingpong", "redis", p50), "< 1", false, 1)
	}
	for _, w := range []string{"oneway", "fanin", "pairs"} {
		add(w+" statebus-monitored msg/s vs statebus (one monitor attached)", get(w, "statebus-monitored", tput)/get(w, "statebus", tput), ">= 0.8", true, 0.8)
	}
	for _, w := range []string{"oneway", "fanin", "pairs"} {
		add(w+" statebus broker CPU/msg vs redis", get(w, "statebus", cpu)/get(w, "redis", cpu), "<= 0.75", false, 0.75)
	}
	add("pingpong statebus broker CPU/msg vs relay", get("pingpong", "statebus", cpu)/get("pingpong", "relay", cpu), "<= 1.1", false, 1.1)
	add("conns statebus RSS per idle connection, KiB", get("conns", "statebus", func(s *summary) float64 { return s.RSSPerConnKiB }), "<= 6", false, 6)
	add("conns statebus p50 with idle vs without", get("conns", "statebus", func(s *summary) float64 { return s.P50us / s.BaseP50us }), "<= 1.15", false, 1.15)
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func f(v float64, format string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func (r *report) print(w io.Writer) {
	bus := r.Commit
	if r.Binary != "" {
		bus = "binary " + r.Binary
	}
	fmt.Fprintf(w, "\nstatebus-bench: %s\nstatebus %s; %d CPUs, %d run(s), medians; load %s -> %s; machine busy %.0f%%, steal %.1f%%\n",
		r.Command, bus, r.CPUs, r.Runs, r.LoadBefore, r.LoadAfter, 100*r.BusyFraction, 100*r.StealFraction)
	for _, wl := range r.Workloads {
		fmt.Fprintf(w, "\n## %s\n", wl)
		switch wl {
		case "pingpong":
			fmt.Fprintf(w, "| peer | p50 µs | p99 µs | p99.9 µs | spread | broker CPU µs/msg | broker peak RSS MiB | others' CPU | check |\n|---|---|---|---|---|---|---|---|---|\n")
		case "conns":
			fmt.Fprintf(w, "| peer | RSS KiB/idle conn | p50 µs without | p50 µs with | with/without | p99 µs with | broker peak RSS MiB | others' CPU | check |\n|---|---|---|---|---|---|---|---|---|\n")
		default:
			fmt.Fprintf(w, "| peer | msg/s | spread | broker CPU µs/msg | broker peak RSS MiB | others' CPU | check |\n|---|---|---|---|---|---|---|\n")
		}
		for _, p := range r.Peers {
			s := r.find(wl, p)
			if s.Skipped != "" {
				fmt.Fprintf(w, "| %s | skipped: %s |\n", p, s.Skipped)
				continue
			}
			check := s.Check
			if len(check) > 120 {
				check = check[:120] + "..."
			}
			other := f(100*s.OtherCPU, "%.0f%%")
			switch wl {
			case "pingpong":
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p, f(s.P50us, "%.1f"), f(s.P99us, "%.1f"), f(s.P999us, "%.1f"),
					f(100*s.Spread, "%.0f%%"), f(s.CPUusPerMsg, "%.2f"), f(s.PeakRSSMiB, "%.1f"), other, check)
			case "conns":
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p, f(s.RSSPerConnKiB, "%.2f"), f(s.BaseP50us, "%.1f"), f(s.P50us, "%.1f"),
					f(s.P50us/s.BaseP50us, "%.2f"), f(s.P99us, "%.1f"), f(s.PeakRSSMiB, "%.1f"), other, check)
			default:
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", p, f(s.MsgPerSec, "%.0f"), f(100*s.Spread, "%.0f%%"),
					f(s.CPUusPerMsg, "%.2f"), f(s.PeakRSSMiB, "%.1f"), other, check)
			}
		}
	}
	fmt.Fprintf(w, "\n## targets (issue 5)\n| ratio | value | target | met |\n|---|---|---|---|\n")
	for _, q := range r.Ratios {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", q.Name, f(q.Value, "%.2f"), q.Target, q.Met)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\nnotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// progressLine is one cell's headline for the progress display.
func progressLine(c cell) string {
	var b strings.Builder
	switch {
	case c.Skipped != "":
		return "skipped: " + c.Skipped
	case c.Latency != nil && c.LatencyBase != nil:
		fmt.Fprintf(&b, "p50 %.1fµs -> %.1fµs with idle, %.2f KiB/conn", float64(c.LatencyBase.P50)/1e3, float64(c.Latency.P50)/1e3, c.RSSPerConn/1024)
	case c.Latency != nil:
		fmt.Fprintf(&b, "p50 %.1fµs p99 %.1fµs", float64(c.Latency.P50)/1e3, float64(c.Latency.P99)/1e3)
	default:
		fmt.Fprintf(&b, "%.0f msg/s", c.MsgPerSec)
	}
	fmt.Fprintf(&b, ", broker %.2fµs CPU/msg, %.1f MiB", c.CPUPerMillion, float64(c.PeakRSS)/(1<<20))
	if !c.Check.clean() {
		fmt.Fprintf(&b, ", LOST %d DUP %d REORDERED %d", c.Check.Lost, c.Check.Dup, c.Check.Reordered)
	}
	if c.Acks.Refused > 0 {
		fmt.Fprintf(&b, ", REFUSED %d %v", c.Acks.Refused, c.Acks.Codes)
	}
	if c.Err != "" {
		fmt.Fprintf(&b, ", ERROR %s", firstLine(c.Err))
	}
	return b.String()
}
