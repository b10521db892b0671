package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "listen on the Unix domain socket at `PATH`")
	pipe := fs.String("pipe", "", "pipe `NAME` (default from config, else XStateNet.MessageBus); on Unix it maps to $TMPDIR/CoreFxPipe_NAME as .NET does")
	cfgFile := fs.String("config", "", "appsettings.json-style configuration `FILE`")
	mode := fs.String("socket-mode", "", "socket file permissions in octal (default 0600)")
	level := fs.String("log-level", "", "log level: Debug, Information, Warning, Error (default from config, else Information)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: statebus serve [--socket PATH | --pipe NAME] [--config FILE] [flags]")
		fmt.Fprintln(stderr, "\nRuns the bus in the foreground until SIGINT or SIGTERM, then shuts down gracefully.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "statebus serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	cfg := config.Default()
	if *cfgFile != "" {
		var warnings []string
		var err error
		cfg, warnings, err = config.LoadFile(*cfgFile)
		for _, w := range warnings {
			fmt.Fprintln(stderr, "statebus serve: warning:", w)
		}
		if err != nil {
			fmt.Fprintln(stderr, "statebus serve:", err)
			return 1
		}
	}
	if *pipe != "" {
		cfg.PipeName, cfg.SocketPath = *pipe, ""
	}
	if *socket != "" {
		cfg.SocketPath = *socket
	}
	if *mode != "" {
		m, err := strconv.ParseUint(*mode, 8, 32)
		if err != nil {
			fmt.Fprintf(stderr, "statebus serve: --socket-mode %q is not an octal mode\n", *mode)
			return 2
		}
		cfg.SocketMode = uint32(m)
	}
	if *level != "" {
		cfg.LogLevel = *level
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "statebus serve:", err)
		return 2
	}
	return serve(cfg, stdout, stderr)
}

func serve(cfg config.Config, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		Level: slog.Level(config.LogLevels[strings.ToLower(cfg.LogLevel)]),
	}))
	path := transport.Resolve(cfg.SocketPath, cfg.PipeName)
	log.Info("XStateNet InterProcess Message Bus Service (statebus)")
	log.Info("Starting Named Pipe Message Bus on pipe: "+cfg.PipeName, "path", path)

	srv, err := server.New(server.Config{
		MaxConnections:           cfg.MaxConnections,
		MaxMessageBytes:          cfg.MaxMessageBytes,
		MaxQueueBytes:            cfg.MaxQueueBytes,
		MaxMachinesPerConnection: cfg.MaxMachinesPerConnection,
		MaxPendingRequests:       cfg.MaxPendingRequests,
		RequestTimeout:           cfg.RequestTimeout(),
		WriteTimeout:             cfg.WriteTimeout(),
		Logger:                   log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "statebus serve:", err)
		return 1
	}
	ln, err := transport.Listen(path, transport.Options{Mode: os.FileMode(cfg.SocketMode)})
	if err != nil {
		if errors.Is(err, transport.ErrInUse) {
			fmt.Fprintf(stderr, "statebus serve: another bus is already listening on %s; leaving it alone\n", path)
		} else {
			fmt.Fprintln(stderr, "statebus serve:", err)
		}
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "statebus listening on %s\n", path)
	log.Info("InterProcess Message Bus Service started successfully", "maxConnections", cfg.MaxConnections)

	go monitorHealth(ctx, srv, cfg, log)

	select {
	case <-ctx.Done():
		log.Info("Stopping: signal received")
	case err := <-served:
		log.Error("Listener failed", "err", err)
		shutdown(srv, cfg, log)
		return 1
	}
	stop()
	shutdown(srv, cfg, log)
	<-served
	log.Info("InterProcess Message Bus Service stopped")
	return 0
}

// shutdown stops the server within the configured timeout, closing
// connections forcibly if they do not drain in time.
func shutdown(srv *server.Server, cfg config.Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
		log.Warn("Shutdown timed out; connections closed forcibly", "err", err)
	}
}

// monitorHealth logs one status line every HealthCheckIntervalSeconds
// until ctx ends, at Information when healthy and Warning otherwise.
func monitorHealth(ctx context.Context, srv *server.Server, cfg config.Config, log *slog.Logger) {
	interval := time.Duration(cfg.HealthCheckIntervalSeconds) * time.Second
	log.Info(fmt.Sprintf("Health Monitor started. Check interval: %d seconds", cfg.HealthCheckIntervalSeconds))
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := srv.Health()
		line := fmt.Sprintf("Health: %s | Connections: %d | Machines: %d | Last Activity: %s",
			map[bool]string{true: "OK", false: "UNHEALTHY (" + h.ErrorMessage + ")"}[h.IsHealthy],
			h.ConnectionCount, h.RegisteredMachines, h.LastActivityAt.UTC().Format("2006-01-02 15:04:05"))
		if h.IsHealthy {
			log.Info(line)
		} else {
			log.Warn(line)
		}
	}
}
