// Package server is the statebus daemon core: an accept loop over any
// net.Listener, one reader goroutine per connection (plus a writer only while
// its socket is full), bounded outbound queues and the limits that keep one
// client from hurting another.
// It speaks wire protocol v1 (package protocol) and routes through package
// router.
//
// Lifecycle: New validates the configuration; Serve blocks accepting on a
// listener (it may be called for several listeners); Shutdown stops
// accepting, lets each connection finish the line it is handling, flushes
// what is queued and closes everything. Serve then returns ErrServerClosed.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/router"
)

// ErrServerClosed is returned by Serve after Shutdown, and by Serve and
// Shutdown when called on a server that is already shut down.
var ErrServerClosed = errors.New("server: closed")

// Config holds the server's limits. Zero fields take the documented
// defaults; negative values are invalid.
type Config struct {
	// MaxConnections bounds concurrent connections; a connection beyond it
	// gets one error line and is closed. Default 100.
	MaxConnections int
	// MaxMessageBytes bounds one line, terminator excluded; a longer line
	// gets an error and its connection is closed. Default 1 MiB.
	MaxMessageBytes int
	// MaxQueueBytes bounds each connection's outbound queue. Events to a
	// connection whose queue is full fail at once with queue_full; a
	// connection whose own replies fill it stops being read until the
	// queue drains. Default 4 MiB.
	MaxQueueBytes int
	// MaxMachinesPerConnection bounds the ids one connection may own.
	// Default 1000.
	MaxMachinesPerConnection int
	// MaxPendingRequests bounds one connection's unanswered Requests.
	// Default 1000.
	MaxPendingRequests int
	// RequestTimeout applies to a Request that sets no TimeoutMs.
	// Default 30s.
	RequestTimeout time.Duration
	// WriteTimeout bounds one write to a client; a client that does not
	// read for this long is disconnected. Default 30s.
	WriteTimeout time.Duration
	// MaxEventsPerSecond bounds the SendEvent, Publish and Request lines
	// one connection may send per second (a token bucket with a burst of
	// one second's worth); beyond it they fail with rate_limited. 0, the
	// default, means no limit: queue backpressure already bounds a fast
	// client's effect on others.
	MaxEventsPerSecond int
	// Token, when not empty, must be presented in Register (or an object
	// Subscribe) before a connection may do anything but Ping. It is
	// compared in constant time and never logged.
	Token string
	// Peer, if set, reports the OS identity of a new connection's peer.
	Peer func(net.Conn) (PeerInfo, error)
	// Authorize, if set, decides at accept whether a peer may connect; a
	// refused connection gets one unauthorized line and is closed.
	Authorize func(PeerInfo) error
	// AuthorizeMonitor decides whether a peer may attach a monitor (see
	// every payload, docs/protocol.md §4.12). Default: the bus's own
	// user and root; a peer whose user the transport cannot tell only
	// with the Token set and presented.
	AuthorizeMonitor func(PeerInfo) error
	// Logger receives the server's logs. Default: slog.Default().
	Logger *slog.Logger
	// Build says which binary is serving: its Version is the Health
	// reply's Version, and /metrics reports it as statebus_build_info.
	// Default: unknown (both left out).
	Build metrics.BuildInfo
}

// PeerInfo is the OS's view of a connection's peer; -1 where unknown.
type PeerInfo struct {
	PID, UID, GID int
}

// unknownPeer is the PeerInfo of a connection without OS credentials.
var unknownPeer = PeerInfo{PID: -1, UID: -1, GID: -1}

// Defaults for Config.
const (
	DefaultMaxConnections           = 100
	DefaultMaxMessageBytes          = protocol.DefaultMaxLine
	DefaultMaxQueueBytes            = 4 << 20
	DefaultMaxMachinesPerConnection = 1000
	DefaultMaxPendingRequests       = 1000
	DefaultRequestTimeout           = 30 * time.Second
	DefaultWriteTimeout             = 30 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	for _, v := range []struct {
		name string
		val  int64
	}{
		{"MaxConnections", int64(c.MaxConnections)},
		{"MaxMessageBytes", int64(c.MaxMessageBytes)},
		{"MaxQueueBytes", int64(c.MaxQueueBytes)},
		{"MaxMachinesPerConnection", int64(c.MaxMachinesPerConnection)},
		{"MaxPendingRequests", int64(c.MaxPendingRequests)},
		{"RequestTimeout", int64(c.RequestTimeout)},
		{"WriteTimeout", int64(c.WriteTimeout)},
		{"MaxEventsPerSecond", int64(c.MaxEventsPerSecond)},
	} {
		if v.val < 0 {
			return c, fmt.Errorf("server: %s must not be negative", v.name)
		}
	}
	def := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	def(&c.MaxConnections, DefaultMaxConnections)
	def(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	def(&c.MaxQueueBytes, DefaultMaxQueueBytes)
	def(&c.MaxMachinesPerConnection, DefaultMaxMachinesPerConnection)
	def(&c.MaxPendingRequests, DefaultMaxPendingRequests)
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Server is a statebus bus. Its methods are safe for concurrent use.
type Server struct {
	cfg    atomic.Pointer[Config] // current limits; see Reconfigure
	log    *slog.Logger
	debug  atomic.Bool // debug logging enabled; cached off the hot path
	router *router.Router
	bridge Bridge // nil without one; set before Serve
	// parker keeps idle connections without a goroutine; parks reports
	// whether it does (noParking otherwise). Set by the first Serve,
	// before any connection exists; stopped by Shutdown.
	parker  idler
	parks   bool
	started bool // Serve has started the background work (under mu)

	startedAt time.Time
	active    atomic.Int64 // live connections
	nextConn  atomic.Uint64
	lastSeen  atomic.Int64      // unix nanos of the last connect
	latency   metrics.Histogram // sampled SendEvent routing latency

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	peak      int
	peakAt    time.Time
	totals    stats  // counters of connections that are gone
	rejected  uint64 // refused at MaxConnections
	refused   uint64 // refused by Authorize

	// Monitors (trace.go): the attached tappers, nil when none.
	taps          atomic.Pointer[tapSet]
	tapMu         sync.Mutex // serializes changes of taps
	traceSeq      atomic.Uint64
	tracesDropped atomic.Uint64

	// Machine states (state.go), by machine id.
	stateMu sync.Mutex
	states  map[string]*machineState

	wg   sync.WaitGroup // connection and rejection goroutines
	done chan struct{}  // closed by Shutdown
}

// New returns a server with cfg's limits. It starts nothing: a server
// that is never served holds no goroutine and no descriptor, and needs no
// Shutdown.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		log:       cfg.Logger,
		router:    router.New(router.Limits{MachinesPerEndpoint: cfg.MaxMachinesPerConnection, PendingPerEndpoint: cfg.MaxPendingRequests}),
		startedAt: time.Now(),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		states:    make(map[string]*machineState),
		done:      make(chan struct{}),
	}
	s.cfg.Store(&cfg)
	s.debug.Store(cfg.Logger.Enabled(context.Background(), slog.LevelDebug))
	s.lastSeen.Store(s.startedAt.UnixNano())
	s.parker = noParking{}
	return s, nil
}

// limits returns the current configuration.
func (s *Server) limits() *Config { return s.cfg.Load() }

// Reconfigure applies new limits while serving: MaxConnections applies to
// the next connection, queue, timeout and per-connection limits to the
// next line, MaxMessageBytes to new connections. Its Logger field is
// ignored (the logger is fixed at New), but whether debug logging is on is
// re-read from it, for log levels changed by a config reload.
func (s *Server) Reconfigure(cfg Config) error {
	cfg.Logger = s.log
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	s.cfg.Store(&cfg)
	s.router.SetLimits(router.Limits{MachinesPerEndpoint: cfg.MaxMachinesPerConnection, PendingPerEndpoint: cfg.MaxPendingRequests})
	s.debug.Store(s.log.Enabled(context.Background(), slog.LevelDebug))
	return nil
}

// Serve accepts connections on ln until Shutdown or a permanent accept
// error, and returns ErrServerClosed or that error. Serve takes ownership
// of ln and closes it on return.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	if !s.started {
		s.started = true
		s.parker, s.parks = startIdler(s)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return ErrServerClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off and retry,
				// as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.done:
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		backoff = 0
		s.admit(nc)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// admit starts serving nc, or refuses it at MaxConnections or when
// Authorize rejects its peer.
func (s *Server) admit(nc net.Conn) {
	cfg := s.limits()
	peer := unknownPeer
	if cfg.Peer != nil {
		if p, err := cfg.Peer(nc); err == nil {
			peer = p
		}
	}
	var refusal error
	if cfg.Authorize != nil {
		refusal = cfg.Authorize(peer)
	}
	// Every goroutine counted by wg is added under mu after checking
	// closed, so none can start once Shutdown has begun to wait.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if refusal != nil {
		s.refused++
		s.wg.Add(1)
		s.mu.Unlock()
		s.log.Warn("Connection refused", "reason", refusal.Error(), "pid", peer.PID, "uid", peer.UID)
		s.traceConn(protocol.TraceConnect, 0, peer, protocol.CodeUnauthorized, protocol.TextAccessDenied+refusal.Error())
		go s.refuse(nc, protocol.CodeUnauthorized, protocol.TextAccessDenied+refusal.Error())
		return
	}
	n := int(s.active.Load())
	if n >= cfg.MaxConnections {
		s.rejected++
		s.wg.Add(1)
		s.mu.Unlock()
		s.log.Warn("Connection refused: too many connections", "max", cfg.MaxConnections, "pid", peer.PID, "uid", peer.UID)
		s.traceConn(protocol.TraceConnect, 0, peer, protocol.CodeTooManyConnections, protocol.TextTooManyConns)
		go s.refuse(nc, protocol.CodeTooManyConnections, fmt.Sprintf("%s (limit %d)", protocol.TextTooManyConns, cfg.MaxConnections))
		return
	}
	s.active.Add(1)
	n++
	now := time.Now()
	if n > s.peak {
		s.peak, s.peakAt = n, now
	}
	c := newConn(s, nc)
	c.peer = peer
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.lastSeen.Store(now.UnixNano())
	s.log.Info("Client connected", "connections", n, "conn", c.id, "pid", peer.PID, "uid", peer.UID)
	s.traceConn(protocol.TraceConnect, c.id, peer, protocol.CodeNone, "")
	go c.serve()
}

// refuse writes one fatal error line to nc and closes it.
func (s *Server) refuse(nc net.Conn, code protocol.Code, text string) {
	defer s.wg.Done()
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(protocol.AppendError(nil, nil, code, text))
	linger(nc)
}

// gone is called once per connection after both its goroutines ended.
func (s *Server) gone(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.totals.add(&c.stats)
	n := s.active.Add(-1)
	s.mu.Unlock()
	s.log.Info("Client disconnected", "connections", n, "conn", c.id)
	s.traceConn(protocol.TraceDisconnect, c.id, c.peer, protocol.CodeNone, "")
	s.wg.Done()
}

// Shutdown stops accepting, stops reading from every connection after the
// line in hand, flushes queued lines and closes all connections. If ctx
// ends first, remaining connections are closed at once and ctx's error is
// returned. Serve returns ErrServerClosed. Calling Shutdown again returns
// ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	close(s.done)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.parker.stop()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-finished
		return ctx.Err()
	}
}

// Router returns the server's routing table, for inspection.
func (s *Server) Router() *router.Router { return s.router }
