package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/router"
)

// spareCap bounds the write buffer a connection keeps once its writer goes
// idle, so an idle connection does not hold on to a burst's worth of memory.
const spareCap = 64 << 10

// conn is one client connection. Its reader goroutine (serve) decodes and
// handles request lines in order; its writer goroutine (writeLoop) owns all
// writes to the socket. Anyone may append to the outbound queue under mu.
type conn struct {
	srv *Server
	id  uint64
	nc  net.Conn
	rd  *protocol.Reader

	// Reader-goroutine state, reused for every line.
	req    protocol.Request
	ev     protocol.Event
	reg    protocol.Registration
	ans    protocol.Answer
	srcBuf [protocol.MaxMachineIDBytes + 8]byte
	tgtBuf [protocol.MaxMachineIDBytes + 8]byte

	peer   PeerInfo // from the OS, set before serve starts
	authed bool     // presented the Token (reader goroutine only)
	tokens float64  // rate limit bucket (reader goroutine only)
	refill int64    // unix nanos of the last refill

	stats stats
	// lastActive is the unix nanos of the last line read.
	lastActive atomic.Int64

	mu            sync.Mutex
	room          sync.Cond // signalled when the writer takes the queue
	out           []byte    // queued lines, not yet taken by the writer
	spare         []byte    // the writer's previous buffer, for reuse
	writerWaiting bool      // the writer is parked on wake
	roomWaiting   bool      // the reader is parked on room
	closing       bool      // the reader is done; flush and close
	dead          bool      // the socket failed; nothing more is written
	stopping      bool      // Shutdown asked the reader to stop
	wake          chan struct{}
	writerDone    chan struct{}
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:        s,
		id:         s.nextConn.Add(1),
		nc:         nc,
		rd:         protocol.NewReader(nc, s.limits().MaxMessageBytes),
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
	c.room.L = &c.mu
	return c
}

// serve runs the connection: the reader loop here, the writer in its own
// goroutine, then the teardown.
func (c *conn) serve() {
	go c.writeLoop()
	eof := c.readLoop()
	released := c.srv.router.Remove(c)
	for _, id := range released {
		c.srv.log.Info("Removed writer for disconnected machine: "+id, "conn", c.id)
	}
	c.srv.released(released...)
	c.mu.Lock()
	c.closing = true
	c.signalLocked()
	c.mu.Unlock()
	<-c.writerDone
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
// the peer closed it (EOF); otherwise the peer may still be sending.
func (c *conn) readLoop() (eof bool) {
	for {
		if !c.rd.HasLine() {
			// About to block in Read: hand what this batch queued to the
			// writer. Activity is recorded per batch, not per line.
			c.kick()
			c.lastActive.Store(time.Now().UnixNano())
		}
		line, err := c.rd.ReadLine()
		if err != nil {
			if errors.Is(err, protocol.ErrLineTooLong) {
				c.req = protocol.Request{} // no Id: the line was never decoded
				c.stats.fail(protocol.CodeLineTooLong)
				c.replyError(protocol.CodeLineTooLong, protocol.TextLineTooLong)
				c.srv.log.Warn("Closing connection: line exceeds MaxMessageBytes", "conn", c.id)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				c.srv.log.Debug("read failed", "conn", c.id, "err", err)
			}
			return errors.Is(err, io.EOF)
		}
		if !c.waitRoom() {
			return false
		}
		c.handle(line)
	}
}

// waitRoom blocks while the outbound queue is over its bound, so a client
// that does not read its replies stops being read. It reports false if the
// connection is going away.
func (c *conn) waitRoom() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) >= c.srv.limits().MaxQueueBytes && !c.dead && !c.stopping {
		c.signalLocked()
		c.roomWaiting = true
		c.room.Wait()
	}
	return !c.dead && !c.stopping
}

// stopReading makes the reader return after the line in hand.
func (c *conn) stopReading() {
	c.nc.SetReadDeadline(time.Now())
	c.mu.Lock()
	c.stopping = true
	c.room.Broadcast()
	c.mu.Unlock()
}

// signalLocked wakes the writer if it is parked and there is work. c.mu
// must be held.
func (c *conn) signalLocked() {
	if c.writerWaiting && (len(c.out) > 0 || c.closing) {
		c.writerWaiting = false
		c.wake <- struct{}{}
	}
}

// kick hands queued replies to the writer.
func (c *conn) kick() {
	c.mu.Lock()
	c.signalLocked()
	c.mu.Unlock()
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		c.mu.Lock()
		for len(c.out) == 0 && !c.closing && !c.dead {
			if cap(c.spare) > spareCap {
				// Going idle: do not keep a burst's buffer.
				c.spare = nil
			}
			c.writerWaiting = true
			c.mu.Unlock()
			<-c.wake
			c.mu.Lock()
		}
		if len(c.out) == 0 || c.dead {
			c.mu.Unlock()
			return
		}
		buf := c.out
		c.out, c.spare = c.spare[:0], nil
		if c.roomWaiting {
			c.roomWaiting = false
			c.room.Broadcast()
		}
		c.mu.Unlock()

		c.nc.SetWriteDeadline(time.Now().Add(c.srv.limits().WriteTimeout))
		n, err := c.nc.Write(buf)
		c.stats.bytesOut.Add(uint64(n))
		if err != nil {
			c.mu.Lock()
			c.dead = true
			// Count what will never be written: lines queued for a peer
			// that is gone (its socket buffer's content is lost uncounted).
			c.stats.dropped.Add(uint64(bytes.Count(buf[n:], []byte{'\n'}) + bytes.Count(c.out, []byte{'\n'})))
			c.out = nil
			c.room.Broadcast()
			c.mu.Unlock()
			if !errors.Is(err, net.ErrClosed) {
				c.srv.log.Warn("Closing connection: write failed", "conn", c.id, "err", err)
			}
			c.nc.Close() // unblocks the reader
			return
		}
		c.mu.Lock()
		c.spare = buf[:0]
		c.mu.Unlock()
	}
}

// Deliver implements router.Endpoint: it queues an event or request line
// without blocking. A line that would push the queue past MaxQueueBytes is
// refused, unless the queue is empty (so one large line always fits).
func (c *conn) Deliver(kind protocol.Kind, ev *protocol.Event, m *router.Machine, requestID uint64) error {
	var now time.Time
	if ev.Timestamp.IsZero() {
		now = time.Now()
	}
	c.mu.Lock()
	if c.closing || c.dead {
		c.mu.Unlock()
		return router.ErrClosed
	}
	old := len(c.out)
	c.out = protocol.AppendEvent(c.out, kind, ev, m.Token, now, requestID)
	if old > 0 && len(c.out) > c.srv.limits().MaxQueueBytes {
		c.out = c.out[:old]
		c.mu.Unlock()
		return router.ErrQueueFull
	}
	c.signalLocked()
	c.mu.Unlock()
	return nil
}

// Complete implements router.Endpoint: it queues the reply to one of this
// connection's Requests. A requester whose queue is far past its bound is
// not reading and is disconnected rather than buffered without limit.
func (c *conn) Complete(p *router.Pending, a *protocol.Answer, fail *protocol.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return
	}
	if len(c.out) > 2*c.srv.limits().MaxQueueBytes {
		c.srv.log.Warn("Closing connection: not reading its replies", "conn", c.id)
		c.dead = true
		c.out = nil
		c.room.Broadcast()
		c.nc.Close()
		return
	}
	if fail != nil {
		c.out = protocol.AppendError(c.out, p.ReplyID, fail.Code, fail.Text)
		c.stats.fail(fail.Code)
	} else {
		c.out = protocol.AppendAnswer(c.out, p.ReplyID, p.ID, p.Target.Token, a)
	}
	c.signalLocked()
}
