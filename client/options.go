package client

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Option configures Dial.
type Option func(*options)

type options struct {
	machines      []string
	dialTimeout   time.Duration
	reconnect     bool
	waitReconnect bool
	backoffMin    time.Duration
	backoffMax    time.Duration
	onState       func(State, error)
	onAsyncError  func(*AsyncError)
	processName   string
	logger        *slog.Logger
	dispatchQueue int
	token         string
	sendBuffer    int
}

func defaultOptions() options {
	return options{
		dialTimeout:   5 * time.Second,
		reconnect:     true,
		backoffMin:    100 * time.Millisecond,
		backoffMax:    5 * time.Second,
		processName:   filepath.Base(os.Args[0]),
		dispatchQueue: 65536,
		sendBuffer:    4 << 20,
	}
}

// WithMachines registers ids on the connection during Dial (and again
// after every reconnect). Dial fails if the bus refuses any of them.
func WithMachines(ids ...string) Option {
	return func(o *options) { o.machines = append(o.machines, ids...) }
}

// WithDialTimeout bounds how long Dial (and each reconnect attempt) waits
// for the bus to accept. Default 5s.
func WithDialTimeout(d time.Duration) Option {
	return func(o *options) { o.dialTimeout = d }
}

// WithReconnect turns automatic reconnection on or off. On (the default),
// a lost connection is redialled with backoff, every id is registered
// again and handlers stay armed. Off, the Conn is closed when the
// connection drops.
func WithReconnect(on bool) Option {
	return func(o *options) { o.reconnect = on }
}

// WithWaitForReconnect makes calls made while disconnected wait (until
// their context ends) for the connection to come back instead of failing
// at once with ErrDisconnected. Default off.
func WithWaitForReconnect(on bool) Option {
	return func(o *options) { o.waitReconnect = on }
}

// WithBackoff sets the reconnect delays: the first retry waits min, each
// next one twice as long, up to max. Defaults 100ms and 5s.
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = min, max }
}

// WithStateHandler calls fn on every state change, with the error that
// caused a disconnection. fn runs on the Conn's own goroutine and must not
// block for long.
func WithStateHandler(fn func(State, error)) Option {
	return func(o *options) { o.onState = fn }
}

// WithAsyncErrorHandler calls fn for every SendAsync the bus refused and
// every Reply it could not deliver. Without it such failures are logged at
// Warning and counted in Stats. fn runs on the Conn's reader goroutine and
// must not block.
func WithAsyncErrorHandler(fn func(*AsyncError)) Option {
	return func(o *options) { o.onAsyncError = fn }
}

// WithProcessName sets the ProcessName sent in Register. Default: the
// program's base name.
func WithProcessName(name string) Option {
	return func(o *options) { o.processName = name }
}

// WithLogger sets where the client logs. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithDispatchQueue bounds how many received events wait for handlers.
// When it is full the Conn stops reading from the bus until handlers
// catch up (acknowledgements wait too). Default 65536.
func WithDispatchQueue(n int) Option {
	return func(o *options) { o.dispatchQueue = n }
}

// WithSendBuffer bounds the bytes queued for the bus and not yet written.
// Beyond it, sends (SendAsync included) wait for the connection to drain,
// so a fast sender cannot grow its memory without limit. Default 4 MiB.
// A handler that sends while the dispatch queue (WithDispatchQueue) is
// also full waits on the bus, which waits for this client to read: keep
// handlers that send under sustained overload rare, or raise both bounds.
func WithSendBuffer(bytes int) Option {
	return func(o *options) {
		if bytes > 0 {
			o.sendBuffer = bytes
		}
	}
}

// WithToken sends the bus's shared token with every Register, for a bus
// configured with MessageBus.Token. Default: none.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// State is the connection state reported to a state handler.
type State int

// Connection states.
const (
	StateConnecting   State = iota // dialling or re-registering
	StateConnected                 // registered and ready
	StateDisconnected              // the connection dropped; reconnecting
	StateClosed                    // Close was called, or reconnect is off
)

func (s State) String() string {
	return [...]string{"connecting", "connected", "disconnected", "closed"}[s]
}
