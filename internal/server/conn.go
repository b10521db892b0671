package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
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
// its outbound queue under mu by whoever produces them; the producer then
// flushes: the reader at the end of each batch of lines it read (for its
// own replies and every target it delivered to), other goroutines at once.
// A flush writes without blocking; only when the socket is full does a
// writer goroutine take over, until the queue is empty. An idle
// connection therefore has one goroutine, its reader.
type conn struct {
	srv *Server
	id  uint64
	nc  net.Conn
	rd  *protocol.Reader
	raw rawWriter // non-blocking writes; nil where unsupported

	// Reader-goroutine state, reused for every line.
	dec   *protocol.Decoder // remembers the shapes of recent event lines; nil while parked
	req   protocol.Request
	ev    protocol.Event
	reg   protocol.Registration
	ans   protocol.Answer
	dirty []*conn // connections delivered to in this batch, to flush at its end
	route router.RouteCache

	watched  bool // the parker's epoll knows the socket (reader or parker only)
	deadline bool // an idle read deadline is set (reader goroutine only)

	peer   PeerInfo // from the OS, set before serve starts
	authed bool     // presented the Token (reader goroutine only)
	tokens float64  // rate limit bucket (reader goroutine only)
	refill int64    // unix nanos of the last refill

	stats stats
	// lastActive is the unix nanos of the last batch read.
	lastActive atomic.Int64

	mu          sync.Mutex
	room        sync.Cond // signalled when the queue is taken or flushing ends
	out         []byte    // the queue's current chunk (see queue.go)
	full        [][]byte  // the queue's earlier chunks, oldest first
	fullBytes   int       // bytes in full
	spareList   [][]byte  // an emptied chunk list, for the next take
	flushing    bool      // a flush or the writer goroutine owns the write side
	roomWaiting bool      // the reader is parked on room
	closing     bool      // the reader is done; nothing more is queued
	dead        bool      // the socket failed; nothing more is written
	stopping    bool      // Shutdown asked the reader to stop
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv: s,
		id:  s.nextConn.Add(1),
		nc:  nc,
		rd:  protocol.NewReader(nc, s.limits().MaxMessageBytes),
		raw: newRawWriter(nc),
	}
	c.room.L = &c.mu
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
	c.flushBatch()
	released := c.srv.router.Remove(c)
	for _, id := range released {
		c.srv.log.Info("Removed writer for disconnected machine: "+id, "conn", c.id)
	}
	c.srv.released(released...)
	c.finalFlush()
	if eof {
		c.nc.Close()
	} else {
		linger(c.nc)
	}
	c.srv.gone(c)
}

// finalFlush stops queuing, waits for any flush in progress and writes
// what is left, blocking up to WriteTimeout.
func (c *conn) finalFlush() {
	c.mu.Lock()
	c.closing = true
	for c.flushing {
		c.room.Wait()
	}
	empty, dead := c.queuedLocked() == 0, c.dead
	bufs := c.takeLocked()
	c.mu.Unlock()
	if dead || empty {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.limits().WriteTimeout))
	for i, buf := range bufs {
		n, err := c.nc.Write(buf)
		c.stats.bytesOut.Add(uint64(n))
		if err != nil {
			c.stats.dropped.Add(uint64(bytes.Count(buf[n:], []byte{'\n'}) + countLines(bufs[i+1:])))
			return
		}
	}
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
			case c.srv.parker == nil:
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
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.srv.parker != nil && !c.isStopping() {
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
			if errors.Is(err, protocol.ErrLineTooLong) {
				c.req = protocol.Request{} // no Id: the line was never decoded
				c.stats.fail(protocol.CodeLineTooLong)
				c.replyError(protocol.CodeLineTooLong, protocol.TextLineTooLong)
				c.srv.log.Warn("Closing connection: line exceeds MaxMessageBytes", "conn", c.id)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
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

// wakeRoomLocked lets a reader waiting for room re-check. c.mu held.
func (c *conn) wakeRoomLocked() {
	if c.roomWaiting {
		c.roomWaiting = false
		c.room.Broadcast()
	}
}

// flush writes the queue without blocking, unless another flush or the
// writer goroutine owns the write side (it will see the queue). When the
// socket cannot take everything, a writer goroutine writes the rest and
// whatever is queued meanwhile.
func (c *conn) flush() {
	c.mu.Lock()
	if c.flushing || c.dead || c.queuedLocked() == 0 {
		c.mu.Unlock()
		return
	}
	c.flushing = true
	for c.queuedLocked() > 0 {
		bufs := c.takeLocked()
		c.wakeRoomLocked()
		c.mu.Unlock()
		n, err := c.raw.write(bufs)
		c.stats.bytesOut.Add(uint64(n))
		i, off := locate(bufs, n)
		if err != nil {
			c.fail(err, bufs, i, off)
			return
		}
		if i < len(bufs) {
			go c.writeLoop(bufs, i, off)
			return
		}
		c.mu.Lock()
		c.recycleLocked(bufs)
	}
	c.endFlushLocked()
	c.mu.Unlock()
}

// endFlushLocked gives up the write side. c.mu held.
func (c *conn) endFlushLocked() {
	c.flushing = false
	c.room.Broadcast()
}

// writeLoop writes bufs from bufs[i][n:] on with blocking writes (bounded
// by WriteTimeout, so a client that stops reading is dropped), then
// whatever was queued meanwhile, and exits when the queue is empty. It
// owns the write side.
func (c *conn) writeLoop(bufs [][]byte, i, n int) {
	for {
		c.nc.SetWriteDeadline(time.Now().Add(c.srv.limits().WriteTimeout))
		for ; i < len(bufs); i, n = i+1, 0 {
			m, err := c.nc.Write(bufs[i][n:])
			c.stats.bytesOut.Add(uint64(m))
			if err != nil {
				c.fail(err, bufs, i, n+m)
				return
			}
		}
		c.mu.Lock()
		c.recycleLocked(bufs)
		if c.queuedLocked() == 0 || c.dead {
			c.endFlushLocked()
			c.mu.Unlock()
			return
		}
		bufs, i, n = c.takeLocked(), 0, 0
		c.wakeRoomLocked()
		c.mu.Unlock()
	}
}

// fail marks the connection dead after a write error: what was not
// written is counted as dropped, and the socket is closed, which also
// ends the reader.
// The write failed at bufs[i][n:], the chunks the caller took.
func (c *conn) fail(err error, bufs [][]byte, i, n int) {
	c.mu.Lock()
	if !c.dead {
		c.dead = true
		// Lines queued for a peer that is gone (what its socket buffer
		// held is lost uncounted).
		lost := 0
		if i < len(bufs) {
			lost = bytes.Count(bufs[i][n:], []byte{'\n'}) + countLines(bufs[i+1:])
		}
		c.stats.dropped.Add(uint64(lost + countLines(c.full) + bytes.Count(c.out, []byte{'\n'})))
	}
	c.recycleLocked(c.takeLocked())
	if bufs != nil {
		c.recycleLocked(bufs)
	}
	c.endFlushLocked()
	c.mu.Unlock()
	var ne net.Error
	switch {
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		c.srv.log.Debug("Closing connection: peer gone", "conn", c.id, "err", err)
	case errors.As(err, &ne) && ne.Timeout():
		c.srv.log.Warn("Closing connection: client not reading (write timeout)", "conn", c.id)
	default:
		c.srv.log.Warn("Closing connection: write failed", "conn", c.id, "err", err)
	}
	c.nc.Close()
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
		c.fail(errors.New("not reading its replies"), nil, 0, 0)
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
	c.flush()
}
