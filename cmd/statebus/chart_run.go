package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/statebus/statebus/chartbus"
	"github.com/statebus/statebus/client"
	"github.com/statebus/statebus/statechart"
)

func runChartRun(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("chart run", "FILE.json --id ID",
		"Runs the chart as bus member ID: events sent to ID drive it, its sends to other ids go through\n"+
			"the bus. Prints one JSON line per processed event {\"event\",\"from\",\"value\",\"status\",\"context\",\"log\"}\n"+
			"and exits 0 when the chart reaches a top-level final state, 1 when it fails or the bus refuses\n"+
			"one of its sends (start the machines it sends to first), on Ctrl+C 0.\n"+
			exitCodesHelp, stderr)
	id := fs.String("id", "", "the machine's bus `ID` (default: the chart's id)")
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 1, 1, "FILE.json"); !ok {
		return code
	}
	pos := fs.Args()
	m, code := readChart("run", pos[0], false, stderr)
	if m == nil {
		return code
	}
	if *id == "" {
		*id = m.ID()
	}
	ctx, stop := signalContext()
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	// A send the bus refuses is an event lost: the chart could wait
	// forever for an answer to it, so it ends the run.
	lost := make(chan *client.AsyncError, 1)
	c, err := b.dialWith(dctx, client.WithAsyncErrorHandler(func(e *client.AsyncError) {
		select {
		case lost <- e:
		default:
		}
	}))
	if err != nil {
		return failure(stderr, "chart run", err)
	}
	defer c.Close()

	h := chartbus.New(c, statechart.WithObserver(stepPrinter(stdout)))
	a, err := h.Start(dctx, *id, m)
	if err != nil {
		return failure(stderr, "chart run", err)
	}
	fmt.Fprintf(stderr, "statebus chart run: running %s as %s; Ctrl+C to stop\n", pos[0], *id)
	code = runUntilFinal(ctx, h, a, lost, stderr)
	// Its last sends were handed to the connection; wait until the bus
	// has taken them before leaving.
	fctx, fcancel := context.WithTimeout(context.Background(), b.timeout)
	defer fcancel()
	c.Flush(fctx)
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	h.Close(cctx)
	return code
}

// stepPrinter prints one JSON line per processed event.
func stepPrinter(stdout io.Writer) func(statechart.Step) {
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	return func(st statechart.Step) {
		mu.Lock()
		defer mu.Unlock()
		line := map[string]any{"event": st.Event.Name, "from": st.Event.Source, "value": st.Snapshot.Value,
			"status": st.Snapshot.Status, "context": st.Snapshot.Context, "log": nonNil(st.Result.Logs)}
		if st.Err != nil {
			line["error"] = st.Err.Error()
		}
		enc.Encode(line)
	}
}

// runUntilFinal processes events until the chart is done or fails (exit
// 0 or 1), one of its sends is refused (exit 1) or ctx ends (exit 0).
func runUntilFinal(ctx context.Context, h *chartbus.Host, a *statechart.Actor, lost <-chan *client.AsyncError, stderr io.Writer) int {
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		h.Run(rctx)
		close(done)
	}()
	defer func() {
		rcancel()
		<-done
	}()
	select {
	case <-ctx.Done():
	case e := <-lost:
		hint := ""
		if errors.Is(e.Err, client.ErrNotConnected) {
			hint = "; start " + e.Target + " before this chart"
		}
		fmt.Fprintf(stderr, "statebus chart run: %s to %s was not delivered (%s); stopping%s\n",
			e.Event, e.Target, oneLine(strings.TrimPrefix(e.Err.Error(), "statebus: ")), hint)
		return exitFailed
	case <-a.Done():
		if snap := a.Snapshot(); snap.Status == statechart.StatusError {
			fmt.Fprintf(stderr, "statebus chart run: %s\n", strings.TrimPrefix(snap.Error, "statechart: "))
			return exitFailed
		}
	}
	return exitOK
}
