package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	natsbridge "github.com/statebus/statebus/bridge/nats"
	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/logging"
	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/service"
	"github.com/statebus/statebus/internal/transport"
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

// load reads the configuration layers, then applies the flags.
func (o *serveOptions) load() (config.Config, []string, error) {
	o.sources.Environ = os.Environ()
	cfg, warnings, err := config.Load(o.sources)
	if err != nil {
		return cfg, warnings, err
	}
	if o.pipe != "" {
		cfg.PipeName, cfg.SocketPath = o.pipe, ""
	}
	if o.socket != "" {
		cfg.SocketPath = o.socket
	}
	if o.mode != "" {
		m, err := strconv.ParseUint(o.mode, 8, 32)
		if err != nil {
			return cfg, warnings, fmt.Errorf("--socket-mode %q is not an octal mode", o.mode)
		}
		cfg.SocketMode = uint32(m)
	}
	if o.level != "" {
		cfg.LogLevels["Default"] = o.level
	}
	if o.http != "" {
		cfg.HTTPAddress = o.http
	}
	return cfg, warnings, cfg.Validate()
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
	if _, warnings, err := o.load(); err != nil {
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
	if err := runBus(ctx, &o, stdout, stderr, nil, nil); err != nil {
		fmt.Fprintln(stderr, "statebus serve:", err)
		return exitFailed
	}
	return exitOK
}

func levelTable(cfg config.Config) map[string]slog.Level {
	t := make(map[string]slog.Level, len(cfg.LogLevels))
	for k, v := range cfg.LogLevels {
		t[k] = slog.Level(config.LogLevels[strings.ToLower(v)])
	}
	return t
}

// serverConfig maps the configuration onto the server's, resolving the
// token file and the allow-lists.
func serverConfig(cfg config.Config, log *slog.Logger) (server.Config, error) {
	token, err := cfg.ReadToken()
	if err != nil {
		return server.Config{}, err
	}
	authorize, err := authorizer(cfg)
	if err != nil {
		return server.Config{}, err
	}
	return server.Config{
		MaxConnections:           cfg.MaxConnections,
		MaxMessageBytes:          cfg.MaxMessageBytes,
		MaxQueueBytes:            cfg.MaxQueueBytes,
		MaxMachinesPerConnection: cfg.MaxMachinesPerConnection,
		MaxPendingRequests:       cfg.MaxPendingRequests,
		RequestTimeout:           cfg.RequestTimeout(),
		WriteTimeout:             cfg.WriteTimeout(),
		MaxEventsPerSecond:       cfg.MaxEventsPerSecond,
		Token:                    token,
		Peer:                     peerInfo,
		Authorize:                authorize,
		Logger:                   log,
		Build:                    buildInfo(),
	}, nil
}

func monitorConfig(cfg config.Config) metrics.MonitorConfig {
	return metrics.MonitorConfig{
		Interval:               time.Duration(cfg.HealthCheckIntervalSeconds) * time.Second,
		IdleAlert:              time.Duration(cfg.IdleAlertMinutes) * time.Minute,
		ConnectionAlertPercent: cfg.ConnectionAlertPercent,
		MaxConnections:         cfg.MaxConnections,
	}
}

// runBus runs the bus until ctx ends, then shuts it down. extra, if not
// nil, receives the logs too (the Windows Event Log). ready, if not nil,
// is called once the bus accepts connections.
func runBus(ctx context.Context, o *serveOptions, stdout, stderr io.Writer, extra slog.Handler, ready func()) error {
	cfg, warnings, err := o.load()
	if err != nil {
		return err
	}
	levels := logging.NewLevels()
	levels.Set(levelTable(cfg))
	var out slog.Handler = logging.Console(stderr)
	if extra != nil {
		out = slog.NewMultiHandler(out, extra)
	}
	root := logging.New(out, levels)
	log := logging.For(root, logging.CategoryService)
	for _, w := range warnings {
		logging.For(root, logging.CategoryConfig).Warn("Configuration: " + w)
	}
	path := transport.Resolve(cfg.SocketPath, cfg.PipeName)
	log.Info("XStateNet InterProcess Message Bus Service (statebus)", versionAttrs()...)
	log.Info(startMessage(cfg.SocketPath, cfg.PipeName, path), "path", path)

	scfg, err := serverConfig(cfg, logging.For(root, logging.CategoryServer))
	if err != nil {
		return err
	}
	srv, err := server.New(scfg)
	if err != nil {
		return err
	}
	gid, err := socketGroup(cfg)
	if err != nil {
		return err
	}
	br, err := startBridge(ctx, cfg, srv, logging.For(root, logging.CategoryServer))
	if err != nil {
		return err
	}
	defer stopBridge(br, log)
	ln, err := transport.Listen(path, transport.Options{Mode: os.FileMode(cfg.SocketMode), Group: gid})
	if err != nil {
		if errors.Is(err, transport.ErrInUse) {
			return fmt.Errorf("another bus is already listening on %s; leaving it alone", path)
		}
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var hs *http.Server
	if cfg.HTTPAddress != "" {
		if hs, err = startHTTP(cfg.HTTPAddress, o.httpRemote, srv, logging.For(root, logging.CategoryHTTP)); err != nil {
			shutdown(srv, cfg, log)
			return err
		}
	}
	// Watch the configuration before saying we are ready, so that an
	// edit made as soon as the bus answers is not missed.
	monitor := metrics.NewMonitor(logging.For(root, logging.CategoryHealth), monitorConfig(cfg), srv.Health)
	mctx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	go monitor.Run(mctx)
	current := cfg
	err = config.Watch(mctx, o.sources, 200*time.Millisecond, func(r config.Reload) {
		current = applyReload(r, o, current, levels, srv, monitor, logging.For(root, logging.CategoryConfig))
	})
	if err != nil {
		log.Warn("Configuration files are not watched; edits need a restart", "err", err)
	}

	fmt.Fprintf(stdout, "statebus listening on %s\n", path)
	log.Info("InterProcess Message Bus Service started successfully", "maxConnections", cfg.MaxConnections)
	service.NotifyReady()
	service.NotifyStatus("listening on " + path)
	if ready != nil {
		ready()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("Stopping: signal received")
	case runErr = <-served:
		log.Error("Listener failed", "err", runErr)
	}
	service.NotifyStopping()
	stopMonitor()
	if hs != nil {
		hctx, cancel := context.WithTimeout(context.Background(), time.Second)
		hs.Shutdown(hctx)
		cancel()
	}
	shutdown(srv, cfg, log)
	if runErr == nil {
		<-served
	}
	log.Info("InterProcess Message Bus Service stopped")
	return runErr
}

// startBridge links the bus to other hosts over NATS when Bridge.Nats.Url
// is set; it returns nil otherwise. An unreachable NATS is not an error
// (the bridge keeps trying); a bad configuration is.
func startBridge(ctx context.Context, cfg config.Config, srv *server.Server, log *slog.Logger) (*natsbridge.Bridge, error) {
	bc := cfg.Bridge
	if !bc.Enabled() {
		return nil, nil
	}
	host, err := bc.ResolvedHostName()
	if err != nil {
		return nil, err
	}
	br, err := natsbridge.New(srv, natsbridge.Config{
		URL: bc.Nats.URL, HostName: host,
		CredsFile: bc.Nats.CredsFile, NKeyFile: bc.Nats.NKeyFile,
		User: bc.Nats.User, Password: bc.Nats.Password, Token: bc.Nats.Token,
		TLSCA: bc.Nats.TLSCA, TLSCert: bc.Nats.TLSCert, TLSKey: bc.Nats.TLSKey,
		Prefix: bc.Nats.Prefix, Replicas: bc.Nats.Replicas,
		Heartbeat: time.Duration(bc.HeartbeatSeconds) * time.Second,
		DeadAfter: time.Duration(bc.DeadAfterSeconds) * time.Second,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	srv.SetBridge(br)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := br.Start(sctx); err != nil {
		return nil, err
	}
	log.Info("Bridge to other hosts started", "host", host, "nats", bc.Nats.URL)
	return br, nil
}

// stopBridge leaves the NATS network after the bus has shut down.
func stopBridge(br *natsbridge.Bridge, log *slog.Logger) {
	if br == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := br.Stop(ctx); err != nil {
		log.Warn("Bridge stop", "err", err)
	}
}

// applyReload applies a reloaded configuration (flags still win) and
// returns the configuration now in effect.
func applyReload(r config.Reload, o *serveOptions, old config.Config, levels *logging.Levels, srv *server.Server, mon *metrics.Monitor, log *slog.Logger) config.Config {
	if r.Err != nil {
		log.Error("Configuration reload failed; keeping the previous settings", "err", r.Err)
		return old
	}
	cfg, warnings, err := o.load() // the same layers plus the flags
	if err != nil {
		log.Error("Configuration reload failed; keeping the previous settings", "err", err)
		return old
	}
	for _, w := range warnings {
		log.Warn("Configuration: " + w)
	}
	levels.Set(levelTable(cfg))
	scfg, err := serverConfig(cfg, nil)
	if err == nil {
		err = srv.Reconfigure(scfg)
	}
	if err != nil {
		log.Error("Configuration reload failed; keeping the previous settings", "err", err)
		return old
	}
	mon.SetConfig(monitorConfig(cfg))
	for _, key := range config.RestartRequired(old, cfg) {
		log.Warn("Configuration: " + key + " changed; it takes effect after a restart")
	}
	log.Info("Configuration reloaded", "maxConnections", cfg.MaxConnections, "logLevel", cfg.LogLevels["Default"])
	return cfg
}

// startHTTP serves /healthz and /metrics on addr, which must be a
// loopback address unless allowRemote.
func startHTTP(addr string, allowRemote bool, srv *server.Server, log *slog.Logger) (*http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--http %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); !allowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--http %q is not a loopback address; add --http-allow-remote to serve it anyway", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: metrics.Handler(srv), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	log.Info("Serving /healthz and /metrics on http://" + ln.Addr().String())
	return hs, nil
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
