package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/statebus/statebus/client"
)

func runListen(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("listen", "[--reply JSON] ID...",
		"Registers machine ids and prints every event sent to them until Ctrl+C (one JSON line per\nevent with --json). Requests are answered with --reply's payload, or refused without it.\nIt reconnects if the bus restarts. "+exitCodesHelp, stderr)
	reply := fs.String("reply", "", "answer requests with this JSON `payload`")
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := wantArgs(fs, 1, -1, "ID"); !ok {
		return code
	}
	var answer json.RawMessage
	if *reply != "" {
		var err error
		if answer, err = compactJSON("--reply", []byte(*reply)); err != nil {
			return usageError(fs, "%v", err)
		}
	}
	ctx, stop := signalContext()
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	c, err := client.Dial(dctx, b.addr(), client.WithMachines(fs.Args()...), client.WithDialTimeout(b.timeout), client.WithToken(b.token),
		client.WithStateHandler(func(s client.State, err error) {
			if s == client.StateDisconnected && err != nil {
				fmt.Fprintf(stderr, "statebus listen: disconnected (%s); reconnecting\n", oneLine(strings.TrimPrefix(err.Error(), "statebus: ")))
			} else if s == client.StateConnected {
				fmt.Fprintln(stderr, "statebus listen: connected")
			}
		}))
	if err != nil {
		return failure(stderr, "listen", err)
	}
	defer c.Close()

	var mu sync.Mutex // handlers and request goroutines both print
	print := func(kind string, ev client.Event) {
		mu.Lock()
		defer mu.Unlock()
		if b.json {
			printJSON(stdout, map[string]any{
				"Kind": kind, "SourceMachineId": ev.Source, "TargetMachineId": ev.Target,
				"EventName": ev.Name, "Payload": ev.Payload, "Timestamp": ev.Timestamp.UTC().Format(time.RFC3339Nano),
			})
			return
		}
		fmt.Fprintf(stdout, "%s  %s -> %s  %s  %s\n", ev.Timestamp.UTC().Format("15:04:05.000000"), ev.Source, ev.Target, ev.Name, ev.Payload)
	}
	c.OnEvent("*", func(ev client.Event) { print("Event", ev) })
	c.OnRequest("*", func(ctx context.Context, ev client.Event) (any, error) {
		print("Request", ev)
		if answer == nil {
			return nil, fmt.Errorf("statebus listen does not answer requests (start it with --reply)")
		}
		return answer, nil
	})
	fmt.Fprintf(stderr, "statebus listen: listening as %v; Ctrl+C to stop\n", fs.Args())
	<-ctx.Done()
	return exitOK
}
