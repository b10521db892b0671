// Package daemon is the bus's life as a process: it loads the
// configuration, binds the socket, then starts the bridge to other hosts,
// serving, the HTTP endpoints, the health monitor and the configuration
// watcher, in that order; and it stops what it started in reverse order,
// on any failure of a later step, on request, or when serving fails.
//
// Binding comes first so that a second bus started on a live bus's socket
// fails before it has touched anything shared: it never joins the NATS
// network, so it cannot reconcile away the live host's machines or
// announce that host's departure.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsbridge "github.com/statebus/statebus/bridge/nats"
	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/inspector"
	"github.com/statebus/statebus/internal/logging"
	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// ErrInUse is returned by Start when another bus is live on the socket;
// that bus is left alone.
var ErrInUse = errors.New("daemon: another bus is already listening")

// Options say where the configuration comes from and where the daemon
// reports. Zero values: no configuration file (embedded defaults and
// MessageBus__* variables), logs and the readiness line discarded.
type Options struct {
	// Sources are the configuration layers; Environ is filled from the
	// process if nil.
	Sources config.Sources
	// Override, if set, applies the command line on top of every load of
	// the configuration (the first and every reload): flags win.
	Override func(*config.Config) error
	// HTTPAllowRemote allows Config.HTTPAddress to be a non-loopback
	// address.
	HTTPAllowRemote bool
	// Stdout gets "statebus listening on PATH" once the bus accepts
	// connections; Stderr gets the console log.
	Stdout, Stderr io.Writer
	// ExtraLog, if set, receives the logs too (the Windows Event Log).
	ExtraLog slog.Handler
	// Ready, if set, is called once the bus accepts connections (service
	// manager notification); Stopping when it begins to stop.
	Ready    func(path string)
	Stopping func()
	// Banner, if set, are the attributes of the first log line (the
	// version); Build is what Health and /metrics report of the binary.
	Banner []any
	Build  metrics.BuildInfo
}

// Daemon is a running bus. Its methods are safe for concurrent use.
type Daemon struct {
	o      Options
	cfg    config.Config
	root   *slog.Logger
	log    *slog.Logger
	levels *logging.Levels
	srv    *server.Server
	path   string
	// token is the bus's token now (it may change on a reload), for the
	// web inspector; httpAddr is where HTTP is served, "" if not.
	token    atomic.Pointer[string]
	httpAddr string
	served   chan error // Serve's result; buffered

	mu      sync.Mutex
	stops   []func() // what Start started, in start order
	stopped bool
	done    chan struct{} // closed when Stop has finished
}

// Load reads the configuration layers and applies o.Override, then
// validates the result.
func Load(o Options) (config.Config, []string, error) {
	if o.Sources.Environ == nil {
		o.Sources.Environ = os.Environ()
	}
	cfg, warnings, err := config.Load(o.Sources)
	if err != nil {
		return cfg, warnings, err
	}
	return cfg, warnings, override(o, &cfg)
}

// override applies o.Override to cfg and validates it.
func override(o Options, cfg *config.Config) error {
	if o.Override != nil {
		if err := o.Override(cfg); err != nil {
			return err
		}
	}
	return cfg.Validate()
}

// Start brings the bus up: configuration, socket, bridge, serving, HTTP,
// monitor, watcher. It returns once the bus accepts connections, or with
// the first failure, having stopped whatever it had started. ctx bounds
// the start (the bridge's first contact with NATS) and nothing after it.
func Start(ctx context.Context, o Options) (*Daemon, error) {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Sources.Environ == nil {
		o.Sources.Environ = os.Environ()
	}
	d := &Daemon{o: o, served: make(chan error, 1), done: make(chan struct{})}
	if err := d.start(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// onStop records what to undo; Stop runs these in reverse order.
func (d *Daemon) onStop(f func()) {
	d.mu.Lock()
	d.stops = append(d.stops, f)
	d.mu.Unlock()
}

func (d *Daemon) start(ctx context.Context) error {
	cfg, warnings, err := Load(d.o)
	if err != nil {
		return err
	}
	d.cfg = cfg
	d.levels = logging.NewLevels()
	d.levels.Set(levelTable(cfg))
	var out slog.Handler = logging.Console(d.o.Stderr)
	if d.o.ExtraLog != nil {
		out = slog.NewMultiHandler(out, d.o.ExtraLog)
	}
	d.root = logging.New(out, d.levels)
	d.log = logging.For(d.root, logging.CategoryService)
	for _, w := range warnings {
		logging.For(d.root, logging.CategoryConfig).Warn("Configuration warning", "warning", w)
	}
	d.path = transport.Resolve(cfg.SocketPath, cfg.PipeName)
	d.log.Info("XStateNet InterProcess Message Bus Service (statebus)", d.o.Banner...)
	if cfg.SocketPath != "" {
		d.log.Info("Starting Message Bus on Unix socket", "path", d.path)
	} else {
		d.log.Info("Starting Named Pipe Message Bus", "pipe", cfg.PipeName, "path", d.path)
	}

	scfg, err := d.serverConfig(cfg, logging.For(d.root, logging.CategoryServer))
	if err != nil {
		return err
	}
	if d.srv, err = server.New(scfg); err != nil {
		return err
	}
	d.token.Store(&scfg.Token)
	gid, err := socketGroup(cfg)
	if err != nil {
		return err
	}
	// 1. The socket: nothing shared is touched before it is ours.
	ln, err := transport.Listen(d.path, transport.Options{Mode: os.FileMode(cfg.SocketMode), Group: gid})
	if err != nil {
		if errors.Is(err, transport.ErrInUse) {
			return fmt.Errorf("%w on %s; leaving it alone", ErrInUse, d.path)
		}
		return err
	}
	serving := false
	d.onStop(func() {
		if !serving {
			ln.Close() // Serve owns it once started
		}
	})
	// 2. The bridge, before any client can register an id here.
	br, err := startBridge(ctx, cfg, d.srv, logging.For(d.root, logging.CategoryServer))
	if err != nil {
		return err
	}
	if br != nil {
		d.onStop(func() { stopBridge(br, d.log) })
	}
	// 3. Serving.
	serving = true
	go func() { d.served <- d.srv.Serve(ln) }()
	d.onStop(func() {
		d.shutdown()
		<-d.served
		d.served <- server.ErrServerClosed // for a Wait that comes later
	})
	// 4. HTTP.
	if cfg.HTTPAddress != "" {
		hs, addr, err := startHTTP(cfg.HTTPAddress, d.o.HTTPAllowRemote, d.srv, d.currentToken, logging.For(d.root, logging.CategoryHTTP))
		if err != nil {
			return err
		}
		d.httpAddr = addr
		d.onStop(func() {
			hctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			hs.Shutdown(hctx)
		})
	}
	// 5. The health monitor and the configuration watcher. Watching
	// begins before readiness is announced, so that an edit made as soon
	// as the bus answers is not missed.
	monitor := metrics.NewMonitor(logging.For(d.root, logging.CategoryHealth), monitorConfig(cfg), d.srv.Health)
	mctx, stopMonitor := context.WithCancel(context.Background())
	monitorDone := make(chan struct{})
	go func() { defer close(monitorDone); monitor.Run(mctx) }()
	d.onStop(func() { stopMonitor(); <-monitorDone })
	wctx, stopWatch := context.WithCancel(context.Background())
	d.onStop(stopWatch)
	current := cfg
	err = config.Watch(wctx, d.o.Sources, 200*time.Millisecond, func(r config.Reload) {
		current = d.applyReload(r, current, monitor)
	})
	if err != nil {
		d.log.Warn("Configuration files are not watched; edits need a restart", "err", err)
	}

	fmt.Fprintf(d.o.Stdout, "statebus listening on %s\n", d.path)
	d.log.Info("InterProcess Message Bus Service started successfully", "maxConnections", cfg.MaxConnections, "path", d.path)
	if d.o.Ready != nil {
		d.o.Ready(d.path)
	}
	return nil
}

// HTTPAddr returns the address HTTP is served on (host:port, with the
// port chosen when the configuration said 0), or "" without HTTP.
func (d *Daemon) HTTPAddr() string { return d.httpAddr }

// currentToken returns the bus's token as last configured.
func (d *Daemon) currentToken() string {
	if t := d.token.Load(); t != nil {
		return *t
	}
	return ""
}

// Path returns the socket path the bus listens on.
func (d *Daemon) Path() string { return d.path }

// Server returns the bus's server.
func (d *Daemon) Server() *server.Server { return d.srv }

// Wait blocks until ctx ends or serving fails, then stops the bus. It
// returns serving's failure, or nil after ctx ended or Stop.
func (d *Daemon) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
		d.log.Info("Stopping: signal received")
	case <-d.done:
		return nil
	case err = <-d.served:
		d.served <- err
		if errors.Is(err, server.ErrServerClosed) {
			err = nil
		} else {
			d.log.Error("Listener failed", "err", err)
		}
	}
	d.Stop()
	return err
}

// Stop stops everything Start started, in reverse order: the watcher,
// the monitor, HTTP, serving (connections drain within the configured
// shutdown timeout), the bridge (leaving the NATS network), the socket.
// Calling it again waits for the first call to finish.
func (d *Daemon) Stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		<-d.done
		return
	}
	d.stopped = true
	stops := d.stops
	d.stops = nil
	d.mu.Unlock()
	if d.o.Stopping != nil && len(stops) > 0 {
		d.o.Stopping()
	}
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	if d.log != nil && len(stops) > 0 {
		d.log.Info("InterProcess Message Bus Service stopped")
	}
	close(d.done)
}

// shutdown stops the server within the configured timeout, closing
// connections forcibly if they do not drain in time.
func (d *Daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout())
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil && !errors.Is(err, server.ErrServerClosed) {
		d.log.Warn("Shutdown timed out; connections closed forcibly", "err", err)
	}
}

// Run starts the bus and runs it until ctx ends or serving fails; see
// Start and Wait.
func Run(ctx context.Context, o Options) error {
	d, err := Start(ctx, o)
	if err != nil {
		return err
	}
	return d.Wait(ctx)
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
func (d *Daemon) serverConfig(cfg config.Config, log *slog.Logger) (server.Config, error) {
	token, err := cfg.ReadToken()
	if err != nil {
		return server.Config{}, err
	}
	authorize, err := authorizer(cfg)
	if err != nil {
		return server.Config{}, err
	}
	authorizeMonitor, err := monitorAuthorizer(cfg)
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
		AuthorizeMonitor:         authorizeMonitor,
		Logger:                   log,
		Build:                    d.o.Build,
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := br.Stop(ctx); err != nil {
		log.Warn("Bridge stop", "err", err)
	}
}

// applyReload applies a reloaded configuration (the command line still
// wins) and returns the configuration now in effect. The watcher has
// already loaded the files: r.Config is used as it is.
func (d *Daemon) applyReload(r config.Reload, old config.Config, mon *metrics.Monitor) config.Config {
	log := logging.For(d.root, logging.CategoryConfig)
	if r.Err != nil {
		log.Error("Configuration reload failed; keeping the previous settings", "err", r.Err)
		return old
	}
	cfg := r.Config
	if err := override(d.o, &cfg); err != nil {
		log.Error("Configuration reload failed; keeping the previous settings", "err", err)
		return old
	}
	for _, w := range r.Warnings {
		log.Warn("Configuration warning", "warning", w)
	}
	scfg, err := d.serverConfig(cfg, nil)
	if err == nil {
		err = d.srv.Reconfigure(scfg)
	}
	if err != nil {
		log.Error("Configuration reload failed; keeping the previous settings", "err", err)
		return old
	}
	d.token.Store(&scfg.Token)
	d.levels.Set(levelTable(cfg))
	mon.SetConfig(monitorConfig(cfg))
	for _, key := range config.RestartRequired(old, cfg) {
		log.Warn("Setting changed; it takes effect after a restart", "key", key)
	}
	log.Info("Configuration reloaded", "maxConnections", cfg.MaxConnections, "logLevel", cfg.LogLevels["Default"])
	return cfg
}

// startHTTP serves /healthz, /metrics and the web inspector (/, /api/)
// on addr, which must be a loopback address unless allowRemote. It returns
// the address it listens on.
func startHTTP(addr string, allowRemote bool, srv *server.Server, token func() string, log *slog.Logger) (*http.Server, string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("--http %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); !allowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, "", fmt.Errorf("--http %q is not a loopback address; add --http-allow-remote to serve it anyway", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	insp := inspector.New(inspector.ForServer(srv), inspector.Options{Token: token, AllowRemote: allowRemote, Logger: log})
	m := metrics.Handler(srv)
	mux := http.NewServeMux()
	mux.Handle("/healthz", m)
	mux.Handle("/metrics", m)
	mux.Handle("/", insp)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	hs.RegisterOnShutdown(insp.Close) // event streams do not end by themselves
	go hs.Serve(ln)
	url := "http://" + ln.Addr().String()
	log.Info("Serving /healthz, /metrics and the web inspector", "url", url+"/")
	return hs, ln.Addr().String(), nil
}
