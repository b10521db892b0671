package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// link is one client connection to a peer, as a worker sees it. A link is
// used by one goroutine, except that a send-only link may read its
// acknowledgements on a goroutine of its own.
type link interface {
	// send queues message seq (stamped into the link's template); it may
	// stay buffered until flush.
	send(seq uint64) error
	flush() error
	// recv returns the next message addressed to this link, consuming
	// acknowledgements on the way.
	recv() (src int, seq uint64, err error)
	// finish flushes and waits until the peer has answered every send
	// (for peers that acknowledge), then reports what it answered.
	finish(ctx context.Context) (ackStats, error)
	close() error
}

// ackStats counts a sender's acknowledgements.
type ackStats struct {
	Acked   uint64            `json:"acked"`
	Refused uint64            `json:"refused"`
	Codes   map[string]uint64 `json:"codes,omitempty"` // refusals by error code
	First   string            `json:"first_refusal,omitempty"`
}

// ackCounter is shared between a link and its ack reader.
type ackCounter struct {
	sent  atomic.Uint64
	acked atomic.Uint64
	mu    sync.Mutex
	st    ackStats
	err   error // the reader's error, if it stopped
	done  chan struct{}
}

func (a *ackCounter) ok() { a.acked.Add(1) }

func (a *ackCounter) refused(code, text string) {
	a.mu.Lock()
	a.st.Refused++
	if a.st.Codes == nil {
		a.st.Codes = map[string]uint64{}
	}
	a.st.Codes[code]++
	if a.st.First == "" {
		a.st.First = text
	}
	a.mu.Unlock()
	a.acked.Add(1)
}

func (a *ackCounter) stats() ackStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st
	s.Acked = a.acked.Load() - s.Refused
	return s
}

// waitAll waits until every sent message is answered, polling under ctx's
// deadline, or until the ack reader fails.
func (a *ackCounter) waitAll(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for a.acked.Load() < a.sent.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d of %d acknowledgements: %w", a.acked.Load(), a.sent.Load(), ctx.Err())
		case <-a.done:
			if a.acked.Load() < a.sent.Load() {
				return fmt.Errorf("bench: ack reader stopped at %d of %d: %w", a.acked.Load(), a.sent.Load(), a.err)
			}
		case <-t.C:
		}
	}
	return nil
}

const ioBuf = 64 << 10

// --- statebus, raw wire ---

// sbLink speaks the statebus wire protocol directly: pre-encoded lines,
// pipelined buffered writes, lines read with ReadSlice.
type sbLink struct {
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	t    *template
	acks ackCounter
	bg   bool // acknowledgements are read on a goroutine
}

func dialStatebus(ctx context.Context, path, self string, t *template, sendOnly bool) (*sbLink, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	l := &sbLink{c: c, r: bufio.NewReaderSize(c, ioBuf), w: bufio.NewWriterSize(c, ioBuf), t: t}
	l.acks.done = make(chan struct{})
	if err := sbRegister(c, l.r, self); err != nil {
		c.Close()
		return nil, err
	}
	if sendOnly {
		l.bg = true
		go l.readAcks()
	}
	return l, nil
}

// sbRegister registers id on a fresh connection and waits for the reply.
func sbRegister(c net.Conn, r *bufio.Reader, id string) error {
	if _, err := fmt.Fprintf(c, "{\"Type\":0,\"Payload\":%q}\n", id); err != nil {
		return err
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("bench: registering %s: %w", id, err)
	}
	if !bytes.HasPrefix(line, []byte(`{"Success":true`)) {
		return fmt.Errorf("bench: registering %s: %s", id, bytes.TrimSpace(line))
	}
	return nil
}

var (
	sbEventSuffix = []byte(`"Kind":"Event"}`)
	sbOK          = []byte(`{"Success":true`)
	sbCodeKey     = []byte(`"Code":"`)
)

// handle classes one server line: an event (returned) or a reply (counted).
func (l *sbLink) handle(line []byte) (ev bool) {
	body := bytes.TrimRight(line, "\r\n")
	if bytes.HasSuffix(body, sbEventSuffix) {
		return true
	}
	if bytes.HasPrefix(body, sbOK) {
		l.acks.ok()
		return false
	}
	code := "?"
	if i := bytes.Index(body, sbCodeKey); i >= 0 {
		rest := body[i+len(sbCodeKey):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			code = string(rest[:j])
		}
	}
	l.acks.refused(code, string(body))
	return false
}

func (l *sbLink) readAcks() {
	defer close(l.acks.done)
	for {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			l.acks.err = err
			return
		}
		l.handle(line)
	}
}

func (l *sbLink) send(seq uint64) error {
	l.t.set(seq)
	l.acks.sent.Add(1)
	_, err := l.w.Write(l.t.line)
	return err
}

func (l *sbLink) flush() error { return l.w.Flush() }

func (l *sbLink) recv() (int, uint64, error) {
	for {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		if l.handle(line) {
			src, seq, ok := parseID(line)
			if !ok {
				return 0, 0, fmt.Errorf("bench: unexpected event %.80q", line)
			}
			return src, seq, nil
		}
	}
}

func (l *sbLink) finish(ctx context.Context) (ackStats, error) {
	if err := l.w.Flush(); err != nil {
		return l.acks.stats(), err
	}
	if l.bg {
		err := l.acks.waitAll(ctx)
		return l.acks.stats(), err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = l.c.SetReadDeadline(dl)
	}
	for l.acks.acked.Load() < l.acks.sent.Load() {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			return l.acks.stats(), fmt.Errorf("bench: %d of %d acknowledgements: %w", l.acks.acked.Load(), l.acks.sent.Load(), err)
		}
		if l.handle(line) {
			return l.acks.stats(), fmt.Errorf("bench: unexpected event while draining acks: %.80q", line)
		}
	}
	return l.acks.stats(), nil
}

func (l *sbLink) close() error { return l.c.Close() }

// --- a plain byte stream: direct pair and relay ---

// streamLink writes the raw lines over a socket with nothing in between
// but the kernel (direct) or a forwarding process (relay).
type streamLink struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
	t *template
}

func newStreamLink(c net.Conn, t *template) *streamLink {
	return &streamLink{c: c, r: bufio.NewReaderSize(c, ioBuf), w: bufio.NewWriterSize(c, ioBuf), t: t}
}

// relayHelloSize is the fixed size of the line a relay client opens with:
// the pairing key, space-padded.
const relayHelloSize = 32

func dialRelay(ctx context.Context, path, key string, t *template) (*streamLink, error) {
	if len(key) >= relayHelloSize {
		return nil, errors.New("bench: relay key too long")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	hello := make([]byte, relayHelloSize)
	copy(hello, key)
	for i := len(key); i < relayHelloSize-1; i++ {
		hello[i] = ' '
	}
	hello[relayHelloSize-1] = '\n'
	if _, err := c.Write(hello); err != nil {
		c.Close()
		return nil, err
	}
	return newStreamLink(c, t), nil
}

func (l *streamLink) send(seq uint64) error {
	l.t.set(seq)
	_, err := l.w.Write(l.t.line)
	return err
}

func (l *streamLink) flush() error { return l.w.Flush() }

func (l *streamLink) recv() (int, uint64, error) {
	line, err := l.r.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	src, seq, ok := parseID(line)
	if !ok {
		return 0, 0, fmt.Errorf("bench: unexpected line %.80q", line)
	}
	return src, seq, nil
}

func (l *streamLink) finish(context.Context) (ackStats, error) { return ackStats{}, l.w.Flush() }

func (l *streamLink) close() error { return l.c.Close() }
