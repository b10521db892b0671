package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/statebus/statebus/client"
)

// listFlag is a repeatable string flag; with comma set, each value may
// also list several, separated by commas.
type listFlag struct {
	vals  []string
	comma bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if !l.comma {
		l.vals = append(l.vals, v)
		return nil
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.vals = append(l.vals, p)
		}
	}
	return nil
}

// monitorFlags are statebus monitor's own flags.
type monitorFlags struct {
	bus        busFlags
	machines   listFlag
	events     listFlag
	kinds      listFlag
	payload    bool
	maxPayload int
	record     string
	replay     string
}

func (f *monitorFlags) filter() client.MonitorFilter {
	return client.MonitorFilter{Machines: f.machines.vals, Events: f.events.vals, Kinds: f.kinds.vals,
		NoPayload: !f.payload, MaxPayloadBytes: f.maxPayload}
}

func runMonitor(args []string, stdout, stderr io.Writer) int {
	var f monitorFlags
	f.kinds.comma = true
	fs := newFlagSet("monitor", "[--machine PATTERN]... [--event PATTERN]... [--kind K,...] [--record FILE | --replay FILE]",
		"Prints the bus's traffic as it happens, one line per trace: time, kind, source -> target,\n"+
			"event, outcome (delivered, ok or the failure code) and payload (cut to the terminal's width);\n"+
			"--json prints the trace objects, one per line. A pattern is an id, \"*\" or \"prefix*\".\n"+
			"Only the bus's own user and root (or MonitorUsers, MonitorGroups) may monitor.\n"+
			"--record FILE also writes what it sees to FILE; --replay FILE prints a recording, no bus needed.\n"+
			"Exit codes: 0 on Ctrl+C (or the end of a replay), 1 refused by the bus or a bad recording,\n"+
			"2 usage error, 3 bus unreachable or gone.", stderr)
	fs.Var(&f.machines, "machine", "only traces from or to machines matching `PATTERN` (repeatable)")
	fs.Var(&f.events, "event", "only traces of events matching `PATTERN` (repeatable)")
	fs.Var(&f.kinds, "kind", "only traces of kind `K` (repeatable or comma-separated): "+strings.Join(client.TraceKinds(), ", "))
	fs.BoolVar(&f.payload, "payload", true, "include payloads (--payload=false leaves them out)")
	fs.IntVar(&f.maxPayload, "max-payload", 0, "cut payloads longer than `N` bytes (0: no limit)")
	fs.StringVar(&f.record, "record", "", "also write the traces to `FILE` (NDJSON after a header line)")
	fs.StringVar(&f.replay, "replay", "", "print the recording in `FILE` instead of monitoring a bus")
	f.bus.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	for _, k := range f.kinds.vals {
		if !slices.Contains(client.TraceKinds(), k) {
			return usageError(fs, "unknown kind %q (one of %s)", k, strings.Join(client.TraceKinds(), ", "))
		}
	}
	switch {
	case f.maxPayload < 0:
		return usageError(fs, "--max-payload must not be negative")
	case f.record != "" && f.replay != "":
		return usageError(fs, "--record and --replay do not go together")
	}
	out := newTracePrinter(stdout, f.bus.json)
	if f.replay != "" {
		return replay(f.replay, f.filter(), out, stderr)
	}
	return monitorLive(&f, out, stderr)
}

// monitorLive monitors the bus until Ctrl+C or the bus goes away.
func monitorLive(f *monitorFlags, out *tracePrinter, stderr io.Writer) int {
	ctx, stop := signalContext()
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, f.bus.timeout)
	defer cancel()
	c, err := f.bus.dialWith(dctx)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return failure(stderr, "monitor", err)
	}
	defer c.Close()
	filter := f.filter()
	m, err := c.Monitor(dctx, filter)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return failure(stderr, "monitor", err)
	}
	defer m.Close()
	var rec *recorder
	if f.record != "" {
		if rec, err = newRecorder(f.record, filter, c.Path()); err != nil {
			fmt.Fprintf(stderr, "statebus monitor: %v\n", err)
			return exitFailed
		}
	}
	fmt.Fprintf(stderr, "statebus monitor: monitoring %s; Ctrl+C to stop\n", c.Path())
	code := pump(ctx, m, out, rec)
	if rec != nil {
		if err := rec.close(); err != nil {
			fmt.Fprintf(stderr, "statebus monitor: %v\n", err)
			code = max(code, exitFailed)
		}
	}
	if err := out.err(); err != nil && code == exitOK {
		return exitOK // standard output closed (a pipe to head, say): done
	}
	if code == exitUnreachable {
		fmt.Fprintf(stderr, "statebus monitor: %s\n", errorText(m.Err()))
	}
	return code
}

// pump prints (and records) traces until ctx ends (exit 0), the monitor
// ends (exit 3: the bus went away) or standard output fails (exit 0).
func pump(ctx context.Context, m *client.Monitor, out *tracePrinter, rec *recorder) int {
	traces := m.Traces()
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case t, ok := <-traces:
			if !ok {
				if errors.Is(m.Err(), client.ErrClosed) {
					return exitOK
				}
				return exitUnreachable
			}
			if rec != nil {
				rec.write(&t, len(traces) == 0)
			}
			if !out.print(&t) {
				return exitOK
			}
		}
	}
}

// Recordings: the first line is a header object naming the format and
// its version, the filter the traces were recorded with, the time and
// the bus; every other line is one trace object as the bus writes it
// (client.Trace's JSON form). docs/observability.md describes it.
const (
	recordFormat  = "statebus-trace"
	recordVersion = 1
)

type recordHeader struct {
	Format     string
	Version    int
	Filter     client.MonitorFilter
	RecordedAt string
	Bus        string
}

// recorder writes a recording.
type recorder struct {
	f    *os.File
	w    *bufio.Writer
	fail error
}

func newRecorder(path string, filter client.MonitorFilter, bus string) (*recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	r := &recorder{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	h := recordHeader{Format: recordFormat, Version: recordVersion, Filter: filter, RecordedAt: nowText(), Bus: bus}
	r.line(h)
	r.flush()
	if r.fail != nil {
		f.Close()
		return nil, r.fail
	}
	return r, nil
}

func (r *recorder) line(v any) {
	if r.fail != nil {
		return
	}
	b, err := marshalLine(v)
	if err == nil {
		_, err = r.w.Write(b)
	}
	if err != nil {
		r.fail = fmt.Errorf("recording: %w", err)
	}
}

// write records t; flush when no trace waits, so the file follows along
// without a write per trace under load.
func (r *recorder) write(t *client.Trace, flush bool) {
	r.line(t)
	if flush {
		r.flush()
	}
}

func (r *recorder) flush() {
	if r.fail == nil {
		if err := r.w.Flush(); err != nil {
			r.fail = fmt.Errorf("recording: %w", err)
		}
	}
}

func (r *recorder) close() error {
	r.flush()
	if err := r.f.Close(); err != nil && r.fail == nil {
		r.fail = fmt.Errorf("recording: %w", err)
	}
	return r.fail
}

// declare the flag.Value implementation.
var _ flag.Value = (*listFlag)(nil)
