package client

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// result is the bus's answer to one request line.
type result struct {
	data []byte // copy of Data; nil for null
	err  error
}

// pendingCall is an entry of a session's reply FIFO. The bus answers every
// request line except Request in order, so replies are matched by
// position; a Request carries an Id and is matched by it instead.
type pendingCall struct {
	ch            chan result // sync call; nil for an async send
	target, event string      // async send, for its error report
}

// session is one connection to the bus: a reader goroutine and a writer
// goroutine, an outbound buffer and the FIFO of calls awaiting replies.
// A new session replaces it after a reconnect.
type session struct {
	c  *Conn
	nc net.Conn

	mu            sync.Mutex
	out, spare    []byte
	fifo          []pendingCall
	head          int
	writerWaiting bool
	room          sync.Cond // signalled when the writer takes the buffer
	dead          bool
	err           error // why it died
	wake          chan struct{}
	done          chan struct{} // closed when the reader has exited
	writerDone    chan struct{}
}

func newSession(c *Conn, nc net.Conn) *session {
	s := &session{
		c:          c,
		nc:         nc,
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

// enqueue appends one request line built by build and, unless pc is nil,
// its FIFO entry, atomically so that order matches. It fails if the
// session is dead.
//
// While more than the send buffer's bound is waiting to be written, it
// blocks until the writer takes it: a sender cannot outrun the bus by
// more than that.
func (s *session) enqueue(pc *pendingCall, build func([]byte) []byte) error {
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
		return err
	}
	s.out = build(s.out)
	if pc != nil {
		s.fifo = append(s.fifo, *pc)
	}
	if s.writerWaiting {
		s.writerWaiting = false
		s.wake <- struct{}{}
	}
	s.mu.Unlock()
	return nil
}

// call sends one line and waits for its in-order reply.
// It returns errCanceled if done or closed ends first.
func (s *session) call(done, closed <-chan struct{}, build func([]byte) []byte) ([]byte, error) {
	ch := make(chan result, 1)
	if err := s.enqueue(&pendingCall{ch: ch}, build); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.data, r.err
	case <-closed:
		return nil, errCanceled
	case <-done:
		// The entry stays in the FIFO so later replies still match; its
		// reply lands in ch and is dropped.
		return nil, errCanceled
	}
}

var errCanceled = errors.New("canceled")

// fail kills the session with err: pending calls fail, the socket closes.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead, s.err = true, err
	fifo := s.fifo[s.head:]
	s.fifo, s.head = nil, 0
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
	s.c.failRequests(s, err)
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
	for {
		line, err := rd.ReadLine()
		if err != nil {
			s.fail(errors.Join(ErrDisconnected, err))
			return
		}
		if err := resp.Decode(line); err != nil {
			s.c.log().Warn("statebus client: unreadable line from the bus; dropping the connection", "line", truncate(line))
			s.fail(errors.Join(ErrDisconnected, errors.New("unreadable line from the bus")))
			return
		}
		kind := resp.Kind
		if !resp.HasKind && resp.Success && protocol.LooksLikeEvent(resp.Data) {
			kind = protocol.KindEvent // a server that writes no Kind
		}
		if kind != protocol.KindReply {
			if ev, ok := decodeEvent(resp.Data, kind); ok {
				if !s.c.recv.push(ev, s.done) {
					return
				}
			}
			continue
		}
		r := toResult(&resp)
		if resp.ID != nil {
			if id, err := strconv.ParseUint(string(resp.ID), 10, 64); err == nil && s.c.completeRequest(id, r) {
				continue
			}
		}
		s.mu.Lock()
		if s.head == len(s.fifo) {
			s.mu.Unlock()
			s.c.log().Warn("statebus client: reply with no pending request", "line", truncate(line))
			continue
		}
		pc := s.fifo[s.head]
		s.fifo[s.head] = pendingCall{}
		s.head++
		if s.head == len(s.fifo) {
			s.fifo, s.head = s.fifo[:0], 0
		}
		s.mu.Unlock()
		s.c.complete(pc, r)
	}
}

func toResult(resp *protocol.Response) result {
	if resp.Success {
		var data []byte
		if resp.Data != nil {
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
