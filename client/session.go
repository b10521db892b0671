package client

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// result is the bus's answer to one request line.
type result struct {
	data []byte // copy of Data; nil for null (and for an async send)
	err  error
}

// pendingCall is a line awaiting its in-order reply: every line but a
// Request's. Its Id is what the reply must echo to complete it.
type pendingCall struct {
	id   uint64
	ch   chan result // sync call; nil for an async send or Reply
	key  *sendKey    // async send or Reply, for its error report
	done func(error) // async call reporting its answer itself (ReportStateAsync); nil: errors to asyncError
}

// sendKey is the target and event name an async send reports a failure
// with. Consecutive sends with the same pair share one (see keyLocked),
// which keeps the FIFO's entries small.
type sendKey struct{ target, event string }

// session is one connection to the bus: a reader goroutine and a writer
// goroutine, an outbound buffer and the calls awaiting replies. A new
// session replaces it after a reconnect.
//
// Every line the session writes carries an Id from its counter, and a
// reply completes only the call whose Id it echoes. The bus answers
// lines in order, except accepted Requests (§6 of docs/protocol.md), so
// the in-order calls sit in a FIFO by ascending Id and a reply normally
// matches its head; Requests sit in a map by Id. A reply with no Id (the
// bus's answer to a line it could not read) or an Id nothing waits for
// completes nothing: it is logged and skipped.
type session struct {
	c  *Conn
	nc net.Conn

	mu            sync.Mutex
	out, spare    []byte
	lastID        uint64         // the Id of the last line written
	lastKey       *sendKey       // the last async send\'s, see keyLocked
	clock         protocol.Clock // stamps event lines
	fifo          callRing
	requests      map[uint64]*pendingRequest
	writerWaiting bool
	room          sync.Cond // signalled when the writer takes the buffer
	dead          bool
	err           error // why it died
	wake          chan struct{}
	done          chan struct{} // closed when the reader has exited
	writerDone    chan struct{}
}

// pendingRequest is a Request awaiting its reply, which may come after
// replies to later lines.
type pendingRequest struct {
	ch chan result  // RequestAs waits on it; nil for RequestAsync
	cb func(result) // RequestAsync's completion
}

func (p *pendingRequest) deliver(r result) {
	if p.cb != nil {
		p.cb(r)
		return
	}
	p.ch <- r
}

func newSession(c *Conn, nc net.Conn) *session {
	s := &session{
		c:          c,
		nc:         nc,
		requests:   make(map[uint64]*pendingRequest),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	s.room.L = &s.mu
	return s
}

func (s *session) start() {
	s.c.wg.Add(2)
	go s.readLoop()
	go s.writeLoop()
}

// enqueue appends one request line built by build with the session's
// next Id, and records under that Id what awaits its reply: pc for a
// line answered in order, req for a Request (at most one of them; an
// async send passes a pc without channel). It returns the Id, or an
// error if the session is dead.
//
// While more than the send buffer's bound is waiting to be written, it
// blocks until the writer takes it: a sender cannot outrun the bus by
// more than that.
func (s *session) enqueue(pc *pendingCall, req *pendingRequest, build func(b []byte, id uint64) []byte) (uint64, error) {
	id, err := s.reserve()
	if err != nil {
		return 0, err
	}
	s.out = build(s.out, id)
	s.commit(id, pc, req)
	return id, nil
}

// eventLine is a SendEvent, Publish or Request line to enqueue.
type eventLine struct {
	t                     protocol.Type
	source, target, event string
	payload               []byte
	timeoutMs             int64
}

// enqueueEvent is enqueue for an event line, stamped with the time of the
// call. It writes the line itself rather than through a build function,
// with the session's Clock.
func (s *session) enqueueEvent(pc *pendingCall, req *pendingRequest, e *eventLine) (uint64, error) {
	id, err := s.reserve()
	if err != nil {
		return 0, err
	}
	s.out = protocol.AppendEventRequest(s.out, e.t, id, e.source, e.target, e.event, e.payload, &s.clock, time.Now(), e.timeoutMs)
	if pc != nil && pc.ch == nil && pc.done == nil {
		pc.key = s.keyLocked(e.target, e.event)
	}
	s.commit(id, pc, req)
	return id, nil
}

// keyLocked returns the sendKey of target and event, the last one's when
// it is the same pair. s.mu must be held.
func (s *session) keyLocked(target, event string) *sendKey {
	if k := s.lastKey; k != nil && k.target == target && k.event == event {
		return k
	}
	s.lastKey = &sendKey{target, event}
	return s.lastKey
}

// reserve locks s.mu once the send buffer has room and returns the next
// Id; commit must follow. On error (the session is dead) s.mu is not held.
func (s *session) reserve() (uint64, error) {
	s.mu.Lock()
	for len(s.out) >= s.c.o.sendBuffer && !s.dead {
		if s.writerWaiting {
			s.writerWaiting = false
			s.wake <- struct{}{}
		}
		s.room.Wait()
	}
	if s.dead {
		err := s.err
		s.mu.Unlock()
		return 0, err
	}
	s.lastID++
	return s.lastID, nil
}

// commit records what awaits the reply to the line id (see enqueue),
// wakes the writer and unlocks s.mu.
func (s *session) commit(id uint64, pc *pendingCall, req *pendingRequest) {
	switch {
	case pc != nil:
		pc.id = id
		s.fifo.push(*pc)
	case req != nil:
		s.requests[id] = req
	}
	if s.writerWaiting {
		s.writerWaiting = false
		s.wake <- struct{}{}
	}
	s.mu.Unlock()
}

// forget drops the Request id, which no longer waits for its reply.
func (s *session) forget(id uint64) {
	s.mu.Lock()
	delete(s.requests, id)
	s.mu.Unlock()
}

// call sends one line and waits for its reply.
// It returns errCanceled if done or closed ends first.
func (s *session) call(done, closed <-chan struct{}, build func([]byte, uint64) []byte) ([]byte, error) {
	ch := make(chan result, 1)
	if _, err := s.enqueue(&pendingCall{ch: ch}, nil, build); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.data, r.err
	case <-closed:
		return nil, errCanceled
	case <-done:
		// The entry stays in the FIFO until its reply comes; the reply
		// lands in ch and is dropped.
		return nil, errCanceled
	}
}

var errCanceled = errors.New("canceled")

// errNoIDReply completes a call whose reply the bus sent without its Id,
// found out when the reply to a later line arrives (replies come in
// order). Lines this client writes always carry an Id; only a bus that
// could not read one answers without it.
var errNoIDReply = fmt.Errorf("%w: the bus answered the line without its Id (it could not read the line)", ErrRejected)

// fail kills the session with err: pending calls fail, the socket closes.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead, s.err = true, err
	fifo := s.fifo.drain()
	requests := s.requests
	s.requests = make(map[uint64]*pendingRequest)
	if s.writerWaiting {
		s.writerWaiting = false
		s.wake <- struct{}{}
	}
	s.room.Broadcast()
	s.mu.Unlock()
	s.nc.Close()
	for _, pc := range fifo {
		s.c.complete(pc, result{err: err})
	}
	for _, p := range requests {
		p.deliver(result{err: err})
	}
}

func (s *session) writeLoop() {
	defer s.c.wg.Done()
	defer close(s.writerDone)
	for {
		s.mu.Lock()
		for len(s.out) == 0 && !s.dead {
			if cap(s.spare) > 64<<10 {
				s.spare = nil
			}
			s.writerWaiting = true
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if s.dead {
			s.mu.Unlock()
			return
		}
		buf := s.out
		s.out, s.spare = s.spare[:0], nil
		s.room.Broadcast()
		s.mu.Unlock()
		s.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := s.nc.Write(buf); err != nil {
			s.fail(errors.Join(ErrDisconnected, err))
			return
		}
		s.mu.Lock()
		s.spare = buf[:0]
		s.mu.Unlock()
	}
}

func (s *session) readLoop() {
	defer s.c.wg.Done()
	defer close(s.done)
	rd := protocol.NewReader(s.nc, 64<<20)
	var resp protocol.Response
	var pe protocol.Event
	var stray error // the failure reply with no Id read last, if any
	for {
		line, err := rd.ReadLine()
		if err != nil {
			// A fatal error's reply (line_too_long) carries no Id and
			// comes just before the end of the stream: it says why.
			s.fail(errors.Join(ErrDisconnected, stray, err))
			return
		}
		stray = nil
		// A send's acknowledgement, most of what a sender reads, is
		// recognised by its form; any other line is decoded in full.
		isEvent := false
		if !resp.DecodeDelivered(line) {
			isEvent, err = resp.DecodeEvent(line, &pe)
		}
		if err != nil {
			s.c.log().Warn("statebus client: unreadable line from the bus; dropping the connection", "line", truncate(line))
			s.fail(errors.Join(ErrDisconnected, errors.New("unreadable line from the bus")))
			return
		}
		kind := resp.Kind
		if !resp.HasKind && resp.Success && protocol.LooksLikeEvent(resp.Data) {
			kind = protocol.KindEvent // a server that writes no Kind
		}
		if kind == protocol.KindTrace {
			s.c.trace(resp.Data)
			continue
		}
		if kind != protocol.KindReply {
			if !isEvent {
				continue
			}
			if ev, ok := eventOf(&pe, resp.Data, kind); ok {
				if !s.c.recv.push(&ev) {
					return
				}
			}
			continue
		}
		id, ok := parseID(resp.ID)
		if !ok {
			s.c.log().Warn("statebus client: reply without an Id; it answers no call", "line", truncate(line))
			if !resp.Success {
				stray = toResult(&resp, true).err
			}
			continue
		}
		if !s.completeID(id, &resp) {
			s.c.log().Warn("statebus client: reply to no pending call", "id", id, "line", truncate(line))
		}
	}
}

// completeID completes the call or Request whose Id is id with resp, and
// reports whether one was waiting.
func (s *session) completeID(id uint64, resp *protocol.Response) bool {
	s.mu.Lock()
	if s.fifo.len() > 0 && s.fifo.at(0).id == id { // the usual case
		pc := s.fifo.pop()
		s.mu.Unlock()
		s.c.complete(pc, toResult(resp, pc.ch != nil))
		return true
	}
	if p := s.requests[id]; p != nil {
		delete(s.requests, id)
		s.mu.Unlock()
		p.deliver(toResult(resp, true))
		return true
	}
	// Replies come in order: the calls before id that are still here
	// were answered without their Id, and no reply will come for them.
	k := 0
	for k < s.fifo.len() && s.fifo.at(k).id < id {
		k++
	}
	if k == s.fifo.len() || s.fifo.at(k).id != id {
		s.mu.Unlock()
		return false
	}
	calls := make([]pendingCall, k+1)
	for i := range calls {
		calls[i] = s.fifo.pop()
	}
	s.mu.Unlock()
	for _, pc := range calls[:k] {
		s.c.complete(pc, result{err: errNoIDReply})
	}
	pc := calls[k]
	s.c.complete(pc, toResult(resp, pc.ch != nil))
	return true
}

// parseID reads an Id this client wrote: a decimal number, non-zero.
func parseID(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n != 0
}

// toResult turns a reply into a result; keep says whether its Data is
// wanted (async sends ignore it, and skip the copy).
func toResult(resp *protocol.Response, keep bool) result {
	if resp.Success {
		var data []byte
		if keep && resp.Data != nil {
			data = append([]byte(nil), resp.Data...)
		}
		return result{data: data}
	}
	e := &Error{Code: string(resp.Code.Value(nil)), Text: string(resp.Error.Value(nil))}
	if e.Text == "" {
		e.Text = "request failed"
	}
	return result{err: e}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
