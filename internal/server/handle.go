package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/router"
)

// handle processes one request line and queues exactly one reply, except
// for an accepted Request, whose reply comes when the target answers or
// the request fails.
func (c *conn) handle(line []byte) {
	c.lineLen = len(line)
	c.stats.linesIn.Add(1)
	c.stats.bytesIn.Store(uint64(c.rd.Total()))
	if c.dec == nil {
		c.dec = new(protocol.Decoder)
	}
	if err := c.dec.Decode(&c.req, line); err != nil {
		c.replyDecodeError(err)
		return
	}
	cfg := c.srv.limits()
	if cfg.Token != "" && !c.authed && !c.req.Token.IsZero() {
		if !c.checkToken(c.req.Token, cfg.Token) {
			return
		}
	}
	switch t := c.req.Type; {
	case cfg.Token != "" && !c.authed && t != protocol.TypePing && t != protocol.TypeRegister && t != protocol.TypeSubscribe:
		c.stats.fail(protocol.CodeUnauthorized)
		c.replyError(protocol.CodeUnauthorized, protocol.TextUnauthorized)
		c.traceFailure(protocol.CodeUnauthorized, protocol.TextUnauthorized)
		return
	case cfg.MaxEventsPerSecond > 0 && (t == protocol.TypeSendEvent || t == protocol.TypePublish || t == protocol.TypeRequest) && !c.allow(cfg.MaxEventsPerSecond):
		c.stats.fail(protocol.CodeRateLimited)
		var num [24]byte
		arg := strconv.AppendInt(num[:0], int64(cfg.MaxEventsPerSecond), 10)
		c.replyErrorArg(protocol.CodeRateLimited, protocol.TextRateLimited, arg)
		c.traceFailure(protocol.CodeRateLimited, protocol.TextRateLimited+string(arg))
		return
	}
	switch c.req.Type {
	case protocol.TypeSendEvent:
		c.sendEvent()
	case protocol.TypeRegister:
		c.bind(false)
	case protocol.TypeSubscribe:
		c.bind(true)
	case protocol.TypeUnregister:
		c.unbind()
	case protocol.TypePublish:
		c.publish()
	case protocol.TypeRequest:
		c.request()
	case protocol.TypeReply:
		c.reply()
	case protocol.TypePing:
		c.replyData(fmt.Appendf(nil, `{"Pong":true,"ServerTime":"%s"}`, protocol.AppendTime(nil, time.Now())))
	case protocol.TypeHealth:
		c.replyJSON(c.srv.healthData())
	case protocol.TypeMetrics:
		c.replyJSON(c.srv.metricsData())
	case protocol.TypeListMachines:
		c.replyJSON(c.srv.machinesData())
	case protocol.TypeMonitor:
		c.monitor()
	case protocol.TypeReportState:
		c.reportState()
	case protocol.TypeMachineState:
		c.machineStateReply()
	}
}

func (c *conn) replyDecodeError(err error) {
	e, ok := err.(*protocol.Error)
	if !ok {
		e = protocol.ErrInvalidJSON
	}
	c.stats.fail(e.Code)
	c.replyError(e.Code, e.Text)
	c.traceFailure(e.Code, e.Text)
}

// replyError queues a failure reply to the current request.
func (c *conn) replyError(code protocol.Code, text string) {
	c.replyErrorArg(code, text, nil)
}

// replyErrorArg queues a failure reply whose text is prefix+arg.
func (c *conn) replyErrorArg(code protocol.Code, prefix string, arg []byte) {
	c.mu.Lock()
	c.reserveLocked(len(arg) + replyRoom)
	c.out = protocol.AppendErrorArg(c.out, c.req.ID, code, prefix, arg)
	c.mu.Unlock()
}

// replyData queues a success reply with raw JSON data (nil for null).
func (c *conn) replyData(data []byte) {
	c.mu.Lock()
	c.reserveLocked(len(data) + replyRoom)
	c.out = protocol.AppendOK(c.out, c.req.ID, data)
	c.mu.Unlock()
}

func (c *conn) replyJSON(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// A bug of ours, not the client's: say so.
		c.srv.log.Error("Cannot encode a reply", "type", c.req.Type.String(), "err", err, "conn", c.id)
		c.stats.fail(protocol.CodeInternal)
		c.replyError(protocol.CodeInternal, protocol.TextInternal+err.Error())
		return
	}
	c.replyData(data)
}

func (c *conn) sendEvent() {
	if err := c.req.Event(&c.ev, true); err != nil {
		c.replyDecodeError(err)
		return
	}
	src := c.ev.Source.Value(nil)
	tgt := c.ev.Target.Value(nil)
	var t0 time.Time
	sample := c.stats.routed.Load()&63 == 0
	if sample {
		t0 = time.Now() // one event in 64: time the routing
	}
	m, code := c.srv.router.RouteCached(&c.route, c, src, tgt, &c.ev)
	token := c.ev.Target
	if m != nil {
		token = m.Token
	}
	if code == protocol.CodeNotConnected && c.srv.bridge != nil {
		// Not here: maybe on another host.
		ctx, cancel := context.WithTimeout(context.Background(), bridgeTimeout)
		code = c.srv.bridge.Send(ctx, string(tgt), c.req.Payload)
		cancel()
	}
	if code != protocol.CodeNone {
		c.stats.fail(code)
		arg := tgt
		if code == protocol.CodeNotOwner {
			arg = src
		}
		if code == protocol.CodeNotConnected {
			c.srv.log.Warn("No pipe connection for target machine", "machine", string(tgt), "conn", c.id)
		}
		c.replyErrorArg(code, code.Prefix(), arg)
		if c.srv.tracing() {
			c.traceRoute(protocol.TraceEvent, src, tgt, nil, 0, code, code.Prefix()+string(arg))
		}
		return
	}
	c.stats.routed.Add(1)
	if c.srv.tracing() {
		c.traceRoute(protocol.TraceEvent, src, tgt, m, 0, code, "")
	}
	if sample {
		c.srv.latency.Observe(time.Since(t0))
	}
	if c.srv.debug.Load() {
		c.srv.log.Debug("Routing event", "source", string(src), "target", string(tgt), "event", string(c.ev.Name.Value(nil)), "conn", c.id)
	}
	c.mu.Lock()
	c.reserveLocked(replyRoom)
	c.out = protocol.AppendDelivered(c.out, c.req.ID, token)
	c.mu.Unlock()
}

// bind handles Register (subscribe=false) and Subscribe: both bind the id
// to this connection, so events reach it either way.
func (c *conn) bind(subscribe bool) {
	if err := c.reg.Decode(c.req.Payload); err != nil {
		c.replyDecodeError(err)
		return
	}
	if tok := c.srv.limits().Token; tok != "" && !c.authed && !c.checkToken(c.reg.Token, tok) {
		return
	}
	id := c.reg.MachineID.Value(nil)
	info := router.Info{
		ProcessName: string(c.reg.ProcessName.Value(nil)),
		ProcessID:   c.reg.ProcessID,
		ConnID:      c.id,
		BoundAt:     time.Now(),
		Subscribed:  subscribe,
		PeerPID:     c.peer.PID,
		PeerUID:     c.peer.UID,
	}
	code := c.claim(id)
	var m *router.Machine
	if code == protocol.CodeNone {
		m, code = c.srv.router.Bind(c, id, c.reg.MachineID, info)
		if code == protocol.CodeTooManyMachines {
			c.srv.released(string(id)) // give back the claim the bridge granted
		}
	}
	if code != protocol.CodeNone {
		c.stats.fail(code)
		c.srv.log.Warn("Refused machine id", "machine", string(id), "code", code.String(), "conn", c.id)
		c.replyErrorArg(code, code.Prefix(), id)
		c.traceMachine(protocol.TraceRegister, string(id), code, c)
		return
	}
	now := time.Now()
	c.mu.Lock()
	c.reserveLocked(replyRoom)
	if subscribe {
		c.out = protocol.AppendSubscribed(c.out, c.req.ID, m.Token, now)
	} else {
		c.out = protocol.AppendRegistered(c.out, c.req.ID, m.Token, c.reg.RegisteredAt, now)
	}
	c.mu.Unlock()
	c.traceMachine(protocol.TraceRegister, m.ID, protocol.CodeNone, c)
	if subscribe {
		c.srv.log.Info("Machine subscribed", "machine", m.ID, "conn", c.id)
	} else {
		c.srv.log.Info("Machine registered", "machine", m.ID, "pid", info.ProcessID, "conn", c.id, "peerPid", c.peer.PID, "peerUid", c.peer.UID)
	}
}

func (c *conn) unbind() {
	if err := c.reg.Decode(c.req.Payload); err != nil {
		c.replyDecodeError(err)
		return
	}
	id := c.reg.MachineID.Value(nil)
	owned := c.srv.router.OwnedBy(id, c)
	code := c.srv.router.Unbind(c, id)
	if code == protocol.CodeNone && !owned && c.srv.ownedElsewhere(id) {
		// Bound by nobody here, but another host owns it (§5): no
		// connection of this host may release it.
		code = protocol.CodeNotOwner
	}
	if code != protocol.CodeNone {
		c.stats.fail(code)
		c.replyErrorArg(code, code.Prefix(), id)
		c.traceMachine(protocol.TraceUnregister, string(id), code, c)
		return
	}
	if owned {
		c.srv.released(string(id))
	}
	c.traceMachine(protocol.TraceUnregister, string(id), protocol.CodeNone, c)
	c.srv.log.Info("Machine unregistered", "machine", string(id), "conn", c.id)
	c.replyData(nil)
}

func (c *conn) publish() {
	if err := c.req.Event(&c.ev, false); err != nil {
		c.replyDecodeError(err)
		return
	}
	src := c.ev.Source.Value(nil)
	n, failed, code := c.srv.router.Publish(c, src, &c.ev)
	if code != protocol.CodeNone {
		c.stats.fail(code)
		c.replyErrorArg(code, code.Prefix(), src)
		if c.srv.tracing() {
			c.traceRoute(protocol.TracePublish, src, nil, nil, 0, code, code.Prefix()+string(src))
		}
		return
	}
	if c.srv.tracing() {
		c.tracePublish(src, n)
	}
	if c.srv.bridge != nil {
		c.srv.bridge.Publish(c.req.Payload)
	}
	c.stats.published.Add(uint64(n))
	if failed > 0 {
		c.stats.failures[protocol.CodeQueueFull].Add(uint64(failed))
	}
	// Targets that were disconnecting are gone and not counted.
	c.replyData(fmt.Appendf(nil, `{"Published":true,"EventName":%s,"Recipients":%d,"Failed":%d}`, c.ev.Name, n, failed))
}

func (c *conn) request() {
	if c.req.ID == nil {
		// The reply comes later, out of order: only an Id can match it.
		c.stats.fail(protocol.CodeInvalidPayload)
		c.replyError(protocol.CodeInvalidPayload, protocol.TextNeedsID)
		return
	}
	if err := c.req.Event(&c.ev, true); err != nil {
		c.replyDecodeError(err)
		return
	}
	src := c.ev.Source.Value(nil)
	tgt := c.ev.Target.Value(nil)
	timeout := c.srv.limits().RequestTimeout
	if c.ev.TimeoutMs > 0 {
		timeout = time.Duration(c.ev.TimeoutMs) * time.Millisecond
	}
	p, code := c.srv.router.Request(c, src, tgt, &c.ev, c.req.ID, timeout)
	if code == protocol.CodeNotConnected && c.srv.bridge != nil {
		code = c.remoteRequest(string(tgt), timeout)
	}
	if code != protocol.CodeNone {
		c.stats.fail(code)
		arg := tgt
		if code == protocol.CodeNotOwner {
			arg = src
		}
		c.replyErrorArg(code, code.Prefix(), arg)
		if c.srv.tracing() {
			c.traceRoute(protocol.TraceRequest, src, tgt, nil, 0, code, code.Prefix()+string(arg))
		}
		return
	}
	c.stats.requests.Add(1)
	if c.srv.tracing() {
		var m *router.Machine
		var id uint64
		if p != nil {
			m, id = p.Target, p.ID
		}
		c.traceRoute(protocol.TraceRequest, src, tgt, m, id, code, "")
	}
	// The reply is queued by Complete when the target answers or the
	// request fails.
}

func (c *conn) reply() {
	if err := c.ans.Decode(c.req.Payload); err != nil {
		c.replyDecodeError(err)
		return
	}
	if code := c.srv.router.Answer(c, &c.ans); code != protocol.CodeNone {
		c.stats.fail(code)
		var num [24]byte
		arg := strconv.AppendUint(num[:0], c.ans.RequestID, 10)
		c.replyErrorArg(code, protocol.TextUnknownRequest, arg)
		if c.srv.tracing() {
			t := traceOf(protocol.TraceReply, c)
			t.RequestID, t.Size = c.ans.RequestID, c.lineLen
			outcome(&t, code, false, protocol.TextUnknownRequest+string(arg))
			c.srv.emit(&t, c.ans.Payload, c)
		}
		return
	}
	c.stats.replies.Add(1)
	var buf [64]byte
	data := strconv.AppendUint(append(buf[:0], `{"Delivered":true,"RequestId":`...), c.ans.RequestID, 10)
	c.replyData(append(data, '}'))
}

// allow takes one token from the connection's rate-limit bucket, which
// holds at most one second's worth and refills continuously.
func (c *conn) allow(rate int) bool {
	now := time.Now().UnixNano()
	burst := float64(rate)
	if c.refill == 0 {
		c.tokens = burst
	} else {
		c.tokens = min(burst, c.tokens+float64(now-c.refill)*burst/1e9)
	}
	c.refill = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// checkToken authenticates the connection if given matches want
// (compared in constant time); otherwise it replies unauthorized and
// reports false. The token is never logged.
func (c *conn) checkToken(given protocol.String, want string) bool {
	if subtle.ConstantTimeCompare(given.Value(nil), []byte(want)) == 1 {
		c.authed = true
		return true
	}
	c.stats.fail(protocol.CodeUnauthorized)
	c.srv.log.Warn("Refused: missing or wrong Token", "conn", c.id, "pid", c.peer.PID, "uid", c.peer.UID)
	c.replyError(protocol.CodeUnauthorized, protocol.TextWrongToken)
	return false
}

// remoteRequest forwards the current Request to another host; the reply
// is queued when it answers, with this request's Id. The request counts
// against MaxPendingRequests like a local one until it completes (or
// until the connection goes, when Remove drops the whole count).
func (c *conn) remoteRequest(target string, timeout time.Duration) protocol.Code {
	if code := c.srv.router.Hold(c); code != protocol.CodeNone {
		return code
	}
	replyID := append([]byte(nil), c.req.ID...)
	life := c.life
	if life == nil { // accepted before SetBridge
		life = context.Background()
	}
	code := c.srv.bridge.Request(life, target, c.req.Payload, timeout, func(r RemoteReply) {
		c.srv.router.Unhold(c)
		c.completeRemote(replyID, target, &r)
	})
	if code != protocol.CodeNone {
		c.srv.router.Unhold(c) // done will not be called
	}
	return code
}

// completeRemote queues the reply to a Request answered on another host,
// built as Complete builds a local one.
func (c *conn) completeRemote(replyID []byte, target string, r *RemoteReply) {
	c.mu.Lock()
	if c.dead || c.closing {
		c.mu.Unlock()
		return
	}
	c.reserveLocked(len(r.Payload) + len(r.Text) + 2*len(target) + replyRoom)
	switch {
	case r.Code == protocol.CodeNone:
		a := protocol.Answer{Payload: r.Payload}
		c.out = protocol.AppendAnswer(c.out, replyID, r.RequestID, protocol.AppendQuoted(nil, target), &a)
	case r.Text != "":
		c.out = protocol.AppendError(c.out, replyID, r.Code, r.Text)
	case r.Code == protocol.CodeRemote:
		c.out = protocol.AppendError(c.out, replyID, r.Code, protocol.TextRemoteEmpty)
	default:
		c.out = protocol.AppendErrorArg(c.out, replyID, r.Code, r.Code.Prefix(), []byte(target))
	}
	c.mu.Unlock()
	c.flush()
}
