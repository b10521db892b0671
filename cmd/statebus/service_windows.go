package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/statebus/statebus/internal/daemon"
	"github.com/statebus/statebus/internal/service"
)

// serviceRun is the command line the SCM starts ("service run --name X
// [serve flags]"): the bus under the SCM, logging to the Event Log too.
func serviceRun(args []string, stdout, stderr io.Writer) int {
	var o serveOptions
	fs := newFlagSet("service run", "--name NAME [serve flags]", "Runs the bus under the Windows Service Control Manager (the installed service's command line).", stderr)
	name := fs.String("name", service.DefaultName, "service `name`")
	o.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var extra slog.Handler
	if h, closeLog, err := service.EventLogHandler(); err == nil {
		extra = h
		defer closeLog()
	}
	err := service.Run(*name, func(ctx context.Context, ready func()) error {
		do := o.daemonOptions(stdout, stderr)
		do.ExtraLog = extra
		do.Ready = func(string) { ready() }
		return daemon.Run(ctx, do)
	})
	if err != nil {
		fmt.Fprintln(stderr, "statebus service run:", err)
		return exitFailed
	}
	return exitOK
}
