package server

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"time"
)

// outbox is the write side of one connection: its outbound queue of
// chunks (see queue.go), the flushing that writes it and the writer
// goroutine that takes over while the socket is full, and what happens
// when a write fails.
//
// Producers append a line under mu (reserveLocked, then append to out)
// and then call flush, or leave the flush to someone who will (the
// sender's reader, at the end of its batch). A flush writes without
// blocking; only when the socket cannot take everything does a writer
// goroutine write the rest, with blocking writes bounded by the write
// timeout, and exit when the queue is empty. One flush or writer at a
// time owns the write side (flushing); the others leave the queue to it.
//
// mu is also the connection's lock for the reader's state that must
// change together with the queue (conn.stopping).
type outbox struct {
	nc      net.Conn
	raw     rawWriter            // non-blocking writes; nil where unsupported
	timeout func() time.Duration // bound of one blocking write, read per write
	stats   *stats               // bytesOut and dropped are counted here
	// failed is called once, after the first write failure marked the
	// outbox dead and closed the socket, with the failure. Not under mu.
	failed func(error)

	mu          sync.Mutex
	room        sync.Cond // signalled when the queue is taken or flushing ends
	out         []byte    // the queue's current chunk
	full        [][]byte  // the queue's earlier chunks, oldest first
	fullBytes   int       // bytes in full
	spareList   [][]byte  // an emptied chunk list, for the next take
	flushing    bool      // a flush or the writer goroutine owns the write side
	roomWaiting bool      // someone waits on room for the queue to shrink
	closing     bool      // no more lines are queued (teardown has begun)
	dead        bool      // the socket failed; nothing more is written
}

// init prepares o to write to nc.
func (o *outbox) init(nc net.Conn, timeout func() time.Duration, st *stats, failed func(error)) {
	o.nc, o.raw, o.timeout, o.stats, o.failed = nc, newRawWriter(nc), timeout, st, failed
	o.room.L = &o.mu
}

// errNotReading is the failure of a connection whose own replies piled
// up far past its queue bound: its client does not read them.
var errNotReading = errors.New("not reading its replies")

// wakeRoomLocked lets a goroutine waiting for room re-check. o.mu held.
func (o *outbox) wakeRoomLocked() {
	if o.roomWaiting {
		o.roomWaiting = false
		o.room.Broadcast()
	}
}

// flush writes the queue without blocking, unless another flush or the
// writer goroutine owns the write side (it will see the queue). When the
// socket cannot take everything, a writer goroutine writes the rest and
// whatever is queued meanwhile.
func (o *outbox) flush() {
	o.mu.Lock()
	if o.flushing || o.dead || o.queuedLocked() == 0 {
		o.mu.Unlock()
		return
	}
	o.flushing = true
	for o.queuedLocked() > 0 {
		bufs := o.takeLocked()
		o.wakeRoomLocked()
		o.mu.Unlock()
		n, err := o.raw.write(bufs)
		o.stats.bytesOut.Add(uint64(n))
		i, off := locate(bufs, n)
		if err != nil {
			o.fail(err, bufs, i, off)
			return
		}
		if i < len(bufs) {
			go o.writeLoop(bufs, i, off)
			return
		}
		o.mu.Lock()
		o.recycleLocked(bufs)
	}
	o.endFlushLocked()
	o.mu.Unlock()
}

// endFlushLocked gives up the write side. o.mu held.
func (o *outbox) endFlushLocked() {
	o.flushing = false
	o.room.Broadcast()
}

// writeLoop writes bufs from bufs[i][n:] on with blocking writes (bounded
// by the write timeout, so a client that stops reading is dropped), then
// whatever was queued meanwhile, and exits when the queue is empty. It
// owns the write side.
func (o *outbox) writeLoop(bufs [][]byte, i, n int) {
	for {
		o.nc.SetWriteDeadline(time.Now().Add(o.timeout()))
		for ; i < len(bufs); i, n = i+1, 0 {
			m, err := o.nc.Write(bufs[i][n:])
			o.stats.bytesOut.Add(uint64(m))
			if err != nil {
				o.fail(err, bufs, i, n+m)
				return
			}
		}
		o.mu.Lock()
		o.recycleLocked(bufs)
		if o.queuedLocked() == 0 || o.dead {
			o.endFlushLocked()
			o.mu.Unlock()
			return
		}
		bufs, i, n = o.takeLocked(), 0, 0
		o.wakeRoomLocked()
		o.mu.Unlock()
	}
}

// fail marks the outbox dead after a write error, or when the connection
// must go for another reason (errNotReading): what was not written is
// counted as dropped, the socket is closed, which also ends the reader,
// and failed is called. The caller owns the write side if bufs is not
// nil: the write failed at bufs[i][n:], in the chunks it took.
func (o *outbox) fail(err error, bufs [][]byte, i, n int) {
	o.mu.Lock()
	first := !o.dead
	if first {
		o.dead = true
		// Lines queued for a peer that is gone (what its socket buffer
		// held is lost uncounted).
		lost := 0
		if i < len(bufs) {
			lost = bytes.Count(bufs[i][n:], []byte{'\n'}) + countLines(bufs[i+1:])
		}
		o.stats.dropped.Add(uint64(lost + countLines(o.full) + bytes.Count(o.out, []byte{'\n'})))
	}
	o.recycleLocked(o.takeLocked())
	if bufs != nil {
		// The caller owns the write side (a failed write); anyone else
		// leaves it to its owner, whose next write fails on the closed
		// socket.
		o.recycleLocked(bufs)
		o.endFlushLocked()
	}
	o.wakeRoomLocked()
	o.mu.Unlock()
	o.nc.Close()
	if first && o.failed != nil {
		o.failed(err)
	}
}

// close stops queuing, waits for any flush in progress and writes what is
// left with blocking writes bounded by the write timeout. For teardown,
// after the connection's reader has ended.
func (o *outbox) close() {
	o.mu.Lock()
	o.closing = true
	for o.flushing {
		o.room.Wait()
	}
	empty, dead := o.queuedLocked() == 0, o.dead
	bufs := o.takeLocked()
	o.mu.Unlock()
	if dead || empty {
		return
	}
	o.nc.SetWriteDeadline(time.Now().Add(o.timeout()))
	for i, buf := range bufs {
		n, err := o.nc.Write(buf)
		o.stats.bytesOut.Add(uint64(n))
		if err != nil {
			o.stats.dropped.Add(uint64(bytes.Count(buf[n:], []byte{'\n'}) + countLines(bufs[i+1:])))
			return
		}
	}
}

// queued returns the number of bytes queued.
func (o *outbox) queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queuedLocked()
}
