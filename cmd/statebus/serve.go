package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/daemon"
	"github.com/statebus/statebus/internal/service"
)

// serveOptions are serve's flags; they override the configuration.
type serveOptions struct {
	sources    config.Sources
	socket     string
	pipe       string
	mode       string
	level      string
	http       string
	httpRemote bool
}

func (o *serveOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.socket, "socket", "", "listen on the Unix domain socket at `PATH`")
	fs.StringVar(&o.pipe, "pipe", "", "pipe `NAME` (default from config, else XStateNet.MessageBus); on Unix $TMPDIR/CoreFxPipe_NAME as .NET maps it")
	fs.StringVar(&o.sources.File, "config", "", "appsettings.json-style configuration `FILE`; appsettings.{Environment}.json next to it and MessageBus__* variables layer on top")
	fs.StringVar(&o.sources.Environment, "environment", "", "configuration environment `NAME` (default $STATEBUS_ENVIRONMENT, else $DOTNET_ENVIRONMENT)")
	fs.StringVar(&o.mode, "socket-mode", "", "socket file permissions in octal (default 0600)")
	fs.StringVar(&o.level, "log-level", "", "default log level: Debug, Information, Warning, Error (default from config, else Information)")
	fs.StringVar(&o.http, "http", "", "serve /healthz and /metrics on `ADDR` (loopback only, e.g. 127.0.0.1:9475)")
	fs.BoolVar(&o.httpRemote, "http-allow-remote", false, "allow --http on a non-loopback address")
}

// apply puts the flags on top of a loaded configuration.
func (o *serveOptions) apply(cfg *config.Config) error {
	if o.pipe != "" {
		cfg.PipeName, cfg.SocketPath = o.pipe, ""
	}
	if o.socket != "" {
		cfg.SocketPath = o.socket
	}
	if o.mode != "" {
		m, err := strconv.ParseUint(o.mode, 8, 32)
		if err != nil {
			return fmt.Errorf("--socket-mode %q is not an octal mode", o.mode)
		}
		cfg.SocketMode = uint32(m)
	}
	if o.level != "" {
		cfg.LogLevels["Default"] = o.level
	}
	if o.http != "" {
		cfg.HTTPAddress = o.http
	}
	return nil
}

// daemonOptions wires the flags and the service manager into the daemon.
func (o *serveOptions) daemonOptions(stdout, stderr io.Writer) daemon.Options {
	return daemon.Options{
		Sources:         o.sources,
		Override:        o.apply,
		HTTPAllowRemote: o.httpRemote,
		Stdout:          stdout,
		Stderr:          stderr,
		Ready: func(path string) {
			service.NotifyReady()
			service.NotifyStatus("listening on " + path)
		},
		Stopping: func() { service.NotifyStopping() },
		Banner:   versionAttrs(),
		Build:    buildInfo(),
	}
}

func runServe(args []string, stdout, stderr io.Writer) int {
	var o serveOptions
	fs := newFlagSet("serve", "[--socket PATH | --pipe NAME] [--config FILE] [flags]",
		"Runs the bus in the foreground until SIGINT or SIGTERM, then shuts down gracefully.\nEdits to the configuration files apply without a restart where they can.", stderr)
	o.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "statebus serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	do := o.daemonOptions(stdout, stderr)
	if _, warnings, err := daemon.Load(do); err != nil {
		for _, w := range warnings {
			fmt.Fprintln(stderr, "statebus serve: warning:", w)
		}
		fmt.Fprintln(stderr, "statebus serve:", err)
		return exitFailed
	}
	if path := os.Getenv("STATEBUS_CPUPROFILE"); path != "" {
		// For profiling the bus under a real load (docs/performance.md).
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	ctx, stop := signalContext()
	defer stop()
	if err := daemon.Run(ctx, do); err != nil {
		fmt.Fprintln(stderr, "statebus serve:", strings.TrimPrefix(err.Error(), "daemon: "))
		return exitFailed
	}
	return exitOK
}
