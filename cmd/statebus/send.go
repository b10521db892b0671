package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/statebus/statebus/client"
)

// eventCommand is what send, publish and request share: --as, the bus
// flags, fixed positional arguments followed by an optional JSON payload.
type eventCommand struct {
	name    string
	argv    []string // names of the fixed arguments, for "missing EVENT"
	fs      *flag.FlagSet
	bus     busFlags
	as      *string
	fixed   int // positional arguments before the payload
	args    []string
	payload json.RawMessage
	source  string
}

func newEventCommand(name, usage, summary string, argv []string, stderr io.Writer) *eventCommand {
	e := &eventCommand{name: name, argv: argv, fixed: len(argv)}
	e.fs = newFlagSet(name, usage, summary+" "+exitCodesHelp, stderr)
	e.as = e.fs.String("as", "", "act as machine `ID` (default statebus-cli-PID)")
	e.bus.register(e.fs)
	return e
}

// parse reads the flags and arguments; ok is false when the command
// should exit with code.
func (e *eventCommand) parse(args []string, stderr io.Writer) (code int, ok bool) {
	if code, ok := parseFlags(e.fs, args); !ok {
		return code, false
	}
	if code, ok := wantArgs(e.fs, e.fixed, e.fixed+1, e.argv...); !ok {
		return code, false
	}
	e.args = e.fs.Args()
	var err error
	if e.payload, err = parsePayload(e.args[e.fixed:], os.Stdin); err != nil {
		return usageError(e.fs, "%v", err), false
	}
	if e.source = *e.as; e.source == "" {
		e.source = defaultSender()
	}
	return 0, true
}

// run dials and calls do with the connection, mapping errors to exit codes.
func (e *eventCommand) run(stderr io.Writer, do func(ctx context.Context, c *client.Conn) error) int {
	return e.bus.run(e.name, stderr, func(ctx context.Context, c *client.Conn) (int, error) {
		return exitOK, do(ctx, c)
	})
}

func runSend(args []string, stdout, stderr io.Writer) int {
	e := newEventCommand("send", "[--as ID] TARGET EVENT [JSON|-]",
		"Sends EVENT with an optional JSON payload to machine TARGET and waits for the bus to\nacknowledge delivery to TARGET's connection.", []string{"TARGET", "EVENT"}, stderr)
	if code, ok := e.parse(args, stderr); !ok {
		return code
	}
	target, event := e.args[0], e.args[1]
	return e.run(stderr, func(ctx context.Context, c *client.Conn) error {
		err := c.SendAs(ctx, e.source, target, event, e.payload)
		switch {
		case err != nil && e.bus.json:
			printJSON(stdout, map[string]any{"Delivered": false, "TargetMachineId": target, "Error": errorText(err)})
		case e.bus.json:
			printJSON(stdout, map[string]any{"Delivered": true, "TargetMachineId": target})
		case err == nil:
			fmt.Fprintf(stdout, "delivered %s to %s\n", event, target)
		}
		return err
	})
}

func runPublish(args []string, stdout, stderr io.Writer) int {
	e := newEventCommand("publish", "[--as ID] EVENT [JSON|-]", "Sends EVENT to every machine on the bus.", []string{"EVENT"}, stderr)
	if code, ok := e.parse(args, stderr); !ok {
		return code
	}
	event := e.args[0]
	return e.run(stderr, func(ctx context.Context, c *client.Conn) error {
		n, err := c.PublishAs(ctx, e.source, event, e.payload)
		switch {
		case err != nil:
		case e.bus.json:
			printJSON(stdout, map[string]any{"Published": true, "EventName": event, "Recipients": n})
		default:
			fmt.Fprintf(stdout, "published %s to %d machine(s)\n", event, n)
		}
		return err
	})
}

func runRequest(args []string, stdout, stderr io.Writer) int {
	e := newEventCommand("request", "[--as ID] [--timeout D] TARGET EVENT [JSON|-]",
		"Sends EVENT to machine TARGET as a request and prints the reply payload (with --json:\n{\"Replied\",\"TargetMachineId\",\"EventName\",\"Payload\"}, or \"Error\" in place of the payload).", []string{"TARGET", "EVENT"}, stderr)
	if code, ok := e.parse(args, stderr); !ok {
		return code
	}
	target, event := e.args[0], e.args[1]
	return e.run(stderr, func(ctx context.Context, c *client.Conn) error {
		out, err := c.RequestAs(ctx, e.source, target, event, e.payload)
		switch {
		case err != nil && e.bus.json:
			printJSON(stdout, map[string]any{"Replied": false, "TargetMachineId": target, "EventName": event, "Error": errorText(err)})
		case err != nil:
		case e.bus.json:
			if len(out) == 0 {
				out = []byte("null")
			}
			printJSON(stdout, map[string]any{"Replied": true, "TargetMachineId": target, "EventName": event, "Payload": json.RawMessage(out)})
		default:
			fmt.Fprintf(stdout, "%s\n", out)
		}
		return err
	})
}
