package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func runSend(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("send", "[--as ID] TARGET EVENT [JSON|-]",
		"Sends EVENT with an optional JSON payload to machine TARGET and waits for the bus to\nacknowledge delivery to TARGET's connection. "+exitCodesHelp, stderr)
	as := fs.String("as", "", "send as machine `ID` (default statebus-cli-PID)")
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		fs.Usage()
		return exitUsage
	}
	payload, err := parsePayload(fs.Args()[2:], os.Stdin)
	if err != nil {
		fmt.Fprintln(stderr, "statebus send:", err)
		return exitUsage
	}
	src := *as
	if src == "" {
		src = defaultSender()
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	c, err := b.dial(ctx)
	if err != nil {
		return failure(stderr, "send", err)
	}
	defer c.Close()
	target, event := fs.Arg(0), fs.Arg(1)
	if err := c.SendAs(ctx, src, target, event, payload); err != nil {
		if b.json {
			printJSON(stdout, map[string]any{"Delivered": false, "TargetMachineId": target, "Error": err.Error()})
		}
		return failure(stderr, "send", err)
	}
	if b.json {
		printJSON(stdout, map[string]any{"Delivered": true, "TargetMachineId": target})
	} else {
		fmt.Fprintf(stdout, "delivered %s to %s\n", event, target)
	}
	return exitOK
}

func runPublish(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("publish", "[--as ID] EVENT [JSON|-]",
		"Sends EVENT to every machine on the bus. "+exitCodesHelp, stderr)
	as := fs.String("as", "", "publish as machine `ID` (default statebus-cli-PID)")
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fs.Usage()
		return exitUsage
	}
	payload, err := parsePayload(fs.Args()[1:], os.Stdin)
	if err != nil {
		fmt.Fprintln(stderr, "statebus publish:", err)
		return exitUsage
	}
	src := *as
	if src == "" {
		src = defaultSender()
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	c, err := b.dial(ctx)
	if err != nil {
		return failure(stderr, "publish", err)
	}
	defer c.Close()
	n, err := c.PublishAs(ctx, src, fs.Arg(0), payload)
	if err != nil {
		return failure(stderr, "publish", err)
	}
	if b.json {
		printJSON(stdout, map[string]any{"Published": true, "EventName": fs.Arg(0), "Recipients": n})
	} else {
		fmt.Fprintf(stdout, "published %s to %d machine(s)\n", fs.Arg(0), n)
	}
	return exitOK
}

func runRequest(args []string, stdout, stderr io.Writer) int {
	var b busFlags
	fs := newFlagSet("request", "[--as ID] [--timeout D] TARGET EVENT [JSON|-]",
		"Sends EVENT to machine TARGET as a request and prints the reply payload. "+exitCodesHelp, stderr)
	as := fs.String("as", "", "request as machine `ID` (default statebus-cli-PID)")
	b.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		fs.Usage()
		return exitUsage
	}
	payload, err := parsePayload(fs.Args()[2:], os.Stdin)
	if err != nil {
		fmt.Fprintln(stderr, "statebus request:", err)
		return exitUsage
	}
	src := *as
	if src == "" {
		src = defaultSender()
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	c, err := b.dial(ctx)
	if err != nil {
		return failure(stderr, "request", err)
	}
	defer c.Close()
	out, err := c.RequestAs(ctx, src, fs.Arg(0), fs.Arg(1), payload)
	if err != nil {
		return failure(stderr, "request", err)
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return exitOK
}
