package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/transport"
)

// DefaultPipeName is the bus's default pipe name, XStateNet.MessageBus.
const DefaultPipeName = transport.DefaultPipeName

// Conn is a connection to a statebus bus. All methods are safe for
// concurrent use. Calls wait for the bus's reply until their context ends;
// when the connection drops, pending calls fail at once with
// ErrDisconnected and, with reconnection on (the default), the Conn redials
// in the background, registers its machine ids again and keeps its
// handlers. Close ends everything.
type Conn struct {
	path string
	o    options
	recv *receiver

	mu       sync.Mutex
	sess     *session      // current session; nil while disconnected
	ready    chan struct{} // closed while connected
	state    State
	closed   bool
	machines []string                // ids to register after a reconnect, in order
	monitor  atomic.Pointer[Monitor] // the open Monitor; nil without one
	reports  map[string]stateReport  // each id's last ReportState, sent again after a reconnect

	wg   sync.WaitGroup // supervisor and session goroutines
	done chan struct{}  // closed by Close
}

var pid = os.Getpid()

// Resolve returns the socket path (or Windows pipe path) for addr: a path
// containing a separator is used as it is; any other string is a pipe name,
// mapped as .NET does ($TMPDIR/CoreFxPipe_NAME on Unix, \\.\pipe\NAME on
// Windows); "" means DefaultPipeName.
func Resolve(addr string) string {
	if strings.ContainsAny(addr, `/\`) {
		return addr
	}
	return transport.Resolve("", addr)
}

// Dial connects to the bus at addr (see Resolve) and registers the ids of
// WithMachines. It fails if nothing accepts within the dial timeout
// (default 5s) or if the bus refuses a registration (an *Error matching
// ErrIDTaken, say); the C# client went on silently, this one does not.
func Dial(ctx context.Context, addr string, opts ...Option) (*Conn, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	c := &Conn{
		path:  Resolve(addr),
		o:     o,
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
	c.recv = newReceiver(c, o.dispatchQueue)
	for _, id := range o.machines {
		c.addMachine(id)
	}
	s, err := c.connect(ctx)
	if err != nil {
		c.recv.close()
		return nil, err
	}
	go c.recv.run()
	c.wg.Add(1)
	go c.supervise(s)
	return c, nil
}

func (c *Conn) log() *slog.Logger {
	if c.o.logger != nil {
		return c.o.logger
	}
	return slog.Default()
}

func (c *Conn) setState(st State, err error) {
	c.mu.Lock()
	changed := c.state != st
	c.state = st
	c.mu.Unlock()
	if changed && c.o.onState != nil {
		c.o.onState(st, err)
	}
}

// Path returns the socket (or pipe) path the Conn dials.
func (c *Conn) Path() string { return c.path }

// State returns the current connection state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// connect dials, starts a session and registers every machine id.
func (c *Conn) connect(ctx context.Context) (*session, error) {
	c.setState(StateConnecting, nil)
	dctx, cancel := context.WithTimeout(ctx, c.o.dialTimeout)
	defer cancel()
	nc, err := transport.Dial(dctx, c.path)
	if err != nil {
		return nil, fmt.Errorf("statebus: cannot connect to the bus at %s within %v (is it running?): %w", c.path, c.o.dialTimeout, err)
	}
	s := newSession(c, nc)
	s.start()
	if c.o.token != "" {
		_, err := s.call(dctx.Done(), c.done, func(b []byte, n uint64) []byte { return protocol.AppendAuthRequest(b, n, c.o.token) })
		if err != nil {
			s.fail(err)
			<-s.done
			<-s.writerDone
			return nil, fmt.Errorf("statebus: authenticating: %w", err)
		}
	}
	c.mu.Lock()
	ids := append([]string(nil), c.machines...)
	c.mu.Unlock()
	for _, id := range ids {
		if err := c.register(dctx, s, id); err != nil {
			s.fail(err)
			<-s.done
			<-s.writerDone
			return nil, fmt.Errorf("statebus: registering %q: %w", id, err)
		}
	}
	if err := c.reportAgain(dctx, s, ids); err != nil {
		s.fail(err)
		<-s.done
		<-s.writerDone
		return nil, fmt.Errorf("statebus: reporting states again: %w", err)
	}
	if m := c.monitor.Load(); m != nil {
		if err := m.resend(dctx, s); err != nil {
			s.fail(err)
			<-s.done
			<-s.writerDone
			return nil, fmt.Errorf("statebus: monitoring: %w", err)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.fail(ErrClosed)
		return nil, ErrClosed
	}
	c.sess = s
	close(c.ready)
	c.mu.Unlock()
	c.setState(StateConnected, nil)
	return s, nil
}

func (c *Conn) register(ctx context.Context, s *session, id string) error {
	_, err := s.call(ctx.Done(), c.done, func(b []byte, n uint64) []byte {
		return protocol.AppendRegisterRequest(b, n, id, c.o.processName, pid, time.Now(), c.o.token)
	})
	if errors.Is(err, errCanceled) {
		err = ctx.Err()
	}
	return err
}

// supervise waits for each session to end and, unless closed or
// reconnection is off, dials a new one with backoff.
func (c *Conn) supervise(s *session) {
	defer c.wg.Done()
	for {
		<-s.done
		<-s.writerDone
		c.mu.Lock()
		c.sess = nil
		c.ready = make(chan struct{})
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		c.setState(StateDisconnected, s.err)
		if !c.o.reconnect {
			// Close without waiting for ourselves (we are in c.wg).
			c.mu.Lock()
			already := c.closed
			if !already {
				c.closed = true
				close(c.done)
			}
			c.mu.Unlock()
			if !already {
				c.recv.close()
				c.endMonitor(s.err)
				c.setState(StateClosed, s.err)
			}
			return
		}
		c.log().Warn("statebus client: disconnected from the bus; reconnecting", "path", c.path, "err", s.err)
		delay := c.o.backoffMin
		for {
			t := time.NewTimer(delay)
			select {
			case <-c.done:
				t.Stop()
				return
			case <-t.C:
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-c.done:
					cancel()
				case <-ctx.Done():
				}
			}()
			ns, err := c.connect(ctx)
			cancel()
			if err == nil {
				s = ns
				c.log().Info("statebus client: reconnected", "path", c.path)
				break
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			c.setState(StateDisconnected, err)
			delay = min(2*delay, c.o.backoffMax)
		}
	}
}

// current returns the live session, waiting for a reconnect when the
// Conn is set up to, else failing at once with ErrDisconnected.
func (c *Conn) current(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, ready, closed := c.sess, c.ready, c.closed
		c.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case s != nil:
			return s, nil
		case !c.o.waitReconnect:
			return nil, ErrDisconnected
		}
		select {
		case <-ready:
		case <-c.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// roundTrip sends one line on the live session and waits for its reply.
func (c *Conn) roundTrip(ctx context.Context, build func(b []byte, id uint64) []byte) ([]byte, error) {
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	data, err := s.call(ctx.Done(), c.done, build)
	if errors.Is(err, errCanceled) {
		select {
		case <-c.done:
			return nil, ErrClosed
		default:
			return nil, ctx.Err()
		}
	}
	return data, err
}

// complete delivers a reply to a call.
func (c *Conn) complete(pc pendingCall, r result) {
	if pc.ch != nil {
		pc.ch <- r
		return
	}
	if pc.done != nil {
		pc.done(r.err)
		return
	}
	if r.err != nil {
		var k sendKey
		if pc.key != nil {
			k = *pc.key
		}
		c.asyncError(&AsyncError{Target: k.target, Event: k.event, Err: r.err})
	}
}

func (c *Conn) asyncError(e *AsyncError) {
	c.recv.asyncErrors.Add(1)
	if c.o.onAsyncError != nil {
		c.o.onAsyncError(e)
		return
	}
	c.log().Warn("statebus client: async send failed", "target", e.Target, "event", e.Event, "err", e.Err)
}

// Close closes the connection: pending calls fail with ErrClosed, handlers
// stop being called, and every goroutine of the Conn ends. It is
// idempotent and returns nil. It must not be called from a handler.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait() // closed by the supervisor, or a concurrent Close
		return nil
	}
	c.closed = true
	close(c.done)
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		s.fail(ErrClosed)
	}
	c.wg.Wait()
	c.recv.close()
	c.endMonitor(ErrClosed)
	c.setState(StateClosed, nil)
	return nil
}

func (c *Conn) addMachine(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.machines {
		if m == id {
			return
		}
	}
	c.machines = append(c.machines, id)
}

func (c *Conn) removeMachine(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.reports, id)
	for i, m := range c.machines {
		if m == id {
			c.machines = append(c.machines[:i], c.machines[i+1:]...)
			return
		}
	}
}

// Machines returns the ids registered on this connection, in order.
func (c *Conn) Machines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.machines...)
}

func (c *Conn) defaultSource() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.machines) == 0 {
		return "", ErrNoMachine
	}
	return c.machines[0], nil
}
