package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/statebus/statebus/client"
)

// --- Redis pub/sub over a unix socket ---

// redisLink publishes to the target's channel and, when it receives,
// subscribes to its own on the same connection (RESP3, so one connection
// does both, as a statebus client does).
type redisLink struct {
	c    net.Conn
	rr   respReader
	w    *bufio.Writer
	t    *template
	hdr  []byte
	acks ackCounter
	bg   bool
}

func dialRedis(ctx context.Context, path, self, target string, t *template, sendOnly bool) (*redisLink, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	l := &redisLink{c: c, rr: respReader{bufio.NewReaderSize(c, ioBuf)}, w: bufio.NewWriterSize(c, ioBuf), t: t}
	l.acks.done = make(chan struct{})
	if t != nil {
		l.hdr = publishHeader(target, len(t.line))
	}
	if !sendOnly {
		var b []byte
		b = appendCommand(b, []byte("HELLO"), []byte("3"))
		b = appendCommand(b, []byte("SUBSCRIBE"), []byte(self))
		if _, err := c.Write(b); err != nil {
			c.Close()
			return nil, err
		}
		for range 2 { // the HELLO map, the subscribe confirmation
			if _, _, _, err := l.rr.next(); err != nil {
				c.Close()
				return nil, fmt.Errorf("bench: redis subscribe: %w", err)
			}
		}
	} else {
		l.bg = true
		go l.readAcks()
	}
	return l, nil
}

// reply counts a PUBLISH reply: the number of subscribers reached, which
// must be 1.
func (l *redisLink) reply(n int64) {
	if n == 1 {
		l.acks.ok()
	} else {
		l.acks.refused(fmt.Sprintf("receivers=%d", n), fmt.Sprintf("PUBLISH reached %d subscribers", n))
	}
}

func (l *redisLink) readAcks() {
	defer close(l.acks.done)
	for {
		kind, n, _, err := l.rr.next()
		if err != nil {
			l.acks.err = err
			return
		}
		if kind == ':' {
			l.reply(n)
		}
	}
}

func (l *redisLink) send(seq uint64) error {
	l.t.set(seq)
	l.acks.sent.Add(1)
	l.w.Write(l.hdr)
	l.w.Write(l.t.line)
	_, err := l.w.Write([]byte("\r\n"))
	return err
}

func (l *redisLink) flush() error { return l.w.Flush() }

func (l *redisLink) recv() (int, uint64, error) {
	for {
		kind, n, data, err := l.rr.next()
		if err != nil {
			return 0, 0, err
		}
		switch kind {
		case ':':
			l.reply(n)
		case respMessage:
			src, seq, ok := parseID(data)
			if !ok {
				return 0, 0, fmt.Errorf("bench: unexpected redis message %.80q", data)
			}
			return src, seq, nil
		}
	}
}

func (l *redisLink) finish(ctx context.Context) (ackStats, error) {
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
		kind, n, _, err := l.rr.next()
		if err != nil {
			return l.acks.stats(), err
		}
		if kind == ':' {
			l.reply(n)
		} else if kind == respMessage {
			return l.acks.stats(), errors.New("bench: unexpected redis message while draining replies")
		}
	}
	return l.acks.stats(), nil
}

func (l *redisLink) close() error { return l.c.Close() }

// --- NATS, nats.go client over TCP loopback ---

type natsLink struct {
	nc     *nats.Conn
	ch     chan *nats.Msg
	t      *template
	target string
	slow   atomic.Uint64 // asynchronous errors (slow consumer ...)
}

func dialNATS(url, self, target string, t *template, sendOnly bool) (*natsLink, error) {
	l := &natsLink{t: t, target: target}
	nc, err := nats.Connect(url, nats.NoReconnect(), nats.Name(self),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) { l.slow.Add(1) }))
	if err != nil {
		return nil, err
	}
	l.nc = nc
	if !sendOnly {
		l.ch = make(chan *nats.Msg, 1<<16)
		sub, err := nc.ChanSubscribe(self, l.ch)
		if err != nil {
			nc.Close()
			return nil, err
		}
		_ = sub.SetPendingLimits(-1, -1)
		if err := nc.Flush(); err != nil { // the subscription is live at the server
			nc.Close()
			return nil, err
		}
	}
	return l, nil
}

func (l *natsLink) send(seq uint64) error {
	l.t.set(seq)
	return l.nc.Publish(l.target, l.t.line)
}

func (l *natsLink) flush() error { return nil } // nats.go's flusher writes

func (l *natsLink) recv() (int, uint64, error) {
	m, ok := <-l.ch
	if !ok {
		return 0, 0, errors.New("bench: nats subscription closed")
	}
	src, seq, ok := parseID(m.Data)
	if !ok {
		return 0, 0, fmt.Errorf("bench: unexpected nats message %.80q", m.Data)
	}
	return src, seq, nil
}

func (l *natsLink) finish(ctx context.Context) (ackStats, error) {
	dl, ok := ctx.Deadline()
	d := 30 * time.Second
	if ok {
		d = time.Until(dl)
	}
	err := l.nc.FlushTimeout(d)
	st := ackStats{}
	if n := l.slow.Load(); n > 0 {
		st.Refused = n
		st.Codes = map[string]uint64{"async_error": n}
	}
	return st, err
}

func (l *natsLink) close() error { l.nc.Close(); return nil }

// --- statebus through the public Go client ---

// goclientLink sends with Conn.SendAsyncAs (the pipelined path) and
// receives from Conn.Events.
type goclientLink struct {
	c      *client.Conn
	ch     <-chan client.Event
	cancel context.CancelFunc
	t      *template
	self   string
	target string
	sent   uint64
	failed atomic.Uint64
	first  atomic.Value
}

func dialGoclient(ctx context.Context, path, self, target string, t *template, sendOnly bool) (*goclientLink, error) {
	l := &goclientLink{t: t, self: self, target: target}
	c, err := client.Dial(ctx, path, client.WithMachines(self), client.WithReconnect(false),
		client.WithAsyncErrorHandler(func(e *client.AsyncError) {
			l.failed.Add(1)
			l.first.CompareAndSwap(nil, e.Error())
		}))
	if err != nil {
		return nil, err
	}
	l.c = c
	if !sendOnly {
		var rctx context.Context
		rctx, l.cancel = context.WithCancel(context.Background())
		l.ch = c.Events(rctx, 1<<16)
	}
	return l, nil
}

func (l *goclientLink) send(seq uint64) error {
	l.t.set(seq)
	l.sent++
	return l.c.SendAsyncAs(l.self, l.target, l.t.name, json.RawMessage(l.t.payload))
}

func (l *goclientLink) flush() error { return nil } // the client's writer writes

func (l *goclientLink) recv() (int, uint64, error) {
	ev, ok := <-l.ch
	if !ok {
		return 0, 0, errors.New("bench: goclient event channel closed")
	}
	src, seq, ok := parseID(ev.Payload)
	if !ok {
		return 0, 0, fmt.Errorf("bench: unexpected event payload %.80q", ev.Payload)
	}
	return src, seq, nil
}

func (l *goclientLink) finish(ctx context.Context) (ackStats, error) {
	err := l.c.Flush(ctx) // every earlier SendAsync is answered
	n := l.failed.Load()
	st := ackStats{Acked: l.sent - n}
	if n > 0 {
		st.Refused = n
		st.Codes = map[string]uint64{"async_error": n}
		st.First, _ = l.first.Load().(string)
	}
	return st, err
}

func (l *goclientLink) close() error {
	if l.cancel != nil {
		l.cancel()
	}
	return l.c.Close()
}
