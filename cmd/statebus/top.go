package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/internal/top"
)

func runTop(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("top", "[--once] [--interval D] [--sort COLUMN] [--reverse] [--filter TEXT]",
		"Shows the bus and its machines live, refreshed every --interval, like top: "+
			"s/S sort column/reverse, / filter on machine ids, Esc clears it, q or Ctrl+C quits. "+
			"--once prints one snapshot as plain text instead, its rates measured over --interval. "+
			"Per-machine rates need monitor access. "+exitCodesHelp, stderr)
	once := fs.Bool("once", false, "print one snapshot as plain text (rates over --interval) and exit")
	interval := fs.Duration("interval", time.Second, "refresh every `D`; with --once, measure the rates over D")
	sortBy := fs.String("sort", "machine", "sort by `COLUMN`: machine, in, out, fails, last, pid or state")
	reverse := fs.Bool("reverse", false, "reverse the sort")
	filter := fs.String("filter", "", "show only machines whose id contains `TEXT` (any case)")
	noMonitor := fs.Bool("no-monitor", false, "do not subscribe to traces: the bus's figures only, no per-machine rates")
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 0, 0); !ok {
		return code
	}
	col, ok := top.ParseColumn(*sortBy)
	if !ok {
		return usageError(fs, "unknown sort column %q", *sortBy)
	}
	if *interval <= 0 {
		return usageError(fs, "--interval must be positive")
	}
	if b.json && !*once {
		return usageError(fs, "--json needs --once")
	}
	order := top.Order{By: col, Reverse: *reverse, Filter: *filter}
	src := &top.Source{
		Dial:      func(ctx context.Context) (*client.Conn, error) { return b.dial(ctx) },
		Timeout:   b.timeout,
		NoMonitor: *noMonitor,
	}
	defer src.Close()
	ctx, stop := signalContext()
	defer stop()

	// The first sample tells whether there is a bus at all (exit 3).
	first, err := src.Sample(ctx)
	if err != nil {
		return failure(stderr, "top", err)
	}
	if !*once {
		screen, err := tcell.NewScreen()
		if err != nil {
			fmt.Fprintf(stderr, "statebus top: no terminal (%v); use --once\n", err)
			return exitFailed
		}
		if err := top.Live(ctx, screen, src, *interval, order); err != nil {
			fmt.Fprintf(stderr, "statebus top: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	return topOnce(ctx, src, first, *interval, order, b.json, stdout, stderr)
}

// topOnce takes a second sample after interval and prints the view.
func topOnce(ctx context.Context, src *top.Source, first top.Sample, interval time.Duration, order top.Order,
	asJSON bool, stdout, stderr io.Writer) int {
	wctx, cancel := context.WithTimeout(ctx, interval+5*time.Second)
	src.WaitMonitor(wctx)
	cancel()
	var m top.Model
	if first.Monitor.OK {
		m.Update(first)
	} else {
		// Count from the running subscription, not from before it.
		s, err := src.Sample(ctx)
		if err != nil {
			return failure(stderr, "top", err)
		}
		m.Update(s)
	}
	select {
	case <-time.After(interval):
	case <-ctx.Done():
		return exitFailed
	}
	s, err := src.Sample(ctx)
	if err != nil {
		return failure(stderr, "top", err)
	}
	v := m.Update(s)
	if asJSON {
		err = top.WriteJSON(stdout, v, order)
	} else {
		err = top.WriteText(stdout, v, order)
	}
	if err != nil {
		fmt.Fprintf(stderr, "statebus top: %v\n", err)
		return exitFailed
	}
	return exitOK
}
