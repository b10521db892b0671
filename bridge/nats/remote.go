package nats

import (
	"context"
	"errors"
	"strconv"
	"time"

	natsio "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/server"
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

// Owner reports which host owns id according to the directory in memory,
// and whether it is another live host. It implements server.Bridge and
// never waits on the network; a claim made on another host an instant ago
// may not be known yet (the directory follows the bucket's watch).
func (b *Bridge) Owner(id string) (host string, remote bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.dir[id]
	if !ok {
		return "", false
	}
	return o.host, o.host != b.cfg.HostName && b.aliveLocked(o.host)
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

// answerGrace is how long after a Request's timeout the requesting host
// waits for the target's host, which enforces the timeout itself and
// answers timeout, before it gives up on its own.
const answerGrace = time.Second

// Request forwards a Request payload to target's host. It implements
// server.Bridge: done is called exactly once, with the answer, a failure
// the remote bus reported (timeout among them: the target's bus enforces
// the timeout), CodeTimeout when that bus said nothing for answerGrace
// past the timeout, or CodeTargetGone when the host dies or the link drops
// first; unless ctx ends first, when the request is abandoned and done is
// not called. Giving up and abandoning tell the target's host to drop the
// request (a cancel on its host subject, after the request itself).
func (b *Bridge) Request(ctx context.Context, target string, payload []byte, timeout time.Duration, done func(server.RemoteReply)) protocol.Code {
	lctx, cancel := context.WithTimeout(ctx, min(timeout, 2*time.Second))
	host, code := b.lookup(lctx, target)
	cancel()
	if code != protocol.CodeNone {
		return code
	}
	p := &pendingReq{host: host, target: target, done: done}
	b.mu.Lock()
	b.nextReq++
	id := b.nextReq
	b.pending[id] = p
	p.timer = time.AfterFunc(timeout+answerGrace, func() { b.giveUp(id) })
	p.stop = context.AfterFunc(ctx, func() { b.end(id, true) })
	b.mu.Unlock()
	msg := &natsio.Msg{
		Subject: b.hostSubject(host),
		Reply:   b.replySubject(id),
		Header:  natsio.Header{hdrOp: {"req"}, hdrTimeout: {strconv.FormatInt(timeout.Milliseconds(), 10)}},
		Data:    payload,
	}
	if err := b.nc.PublishMsg(msg); err != nil && b.end(id, false) != nil {
		return codeDown
	}
	return protocol.CodeNone
}

// replySubject is where the answer to this host's request id comes.
func (b *Bridge) replySubject(id uint64) string { return b.inbox + strconv.FormatUint(id, 10) }

// end removes pending request id and returns it, or nil when it has
// ended already. With cancel it tells the target's host to drop the
// request: sent on the host subject the request went on, the cancel
// arrives after it.
func (b *Bridge) end(id uint64, cancel bool) *pendingReq {
	b.mu.Lock()
	p := b.pending[id]
	delete(b.pending, id)
	b.mu.Unlock()
	if p == nil {
		return nil
	}
	p.timer.Stop()
	p.stop()
	if cancel {
		b.nc.PublishMsg(&natsio.Msg{Subject: b.hostSubject(p.host), Header: natsio.Header{hdrOp: {"cancel"}, hdrReq: {b.replySubject(id)}}})
	}
	return p
}

// finish completes pending request id with r, once.
func (b *Bridge) finish(id uint64, r server.RemoteReply) {
	if p := b.end(id, false); p != nil {
		p.done(r)
	}
}

// giveUp fails request id with timeout when the target's host did not
// answer, not even with its own timeout, and tells it to drop the request.
func (b *Bridge) giveUp(id uint64) {
	if p := b.end(id, true); p != nil {
		p.done(server.RemoteReply{Code: protocol.CodeTimeout})
	}
}

// failPending fails the pending requests match selects with
// target_disconnected. With cancel their hosts are told to drop them
// (best effort: while the link is down the client buffers the cancels).
func (b *Bridge) failPending(match func(*pendingReq) bool, cancel bool) {
	var ids []uint64
	b.mu.Lock()
	for id, p := range b.pending {
		if match(p) {
			ids = append(ids, id)
		}
	}
	b.mu.Unlock()
	for _, id := range ids {
		if p := b.end(id, cancel); p != nil {
			p.done(server.RemoteReply{Code: protocol.CodeTargetGone})
		}
	}
}

// answer handles the answer to one of this host's requests.
func (b *Bridge) answer(m *natsio.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(b.inbox):], 10, 64)
	if err != nil {
		return
	}
	var r server.RemoteReply
	if rid := m.Header.Get(hdrRequestID); rid != "" {
		r.RequestID, _ = strconv.ParseUint(rid, 10, 64) // 0 if malformed
	}
	if name := m.Header.Get(hdrCode); name != "" {
		r.Code, r.Text = protocol.CodeByName(name), string(m.Data)
		if r.Code == protocol.CodeNone {
			r.Code = protocol.CodeRemote
		}
	} else {
		r.Payload = append([]byte(nil), m.Data...)
	}
	b.finish(id, r)
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
		b.request(m, time.Duration(ms)*time.Millisecond)
	case "cancel":
		// The requester's side ended a request of ours (its connection
		// left, or it gave up): drop it, so a late Reply gets
		// unknown_request. It arrives after the request, on this
		// subscription, so the request was registered already.
		b.mu.Lock()
		f := b.inflight[m.Header.Get(hdrReq)]
		delete(b.inflight, m.Header.Get(hdrReq))
		b.mu.Unlock()
		if f != nil {
			b.srv.DropRemote(f.id)
		}
	}
}

// request delivers a Request from another host and answers to its reply
// subject, with this bus's RequestId, when it ends here. Until then it is
// listed in inflight, so that a cancel can drop it.
func (b *Bridge) request(m *natsio.Msg, timeout time.Duration) {
	reply := m.Reply
	f := &inflightReq{}
	id, code := b.srv.RemoteRequest(m.Data, timeout, func(r server.RemoteReply) {
		b.mu.Lock()
		f.over = true
		if b.inflight[reply] == f {
			delete(b.inflight, reply)
		}
		b.mu.Unlock()
		out := &natsio.Msg{Subject: reply, Header: natsio.Header{hdrRequestID: {strconv.FormatUint(r.RequestID, 10)}}, Data: r.Payload}
		if r.Code != protocol.CodeNone {
			out.Header.Set(hdrCode, r.Code.String())
			out.Data = []byte(r.Text)
		}
		b.nc.PublishMsg(out)
	})
	if code != protocol.CodeNone {
		b.nc.PublishMsg(&natsio.Msg{Subject: reply, Header: natsio.Header{hdrCode: {code.String()}}})
		return
	}
	b.mu.Lock()
	if !f.over { // not answered already
		f.id = id
		b.inflight[reply] = f
	}
	b.mu.Unlock()
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
		b.failPending(func(p *pendingReq) bool { return p.host == host }, false)
		b.wake()
		return
	}
	if h.dead && h.epoch == epoch {
		b.log.Info("Host is back", "other", host)
	}
	h.seen, h.epoch, h.dead = time.Now(), epoch, false
	b.mu.Unlock()
}
