package server

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/router"
)

// flushEarly is the queue size at which a delivery is written at once
// instead of at the end of the sender's batch.
const flushEarly = 64 << 10

// conn is one client connection. Its reader goroutine (serve) decodes and
// handles request lines in order. Lines for a connection are appended to
// its outbox by whoever produces them; the producer then flushes: the
// reader at the end of each batch of lines it read (for its own replies
// and every target it delivered to), other goroutines at once. An idle
// connection therefore has one goroutine, its reader, or none while it is
// parked (see idler).
type conn struct {
	outbox // the write side; its mu also guards stopping

	srv *Server
	id  uint64
	rd  *protocol.Reader

	// Reader-goroutine state, reused for every line.
	dec   *protocol.Decoder // remembers the shapes of recent event lines; nil while parked
	req   protocol.Request
	ev    protocol.Event
	reg   protocol.Registration
	ans   protocol.Answer
	dirty []*conn // connections delivered to in this batch, to flush at its end
	route router.RouteCache

	canPark  bool // idle reads hand the connection to the idler (set before serve)
	watched  bool // the parker's epoll knows the socket (reader, or the parker under its lock)
	deadline bool // an idle read deadline is set (reader goroutine only)

	peer   PeerInfo // from the OS, set before serve starts
	authed bool     // presented the Token (reader goroutine only)
	tokens float64  // rate limit bucket (reader goroutine only)
	refill int64    // unix nanos of the last refill

	stats stats
	// lastActive is the unix nanos of the last batch read.
	lastActive atomic.Int64

	stopping bool // Shutdown asked the reader to stop; under outbox.mu

	lineLen int      // length of the line being handled (reader goroutine only)
	tap     *connTap // this connection's monitor, if it sent Monitor (reader goroutine only)

	// life ends (end is called) at the teardown, after the router forgot
	// the connection: Requests it sent to other hosts are then abandoned
	// (Bridge.Request). Both are nil without a bridge; set before serve.
	life context.Context
	end  context.CancelFunc
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv: s,
		id:  s.nextConn.Add(1),
		rd:  protocol.NewReader(nc, s.limits().MaxMessageBytes),
	}
	c.outbox.init(nc, func() time.Duration { return s.limits().WriteTimeout }, &c.stats, c.failed)
	c.canPark = s.parks && c.raw != nil
	if s.bridge != nil {
		c.life, c.end = context.WithCancel(context.Background())
	}
	return c
}

// parkAfter is how long a connection may stay silent before its reader
// goroutine hands it to the parker (Linux) and exits.
var parkAfter = 250 * time.Millisecond

// serve runs the connection: the reader loop, then the teardown. When the
// loop parks the connection, serve returns at once and runs again, on a
// new goroutine, when input arrives.
func (c *conn) serve() {
	eof, parked := c.readLoop()
	if parked {
		return
	}
	c.srv.parker.forget(c)
	c.detachMonitor()
	c.flushBatch()
	released := c.srv.router.Remove(c)
	for _, id := range released {
		c.srv.log.Info("Removed writer for disconnected machine", "machine", id, "conn", c.id)
		c.traceMachine(protocol.TraceUnregister, id, protocol.CodeNone, nil)
	}
	if c.end != nil {
		c.end() // abandon its Requests pending on other hosts
	}
	c.srv.released(released...)
	c.outbox.close()
	if eof {
		c.nc.Close()
	} else {
		linger(c.nc)
	}
	c.srv.gone(c)
}

// lingerTime bounds how long a closing connection's unread input is
// drained.
const lingerTime = time.Second

// linger closes nc without losing what was written to it: closing a socket
// that still holds unread input makes the peer see a reset and lose lines
// it had not read yet (the last error reply, say). So it ends the write
// side, then reads and discards until the peer closes or lingerTime
// passes, then closes.
func linger(nc net.Conn) {
	defer nc.Close()
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	nc.SetReadDeadline(time.Now().Add(lingerTime))
	var buf [4096]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// readLoop handles lines until the connection ends. It reports whether
// the peer closed it (EOF); otherwise the peer may still be sending. It
// reports parked when the connection went idle and was handed to the
// parker: the caller must then do nothing more.
func (c *conn) readLoop() (eof, parked bool) {
	for {
		if !c.rd.HasLine() {
			// About to block in Read: write what this batch queued, ours
			// and our targets'. Activity is recorded per batch.
			c.flushBatch()
			c.lastActive.Store(time.Now().UnixNano())
			switch {
			case !c.canPark:
			case c.rd.Buffered() == 0:
				c.setIdleDeadline(time.Now().Add(parkAfter))
				c.deadline = true
			case c.deadline:
				// A partial line waits for the rest: no idle deadline.
				c.setIdleDeadline(time.Time{})
				c.deadline = false
			}
		}
		line, err := c.rd.ReadLine()
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.canPark && !c.isStopping() {
			// Silent for parkAfter: park unless a partial line waits.
			c.deadline = false
			if c.rd.Buffered() == 0 {
				c.rd.Release()
				c.dec = nil
				c.route = router.RouteCache{}
				if c.srv.parker.park(c) {
					return false, true
				}
			}
			c.setIdleDeadline(time.Time{})
			continue
		}
		if err != nil {
			if pe := protocolError(err); pe != nil {
				// The reader's own verdict on the input (a line too long).
				c.req = protocol.Request{} // no Id: the line was never decoded
				c.stats.fail(pe.Code)
				c.replyError(pe.Code, pe.Text)
				c.lineLen = 0
				c.traceFailure(pe.Code, pe.Text)
				if !pe.Code.Fatal() {
					continue
				}
				c.srv.log.Warn("Closing connection", "reason", pe.Text, "code", pe.Code.String(), "limit", c.srv.limits().MaxMessageBytes, "conn", c.id)
				return false, false
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				c.srv.log.Debug("read failed", "conn", c.id, "err", err)
			}
			return errors.Is(err, io.EOF), false
		}
		if !c.waitRoom() {
			return false, false
		}
		c.handle(line)
	}
}

// protocolError returns err's *protocol.Error, or nil. Out of line, so
// that the variable errors.As needs is not allocated for every line read.
func protocolError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// waitRoom blocks while the outbound queue is over its bound, so a client
// that does not read its replies stops being read. It reports false if the
// connection is going away.
func (c *conn) waitRoom() bool {
	max := c.srv.limits().MaxQueueBytes
	c.mu.Lock()
	if c.queuedLocked() >= max {
		c.mu.Unlock()
		c.flushBatch()
		c.mu.Lock()
		for c.queuedLocked() >= max && !c.dead && !c.stopping {
			c.roomWaiting = true
			c.room.Wait()
		}
	}
	ok := !c.dead && !c.stopping
	c.mu.Unlock()
	return ok
}

// stopReading makes the reader return after the line in hand; a parked
// connection is resumed to do so.
func (c *conn) stopReading() {
	c.mu.Lock()
	c.stopping = true
	c.nc.SetReadDeadline(time.Now())
	c.room.Broadcast()
	c.mu.Unlock()
	c.srv.parker.unpark(c)
}

// setIdleDeadline sets the reader's idle deadline unless Shutdown has
// asked it to stop (whose deadline must stand). Under mu, so the two
// cannot interleave.
func (c *conn) setIdleDeadline(t time.Time) {
	c.mu.Lock()
	if !c.stopping {
		c.nc.SetReadDeadline(t)
	}
	c.mu.Unlock()
}

func (c *conn) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// flushBatch writes this connection's queue and those of the connections
// it delivered to since the last batch. Reader goroutine only.
// Targets go first: their events are what the other side waits for;
// our acknowledgements can follow.
func (c *conn) flushBatch() {
	for i, t := range c.dirty {
		t.flush()
		c.dirty[i] = nil
	}
	c.dirty = c.dirty[:0]
	c.flush()
}

// markDirty notes that t has lines to flush at the end of c's batch.
// Reader goroutine of c only.
func (c *conn) markDirty(t *conn) {
	if n := len(c.dirty); n == 0 || c.dirty[n-1] != t {
		c.dirty = append(c.dirty, t)
	}
}

// failed is the outbox's report of a failed write (or of a requester that
// does not read its replies): it says what happened and resumes a parked
// connection for its teardown.
func (c *conn) failed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errNotReading):
		c.srv.log.Warn("Closing connection: client not reading its replies", "conn", c.id, "queueLimit", c.srv.limits().MaxQueueBytes)
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		c.srv.log.Debug("Closing connection: peer gone", "conn", c.id, "err", err)
	case errors.As(err, &ne) && ne.Timeout():
		c.srv.log.Warn("Closing connection: client not reading (write timeout)", "conn", c.id)
	default:
		c.srv.log.Warn("Closing connection: write failed", "conn", c.id, "err", err)
	}
	// A parked connection has no reader to notice the close (the socket
	// leaves the parker's epoll with it): resume it for the teardown.
	c.srv.parker.unpark(c)
}

// Deliver implements router.Endpoint: it queues an event or request line
// without blocking. A line that would push the queue past MaxQueueBytes is
// refused, unless the queue is empty (so one large line always fits).
//
// When from is a connection (the sender, on its reader goroutine), the
// line is written at the end of the sender's batch; otherwise at once.
func (c *conn) Deliver(kind protocol.Kind, ev *protocol.Event, m *router.Machine, requestID uint64, from router.Endpoint) error {
	var now time.Time
	if ev.Timestamp.IsZero() {
		now = time.Now()
	}
	c.mu.Lock()
	if c.closing || c.dead {
		c.mu.Unlock()
		return router.ErrClosed
	}
	before := c.queuedLocked()
	c.reserveLocked(eventRoom(ev))
	old := len(c.out)
	c.out = protocol.AppendEvent(c.out, kind, ev, m.Token, now, requestID)
	if before > 0 && c.queuedLocked() > c.srv.limits().MaxQueueBytes {
		c.out = c.out[:old]
		c.mu.Unlock()
		return router.ErrQueueFull
	}
	big := c.queuedLocked() >= flushEarly
	c.mu.Unlock()
	if sender, ok := from.(*conn); ok && !big {
		sender.markDirty(c)
	} else {
		c.flush()
	}
	return nil
}

// Complete implements router.Endpoint: it queues the reply to one of this
// connection's Requests. A requester whose queue is far past its bound is
// not reading and is disconnected rather than buffered without limit.
func (c *conn) Complete(p *router.Pending, a *protocol.Answer, fail *protocol.Error) {
	c.mu.Lock()
	if c.dead || c.closing {
		c.mu.Unlock()
		return
	}
	if c.queuedLocked() > 2*c.srv.limits().MaxQueueBytes {
		c.mu.Unlock()
		c.fail(errNotReading, nil, 0, 0)
		return
	}
	if fail != nil {
		c.reserveLocked(replyRoom)
		c.out = protocol.AppendError(c.out, p.ReplyID, fail.Code, fail.Text)
		c.stats.fail(fail.Code)
	} else {
		c.reserveLocked(len(a.Payload) + replyRoom)
		c.out = protocol.AppendAnswer(c.out, p.ReplyID, p.ID, p.Target.Token, a)
	}
	c.mu.Unlock()
	if c.srv.tracing() {
		c.traceCompletion(p, a, fail)
	}
	c.flush()
}
