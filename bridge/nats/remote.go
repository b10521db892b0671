package nats

import (
	"context"
	"errors"
	"strconv"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/statebus/statebus/internal/protocol"
)

// codeDown is what Send and Request report while the link is down.
const codeDown = protocol.CodeBridgeDown

// lookup finds the live host that owns target. It asks the bucket when
// the directory has not heard of target yet (a claim made an instant ago
// on another host). code is set when there is none or the link is down.
func (b *Bridge) lookup(ctx context.Context, target string) (host string, code protocol.Code) {
	b.mu.Lock()
	up, kv := b.up, b.kv
	o, ok := b.dir[target]
	b.mu.Unlock()
	if !up || kv == nil {
		return "", codeDown
	}
	if !ok {
		e, err := kv.Get(ctx, token(target))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return "", protocol.CodeNotConnected
		case err != nil:
			return "", codeDown
		}
		_, h, valid := cutValue(e.Value())
		if !valid {
			return "", protocol.CodeNotConnected
		}
		o.host = h
	}
	b.mu.Lock()
	alive := b.aliveLocked(o.host)
	b.mu.Unlock()
	if o.host == b.cfg.HostName || !alive {
		// Not bound here after all (stale key), or its host is dead.
		return "", protocol.CodeNotConnected
	}
	return o.host, protocol.CodeNone
}

// Send delivers a SendEvent payload to target's host and returns that
// bus's verdict. It implements server.Bridge; it blocks for one NATS round
// trip, bounded by ctx.
func (b *Bridge) Send(ctx context.Context, target string, payload []byte) protocol.Code {
	host, code := b.lookup(ctx, target)
	if code != protocol.CodeNone {
		return code
	}
	msg := &natsio.Msg{Subject: b.hostSubject(host), Header: natsio.Header{hdrOp: {"send"}}, Data: payload}
	resp, err := b.nc.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, natsio.ErrNoResponders):
		return protocol.CodeNotConnected // its bus is gone
	case err != nil:
		return protocol.CodeTimeout
	}
	return protocol.CodeByName(string(resp.Data))
}

// Publish hands a Publish payload to every other live host without
// waiting. It implements server.Bridge. While the link is down other hosts
// miss it.
func (b *Bridge) Publish(payload []byte) {
	b.mu.Lock()
	if !b.up {
		b.mu.Unlock()
		return
	}
	subjects := make([]string, 0, len(b.hosts))
	for name, h := range b.hosts {
		if !h.dead && time.Since(h.seen) < b.cfg.DeadAfter {
			subjects = append(subjects, b.hostSubject(name))
		}
	}
	b.mu.Unlock()
	// One subject per host keeps a sender's publishes, sends and requests
	// to one host in order: the host reads them all from one subscription.
	for _, s := range subjects {
		b.nc.PublishMsg(&natsio.Msg{Subject: s, Header: natsio.Header{hdrOp: {"pub"}}, Data: payload})
	}
}

// Request forwards a Request payload to target's host. It implements
// server.Bridge: done is called exactly once, with the answer, a failure
// the remote bus reported, CodeTimeout after timeout, or CodeTargetGone
// when the host dies or the link drops first.
func (b *Bridge) Request(target string, payload []byte, timeout time.Duration, done func(answer []byte, errText string, code protocol.Code)) protocol.Code {
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, 2*time.Second))
	host, code := b.lookup(ctx, target)
	cancel()
	if code != protocol.CodeNone {
		return code
	}
	p := &pendingReq{host: host, target: target, done: done}
	b.mu.Lock()
	b.nextReq++
	id := b.nextReq
	b.pending[id] = p
	p.timer = time.AfterFunc(timeout, func() { b.finish(id, nil, "", protocol.CodeTimeout) })
	b.mu.Unlock()
	msg := &natsio.Msg{
		Subject: b.hostSubject(host),
		Reply:   b.inbox + strconv.FormatUint(id, 10),
		Header:  natsio.Header{hdrOp: {"req"}, hdrTimeout: {strconv.FormatInt(timeout.Milliseconds(), 10)}},
		Data:    payload,
	}
	if err := b.nc.PublishMsg(msg); err != nil {
		b.mu.Lock()
		_, still := b.pending[id]
		delete(b.pending, id)
		b.mu.Unlock()
		p.timer.Stop()
		if still {
			return codeDown
		}
	}
	return protocol.CodeNone
}

// finish completes pending request id, once.
func (b *Bridge) finish(id uint64, answer []byte, errText string, code protocol.Code) {
	b.mu.Lock()
	p := b.pending[id]
	delete(b.pending, id)
	b.mu.Unlock()
	if p != nil {
		p.timer.Stop()
		p.done(answer, errText, code)
	}
}

// failPending fails the pending requests match selects with
// target_disconnected.
func (b *Bridge) failPending(match func(*pendingReq) bool) {
	var gone []*pendingReq
	b.mu.Lock()
	for id, p := range b.pending {
		if match(p) {
			delete(b.pending, id)
			gone = append(gone, p)
		}
	}
	b.mu.Unlock()
	for _, p := range gone {
		p.timer.Stop()
		p.done(nil, "", protocol.CodeTargetGone)
	}
}

// answer handles the answer to one of this host's requests.
func (b *Bridge) answer(m *natsio.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(b.inbox):], 10, 64)
	if err != nil {
		return
	}
	if name := m.Header.Get(hdrCode); name != "" {
		code := protocol.CodeByName(name)
		if code == protocol.CodeNone {
			code = protocol.CodeRemote
		}
		b.finish(id, nil, string(m.Data), code)
		return
	}
	b.finish(id, append([]byte(nil), m.Data...), "", protocol.CodeNone)
}

// inbound handles traffic from other hosts for machines bound here. One
// subscription carries it all, so it is handled in the order it was sent.
func (b *Bridge) inbound(m *natsio.Msg) {
	switch m.Header.Get(hdrOp) {
	case "send":
		m.Respond([]byte(b.srv.RemoteSend(m.Data).String()))
	case "pub":
		b.srv.RemotePublish(m.Data)
	case "req":
		ms, err := strconv.ParseInt(m.Header.Get(hdrTimeout), 10, 64)
		if err != nil || ms <= 0 || m.Reply == "" {
			return
		}
		reply := m.Reply
		code := b.srv.RemoteRequest(m.Data, time.Duration(ms)*time.Millisecond, func(answer []byte, errText string, code protocol.Code) {
			out := &natsio.Msg{Subject: reply, Data: answer}
			if code != protocol.CodeNone {
				out.Header = natsio.Header{hdrCode: {code.String()}}
				out.Data = []byte(errText)
			}
			b.nc.PublishMsg(out)
		})
		if code != protocol.CodeNone {
			b.nc.PublishMsg(&natsio.Msg{Subject: reply, Header: natsio.Header{hdrCode: {code.String()}}})
		}
	}
}

// heartbeat records another host's heartbeat or goodbye.
func (b *Bridge) heartbeat(m *natsio.Msg) {
	host, epoch := m.Header.Get(hdrHost), m.Header.Get(hdrEpoch)
	if host == "" {
		return
	}
	bye := m.Header.Get(hdrOp) == "bye"
	b.mu.Lock()
	if host == b.cfg.HostName {
		if epoch != b.epoch && !bye && b.dupHost == "" {
			b.dupHost = "another bus heartbeats with this HostName; host names must be unique"
			b.mu.Unlock()
			b.log.Error("Another statebus uses this HostName; ownership is unreliable until one is renamed")
			return
		}
		b.mu.Unlock()
		return
	}
	h := b.hosts[host]
	if h == nil {
		h = &hostState{}
		b.hosts[host] = h
	}
	if bye {
		if h.epoch == epoch || h.epoch == "" {
			h.seen = time.Time{} // reaped on the next tick
		}
		b.mu.Unlock()
		b.failPending(func(p *pendingReq) bool { return p.host == host })
		b.wake()
		return
	}
	if h.dead && h.epoch == epoch {
		b.log.Info("Host is back", "other", host)
	}
	h.seen, h.epoch, h.dead = time.Now(), epoch, false
	b.mu.Unlock()
}
