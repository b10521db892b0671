package server

import (
	"context"
	"time"

	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/router"
)

// Bridge links this bus to the buses of other hosts (see bridge/nats).
// The server consults it for machine ids it does not host, and tells it
// which ids it hosts. Implementations must be safe for concurrent use.
type Bridge interface {
	// Claim is called before an id is bound on this host for the first
	// time. It returns CodeIDTaken when another host owns the id, or
	// CodeNone to let the binding proceed. It may block up to ctx's
	// deadline; it runs on the registering connection's reader.
	Claim(ctx context.Context, id string) protocol.Code
	// Released is called after an id bound on this host was released.
	Released(id string)
	// Owner reports which host owns id as far as the bridge knows, and
	// whether that is another live host (remote). It answers from memory
	// (the bridge's directory, which follows claims made on other hosts
	// with a short lag) and never waits on the network: the server calls
	// it for every SendEvent, Publish, Request and Unregister whose
	// machine id is not bound on this host, to refuse with not_owner a
	// source or an Unregister of an id another host owns (protocol §5).
	Owner(id string) (host string, remote bool)
	// Send delivers a SendEvent payload object (the request's Payload
	// bytes, verbatim) to target on another host and waits for that bus's
	// verdict: CodeNone once it queued the event for a live connection,
	// CodeNotConnected when no host has target, CodeQueueFull, or
	// CodeTimeout when the remote bus did not answer. It runs on the
	// sending connection's reader, so replies stay in order.
	Send(ctx context.Context, target string, payload []byte) protocol.Code
	// Publish hands a Publish payload object to the other hosts without
	// waiting.
	Publish(payload []byte)
	// Request forwards a Request payload object to target on another host
	// without waiting. done is called exactly once, with the target's
	// answer or a failure, unless Request itself returns a code other
	// than CodeNone or ctx ends first. ctx is the requester's life: when
	// it ends before the request does (the requesting connection went
	// away), the request is abandoned, done is not called, and the
	// target's host is told to drop the request, so that a late Reply
	// there gets unknown_request. The target's host enforces timeout; the
	// bridge may give up on its own somewhat later (when the target's host
	// does not answer at all) and then tells that host too.
	Request(ctx context.Context, target string, payload []byte, timeout time.Duration, done func(RemoteReply)) protocol.Code
	// Machines lists the machines of the other hosts.
	Machines() []RemoteMachine
	// Status reports the link's state.
	Status() BridgeStatus
}

// RemoteReply is how a Request that went to another host ended.
type RemoteReply struct {
	// RequestID is the RequestId the target's bus gave the request (the
	// one its target saw); 0 when unknown (a failure, or an older bus).
	RequestID uint64
	// Payload is the answer's payload, raw (nil when absent), when Code
	// is CodeNone.
	Payload []byte
	// Code is CodeNone for an answer, otherwise the failure:
	// CodeRemote, CodeTimeout, CodeTargetGone, ...
	Code protocol.Code
	// Text is the failure's text, as a requester on the target's host
	// would get it; "" gives the code's prefix and the target's id (and
	// TextRemoteEmpty for CodeRemote).
	Text string
}

// RemoteMachine is a machine hosted by another bus.
type RemoteMachine struct {
	ID, Host string
}

// BridgeStatus is the bridge's state for health and metrics.
type BridgeStatus struct {
	Connected bool
	Hosts     int    // other hosts seen
	Error     string // why it is not connected
}

// bridgeTimeout bounds one remote Send or Claim.
const bridgeTimeout = 2 * time.Second

// SetBridge attaches a bridge; call it before Serve. From then on a
// source id or an Unregister of an id that b says another host owns is
// refused with not_owner.
func (s *Server) SetBridge(b Bridge) {
	s.bridge = b
	s.router.SetForeign(s.ownedElsewhere)
}

// ownedElsewhere reports whether the bridge knows another host to own id.
func (s *Server) ownedElsewhere(id []byte) bool {
	if s.bridge == nil {
		return false
	}
	_, remote := s.bridge.Owner(string(id))
	return remote
}

// remoteEndpoint is the requester of a Request that came from another
// host: it owns no machines and completes by calling done.
type remoteEndpoint struct {
	s    *Server
	done func(RemoteReply)
}

func (*remoteEndpoint) Deliver(protocol.Kind, *protocol.Event, *router.Machine, uint64, router.Endpoint) error {
	return router.ErrClosed
}

func (r *remoteEndpoint) Complete(p *router.Pending, a *protocol.Answer, fail *protocol.Error) {
	rr := RemoteReply{RequestID: p.ID}
	switch {
	case fail != nil:
		rr.Code, rr.Text = fail.Code, fail.Text
	case !a.Error.IsZero():
		rr.Code, rr.Text = protocol.CodeRemote, string(a.Error.Value(nil))
		if rr.Text == "" {
			rr.Text = protocol.TextRemoteEmpty // as AppendAnswer says it locally
		}
	default:
		rr.Payload = append([]byte(nil), a.Payload...) // nil stays nil
	}
	if r.s.tracing() {
		t := traceOf(protocol.TraceReply, nil)
		t.Source, t.Event, t.RequestID = p.Target.ID, p.Event, p.ID
		if o, ok := p.Target.Owner.(*conn); ok {
			t.Conn, t.Pid, t.Uid = o.id, o.peer.PID, o.peer.UID
		}
		var payload []byte
		if fail != nil && fail.Code != protocol.CodeRemote {
			outcome(&t, fail.Code, false, fail.Text)
		} else {
			t.Outcome, t.Error = protocol.OutcomeDelivered, rr.Text
			if a != nil {
				payload = a.Payload
			}
		}
		r.s.emit(&t, payload, nil)
	}
	r.done(rr)
}

// RemoteSend delivers an event that came from another host (a SendEvent
// payload object) to the local machine it targets, and returns the
// verdict the sending host reports to its client.
func (s *Server) RemoteSend(payload []byte) protocol.Code {
	var ev protocol.Event
	if err := ev.Decode(payload, true); err != nil {
		return protocol.CodeInvalidPayload
	}
	m, code := s.router.Route(nil, nil, ev.Target.Value(nil), &ev)
	if s.tracing() {
		s.traceRemote(protocol.TraceEvent, &ev, m, 0, code, len(payload), 0)
	}
	return code
}

// RemotePublish delivers a Publish from another host to every local
// machine and returns how many it reached.
func (s *Server) RemotePublish(payload []byte) int {
	var ev protocol.Event
	if ev.Decode(payload, false) != nil {
		return 0
	}
	n, _, _ := s.router.Publish(nil, nil, &ev)
	if s.tracing() {
		s.traceRemote(protocol.TracePublish, &ev, nil, 0, protocol.CodeNone, len(payload), n)
	}
	return n
}

// RemoteRequest delivers a Request from another host to the local machine
// it targets; done gets the answer, exactly once, unless the request is
// dropped with DropRemote first. It returns the request's RequestId, or a
// code other than CodeNone (and done is not called) when the request
// cannot be delivered.
func (s *Server) RemoteRequest(payload []byte, timeout time.Duration, done func(RemoteReply)) (uint64, protocol.Code) {
	var ev protocol.Event
	if err := ev.Decode(payload, true); err != nil {
		return 0, protocol.CodeInvalidPayload
	}
	p, code := s.router.Request(&remoteEndpoint{s: s, done: done}, nil, ev.Target.Value(nil), &ev, nil, timeout)
	if s.tracing() {
		var m *router.Machine
		var id uint64
		if p != nil {
			m, id = p.Target, p.ID
		}
		s.traceRemote(protocol.TraceRequest, &ev, m, id, code, len(payload), 0)
	}
	if code != protocol.CodeNone {
		return 0, code
	}
	return p.ID, protocol.CodeNone
}

// DropRemote forgets request id, which came from another host whose
// requester went away: done is not called, and a Reply to it gets
// unknown_request. It reports whether the request was still pending.
func (s *Server) DropRemote(id uint64) bool { return s.router.Drop(id) }

// Hosts reports whether a live local connection owns id.
func (s *Server) Hosts(id string) bool { return s.router.Owns([]byte(id)) }

// LocalMachines lists the ids bound on this host.
func (s *Server) LocalMachines() []string {
	list := s.router.Machines()
	ids := make([]string, len(list))
	for i, m := range list {
		ids[i] = m.ID
	}
	return ids
}

// claim asks the bridge before binding an id this connection does not
// own yet.
func (c *conn) claim(id []byte) protocol.Code {
	b := c.srv.bridge
	if b == nil || c.srv.router.OwnedBy(id, c) {
		return protocol.CodeNone
	}
	ctx, cancel := context.WithTimeout(context.Background(), bridgeTimeout)
	defer cancel()
	return b.Claim(ctx, string(id))
}

// released tells the bridge about ids this host no longer has.
func (s *Server) released(ids ...string) {
	s.forgetStates(ids...)
	if s.bridge == nil {
		return
	}
	for _, id := range ids {
		s.bridge.Released(id)
	}
}

// EventEvicted is the event a connection receives when one of its machine
// ids was released because another host owns it (after a partition of the
// bridge). Its source is BusMachineID; its payload {"MachineId","Reason"}.
const EventEvicted = "MachineEvicted"

// BusMachineID is the source of events the bus itself sends.
const BusMachineID = "$bus"

// Evict releases a machine id bound on this host because another host
// owns it: requests waiting on it fail with target_disconnected, and the
// connection that owned it gets a MachineEvicted event from "$bus" so it
// can react (register another id, or exit). It reports whether the id was
// bound. The bridge's claim is not touched: it belongs to the other host.
func (s *Server) Evict(id, reason string) bool {
	m := s.router.Evict([]byte(id))
	if m == nil {
		return false
	}
	s.log.Warn("Machine evicted", "machine", id, "reason", reason)
	s.forgetStates(id)
	payload := append([]byte(`{"MachineId":`), protocol.AppendQuoted(nil, id)...)
	payload = append(append(append(payload, `,"Reason":`...), protocol.AppendQuoted(nil, reason)...), '}')
	ev := protocol.Event{
		Source:  protocol.AppendQuoted(nil, BusMachineID),
		Name:    protocol.AppendQuoted(nil, EventEvicted),
		Payload: payload,
	}
	m.Owner.Deliver(protocol.KindEvent, &ev, m, 0, nil)
	return true
}

// traceRemote traces an event, publish or request that came from another
// host (Conn 0): delivered to m, or failed with code.
func (s *Server) traceRemote(kind string, ev *protocol.Event, m *router.Machine, requestID uint64, code protocol.Code, size, recipients int) {
	t := traceOf(kind, nil)
	t.Source, t.Target, t.Event = transient(ev.Source.Value(nil)), transient(ev.Target.Value(nil)), transient(ev.Name.Value(nil))
	t.Size, t.RequestID, t.Recipients = size, requestID, recipients
	outcome(&t, code, true, code.Prefix()+t.Target)
	if m != nil {
		if o, ok := m.Owner.(*conn); ok {
			t.TargetConn, t.TargetPid = o.id, o.peer.PID
		}
	}
	s.emit(&t, ev.Payload, nil)
}
