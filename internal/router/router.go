// Package router is statebus's routing table: which connection owns which
// machine id, how events, publishes and requests reach their targets, and
// which requests are waiting for a reply. It does no I/O: connections are
// Endpoints that queue lines without blocking.
//
// Ownership rules (fixing the original's identity hijack, P11 and P15): an
// id belongs to at most one live endpoint; another endpoint cannot bind,
// unbind or send as it; Remove clears everything an endpoint owned at once.
//
// A Router is safe for concurrent use. Its lock is taken before any
// Endpoint's own lock (see docs/locking.md); Endpoint methods must never call
// back into the Router.
package router

import (
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// Errors an Endpoint returns from Deliver.
var (
	// ErrQueueFull means the endpoint's outbound queue has no room.
	ErrQueueFull = errors.New("router: endpoint queue full")
	// ErrClosed means the endpoint is closing and accepts nothing more.
	ErrClosed = errors.New("router: endpoint closed")
)

// Endpoint is one client connection as the router sees it. Implementations
// must be safe for concurrent use and must not block.
type Endpoint interface {
	// Deliver queues a line pushing ev to machine m (an Event, or a Request
	// carrying requestID) for the endpoint from (nil for traffic from
	// another host). It returns ErrQueueFull or ErrClosed on failure.
	Deliver(kind protocol.Kind, ev *protocol.Event, m *Machine, requestID uint64, from Endpoint) error
	// Complete queues the reply to one of this endpoint's requests: the
	// target's answer a, or the failure fail (a is then nil). It is called
	// exactly once per accepted request unless the requester was removed.
	Complete(p *Pending, a *protocol.Answer, fail *protocol.Error)
}

// Info describes a machine as its owner registered it.
type Info struct {
	ProcessName string    // as claimed by the client
	ProcessID   int64     // as claimed by the client
	ConnID      uint64    // the owning connection's number
	BoundAt     time.Time // when the id was first bound
	Subscribed  bool      // a Subscribe (not only a Register) was received
	PeerPID     int       // the owner's process id from the OS; -1 when unknown
	PeerUID     int       // the owner's user id from the OS; -1 when unknown
}

// Machine is a bound machine id. ID, Token and Owner never change.
type Machine struct {
	ID    string          // the id, unescaped
	Token protocol.String // the id as a JSON string token
	Owner Endpoint
	info  Info // guarded by Router.mu
}

// Pending is a request waiting for its target's reply. Fields are set once.
type Pending struct {
	ID        uint64
	Requester Endpoint
	ReplyID   []byte // the requester's "Id", echoed on its reply
	Source    string // the requester's SourceMachineId (for traces)
	Event     string // the request's EventName (for traces)
	Target    *Machine
	timer     *time.Timer
}

// Limits bounds what one endpoint may hold. Zero means unlimited.
type Limits struct {
	MachinesPerEndpoint int
	PendingPerEndpoint  int
}

// Router routes between endpoints. The zero value is not usable; call New.
type Router struct {
	mu       sync.RWMutex
	limits   Limits
	machines map[string]*Machine
	owned    map[Endpoint][]*Machine
	pending  map[uint64]*Pending
	waiting  map[Endpoint]int // pending requests per requester
	nextReq  uint64

	// foreign, when set, reports whether an id not bound here is owned
	// elsewhere (by another host). Set before use; see SetForeign.
	foreign func(id []byte) bool

	// gen changes (under mu, written) whenever machines does: a
	// RouteCache filled at one generation is valid while it lasts.
	gen atomic.Uint64
}

// New returns an empty Router.
func New(l Limits) *Router {
	r := &Router{
		limits:   l,
		machines: make(map[string]*Machine),
		owned:    make(map[Endpoint][]*Machine),
		pending:  make(map[uint64]*Pending),
		waiting:  make(map[Endpoint]int),
	}
	r.gen.Store(1) // an empty RouteCache (generation 0) never matches
	return r
}

// SetLimits changes the limits; they apply to later calls.
func (r *Router) SetLimits(l Limits) {
	r.mu.Lock()
	r.limits = l
	r.mu.Unlock()
}

// SetForeign installs f, which reports whether an id that is not bound on
// this router is owned elsewhere (by a machine on another host). A source
// id f reports is refused with CodeNotOwner by Route, RouteCached, Publish
// and Request, as one another endpoint owns. f is consulted only for
// sources not bound here, always without r.mu held; it must be fast (an
// in-memory lookup), safe for concurrent use, and must not call the Router.
// Call SetForeign before the Router is used concurrently; nil (the
// default) means nothing is owned elsewhere.
func (r *Router) SetForeign(f func(id []byte) bool) { r.foreign = f }

// Bind gives id to ep. Binding an id ep already owns is idempotent and
// updates its info (subscribed stays true once set). It fails with
// CodeIDTaken if another endpoint owns id and CodeTooManyMachines past the
// per-endpoint limit. id is unescaped; token is its JSON form.
func (r *Router) Bind(ep Endpoint, id []byte, token protocol.String, info Info) (*Machine, protocol.Code) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.machines[string(id)]; m != nil {
		if m.Owner != ep {
			return nil, protocol.CodeIDTaken
		}
		info.BoundAt = m.info.BoundAt
		info.Subscribed = info.Subscribed || m.info.Subscribed
		if info.ProcessName == "" && info.ProcessID == 0 {
			info.ProcessName, info.ProcessID = m.info.ProcessName, m.info.ProcessID
		}
		m.info = info
		return m, protocol.CodeNone
	}
	if n := r.limits.MachinesPerEndpoint; n > 0 && len(r.owned[ep]) >= n {
		return nil, protocol.CodeTooManyMachines
	}
	m := &Machine{ID: string(id), Token: protocol.AppendQuoted(nil, id), Owner: ep, info: info}
	r.machines[m.ID] = m
	r.gen.Add(1)
	r.owned[ep] = append(r.owned[ep], m)
	return m, protocol.CodeNone
}

// Unbind releases id if ep owns it; requests waiting on it fail with
// CodeTargetGone. Releasing an unbound id succeeds; an id owned by another
// endpoint fails with CodeNotOwner.
func (r *Router) Unbind(ep Endpoint, id []byte) protocol.Code {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.machines[string(id)]
	if m == nil {
		return protocol.CodeNone
	}
	if m.Owner != ep {
		return protocol.CodeNotOwner
	}
	delete(r.machines, m.ID)
	r.gen.Add(1)
	r.failPendingTo(m)
	list := r.owned[ep]
	for i, x := range list {
		if x == m {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(r.owned, ep)
	} else {
		r.owned[ep] = list
	}
	return protocol.CodeNone
}

// failPendingTo fails, asynchronously, requests waiting on machine m,
// which is going away. r.mu must be held.
func (r *Router) failPendingTo(m *Machine) {
	for id, p := range r.pending {
		if p.Target == m {
			delete(r.pending, id)
			r.release(p)
			p.timer.Stop()
			go p.Requester.Complete(p, nil, &protocol.Error{Code: protocol.CodeTargetGone, Text: protocol.TextTargetGone + m.ID})
		}
	}
}

// Evict releases id whoever owns it, for an id that another host turned
// out to own: requests waiting on it fail with CodeTargetGone. It returns
// the machine that was bound, or nil.
func (r *Router) Evict(id []byte) *Machine {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.machines[string(id)]
	if m == nil {
		return nil
	}
	delete(r.machines, m.ID)
	r.gen.Add(1)
	r.failPendingTo(m)
	list := r.owned[m.Owner]
	for i, x := range list {
		if x == m {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(r.owned, m.Owner)
	} else {
		r.owned[m.Owner] = list
	}
	return m
}

// Remove forgets ep: every id it owned is released, its own pending
// requests are dropped, and requests waiting on it fail at once with
// CodeTargetGone. It returns the ids released.
func (r *Router) Remove(ep Endpoint) []string {
	r.mu.Lock()
	list := r.owned[ep]
	delete(r.owned, ep)
	ids := make([]string, len(list))
	for i, m := range list {
		delete(r.machines, m.ID)
		ids[i] = m.ID
	}
	if len(list) > 0 {
		r.gen.Add(1)
	}
	var gone []*Pending
	for id, p := range r.pending {
		switch {
		case p.Requester == ep:
			delete(r.pending, id)
			p.timer.Stop()
		case p.Target.Owner == ep:
			delete(r.pending, id)
			r.release(p)
			gone = append(gone, p)
		}
	}
	delete(r.waiting, ep)
	r.mu.Unlock()
	for _, p := range gone {
		p.timer.Stop()
		p.Requester.Complete(p, nil, &protocol.Error{Code: protocol.CodeTargetGone, Text: protocol.TextTargetGone + p.Target.ID})
	}
	return ids
}

// Owns reports whether id is bound.
func (r *Router) Owns(id []byte) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.machines[string(id)] != nil
}

// OwnedBy reports whether ep owns id.
func (r *Router) OwnedBy(id []byte, ep Endpoint) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.machines[string(id)]
	return m != nil && m.Owner == ep
}

// checkSource reports CodeNotOwner when src names a machine that another
// endpoint owns, and whether src is free here (bound by nobody), in which
// case the caller asks the foreign hook with r.mu released (see
// SetForeign). Sending as an id that nobody owns is allowed, as in the
// original. A nil src (traffic from another host, checked there) is not
// checked. r.mu must be held.
func (r *Router) checkSource(ep Endpoint, src []byte) (code protocol.Code, free bool) {
	if src == nil {
		return protocol.CodeNone, false
	}
	m := r.machines[string(src)]
	if m == nil {
		return protocol.CodeNone, r.foreign != nil
	}
	if m.Owner != ep {
		return protocol.CodeNotOwner, false
	}
	return protocol.CodeNone, false
}

// ownedElsewhere reports whether src, free here, is owned by another host.
// It must be called without r.mu.
func (r *Router) ownedElsewhere(src []byte) bool {
	return r.foreign != nil && r.foreign(src)
}

// sourceLocked is checkSource for Publish and Request, which hold r.mu
// (as a writer when write is set) for the whole call: for a free source it
// releases the lock to ask the foreign hook, takes it again and checks the
// source anew, since it may have been bound meanwhile.
func (r *Router) sourceLocked(ep Endpoint, src []byte, write bool) protocol.Code {
	code, free := r.checkSource(ep, src)
	if !free {
		return code
	}
	unlock, lock := r.mu.RUnlock, r.mu.RLock
	if write {
		unlock, lock = r.mu.Unlock, r.mu.Lock
	}
	unlock()
	elsewhere := r.ownedElsewhere(src)
	lock()
	if elsewhere {
		return protocol.CodeNotOwner
	}
	code, _ = r.checkSource(ep, src)
	return code
}

// Route delivers ev from ep to the machine named target (unescaped). src is
// the unescaped SourceMachineId. It returns the target on success, or
// CodeNotOwner, CodeNotConnected or CodeQueueFull.
func (r *Router) Route(ep Endpoint, src, target []byte, ev *protocol.Event) (*Machine, protocol.Code) {
	r.mu.RLock()
	code, free := r.checkSource(ep, src)
	m := r.machines[string(target)]
	r.mu.RUnlock()
	if free && r.ownedElsewhere(src) {
		code = protocol.CodeNotOwner
	}
	if code != protocol.CodeNone {
		return nil, code
	}
	if m == nil {
		return nil, protocol.CodeNotConnected
	}
	return m, deliverCode(m.Owner.Deliver(protocol.KindEvent, ev, m, 0, ep))
}

// A RouteCache remembers an endpoint's last route: its source's verdict
// and its target's machine, for the Router generation they were looked up
// at. A stream of events from one source to one target then skips the
// Router's lock and both lookups for as long as no machine is bound or
// released anywhere, and routes exactly as Route would. The zero value is
// empty. A RouteCache is not safe for concurrent use: each endpoint's
// reader keeps its own.
type RouteCache struct {
	gen     uint64
	srcNil  bool
	srcFree bool // the source is bound by nobody here: ask the foreign hook
	src     []byte
	target  []byte
	m       *Machine
	code    protocol.Code
}

// RouteCached is Route, with c remembering the lookups. Whether a free
// source is owned on another host is asked on every call (the answer can
// change without this router's generation changing); a source bound here
// costs nothing more.
func (r *Router) RouteCached(c *RouteCache, ep Endpoint, src, target []byte, ev *protocol.Event) (*Machine, protocol.Code) {
	if c.gen != r.gen.Load() || c.srcNil != (src == nil) || string(c.src) != string(src) || string(c.target) != string(target) {
		r.mu.RLock()
		c.gen = r.gen.Load()
		c.code, c.srcFree = r.checkSource(ep, src)
		c.m = r.machines[string(target)]
		r.mu.RUnlock()
		c.srcNil = src == nil
		c.src = append(c.src[:0], src...)
		c.target = append(c.target[:0], target...)
	}
	if c.code != protocol.CodeNone {
		return nil, c.code
	}
	if c.srcFree && r.ownedElsewhere(src) {
		return nil, protocol.CodeNotOwner
	}
	if c.m == nil {
		return nil, protocol.CodeNotConnected
	}
	return c.m, deliverCode(c.m.Owner.Deliver(protocol.KindEvent, ev, c.m, 0, ep))
}

func deliverCode(err error) protocol.Code {
	switch {
	case err == nil:
		return protocol.CodeNone
	case errors.Is(err, ErrQueueFull):
		return protocol.CodeQueueFull
	default:
		return protocol.CodeNotConnected
	}
}

// Publish delivers ev to every bound machine whose owner is not ep. It
// returns how many deliveries succeeded and how many failed on a full
// queue (machines whose connection is closing are skipped), or
// CodeNotOwner if src belongs to another endpoint.
func (r *Router) Publish(ep Endpoint, src []byte, ev *protocol.Event) (delivered, failed int, code protocol.Code) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if code = r.sourceLocked(ep, src, false); code != protocol.CodeNone {
		return 0, 0, code
	}
	for _, m := range r.machines {
		if m.Owner == ep {
			continue
		}
		switch err := m.Owner.Deliver(protocol.KindEvent, ev, m, 0, ep); {
		case err == nil:
			delivered++
		case errors.Is(err, ErrQueueFull):
			failed++
		}
	}
	return delivered, failed, protocol.CodeNone
}

// Request delivers ev to target as a request and registers it as pending
// until the target answers or timeout passes; then ep.Complete is called.
// replyID is copied. On failure nothing is pending and the code says why.
func (r *Router) Request(ep Endpoint, src, target []byte, ev *protocol.Event, replyID []byte, timeout time.Duration) (*Pending, protocol.Code) {
	r.mu.Lock()
	if code := r.sourceLocked(ep, src, true); code != protocol.CodeNone {
		r.mu.Unlock()
		return nil, code
	}
	m := r.machines[string(target)]
	if m == nil {
		r.mu.Unlock()
		return nil, protocol.CodeNotConnected
	}
	if n := r.limits.PendingPerEndpoint; n > 0 && r.waiting[ep] >= n {
		r.mu.Unlock()
		return nil, protocol.CodeTooManyRequests
	}
	r.nextReq++
	p := &Pending{ID: r.nextReq, Requester: ep, Source: string(src), Event: string(ev.Name.Value(nil)), Target: m}
	if replyID != nil {
		p.ReplyID = append([]byte(nil), replyID...)
	}
	r.pending[p.ID] = p
	r.waiting[ep]++
	id := p.ID
	p.timer = time.AfterFunc(timeout, func() { r.expire(id) })
	r.mu.Unlock()

	if code := deliverCode(m.Owner.Deliver(protocol.KindRequest, ev, m, p.ID, ep)); code != protocol.CodeNone {
		r.mu.Lock()
		_, still := r.pending[id]
		if still {
			delete(r.pending, id)
			r.release(p)
		}
		r.mu.Unlock()
		p.timer.Stop()
		if !still {
			// The timer or a Remove already completed it; report success so
			// the requester does not get two replies.
			return p, protocol.CodeNone
		}
		return nil, code
	}
	return p, protocol.CodeNone
}

// Hold counts one Request of ep whose target is elsewhere (on another
// host, so nothing is pending here) against PendingPerEndpoint, as Request
// counts its own: it returns CodeTooManyRequests when ep has that many
// requests pending already, here and elsewhere together. Each successful
// Hold must be ended by exactly one Unhold when that request completes;
// Remove(ep) drops ep's whole count, after which Unhold does nothing.
func (r *Router) Hold(ep Endpoint) protocol.Code {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.limits.PendingPerEndpoint; n > 0 && r.waiting[ep] >= n {
		return protocol.CodeTooManyRequests
	}
	r.waiting[ep]++
	return protocol.CodeNone
}

// Unhold ends one Hold of ep.
func (r *Router) Unhold(ep Endpoint) {
	r.mu.Lock()
	r.unwait(ep)
	r.mu.Unlock()
}

// Drop forgets pending request id without completing it: its requester
// (a Request from another host) went away. It reports whether id was
// pending; a later Answer to it gets CodeUnknownRequest, as for a local
// requester that disconnected.
func (r *Router) Drop(id uint64) bool {
	r.mu.Lock()
	p := r.pending[id]
	if p != nil {
		delete(r.pending, id)
		r.release(p)
	}
	r.mu.Unlock()
	if p != nil {
		p.timer.Stop()
	}
	return p != nil
}

// release drops p from its requester's count. r.mu must be held.
func (r *Router) release(p *Pending) { r.unwait(p.Requester) }

// unwait takes one request off ep's count; a count Remove dropped stays
// dropped. r.mu must be held.
func (r *Router) unwait(ep Endpoint) {
	if n := r.waiting[ep] - 1; n > 0 {
		r.waiting[ep] = n
	} else {
		delete(r.waiting, ep)
	}
}

func (r *Router) expire(id uint64) {
	r.mu.Lock()
	p := r.pending[id]
	if p != nil {
		delete(r.pending, id)
		r.release(p)
	}
	r.mu.Unlock()
	if p != nil {
		p.Requester.Complete(p, nil, &protocol.Error{Code: protocol.CodeTimeout, Text: protocol.TextTimeout + p.Target.ID})
	}
}

// Answer completes the pending request a names, which must target a
// machine that ep owns; otherwise it returns CodeUnknownRequest.
func (r *Router) Answer(ep Endpoint, a *protocol.Answer) protocol.Code {
	r.mu.Lock()
	p := r.pending[a.RequestID]
	if p == nil || p.Target.Owner != ep {
		r.mu.Unlock()
		return protocol.CodeUnknownRequest
	}
	delete(r.pending, a.RequestID)
	r.release(p)
	r.mu.Unlock()
	p.timer.Stop()
	p.Requester.Complete(p, a, nil)
	return protocol.CodeNone
}

// MachineInfo is a snapshot of one bound machine.
type MachineInfo struct {
	ID string
	Info
}

// Machines returns a snapshot of every bound machine, sorted by id.
func (r *Router) Machines() []MachineInfo {
	r.mu.RLock()
	out := make([]MachineInfo, 0, len(r.machines))
	for _, m := range r.machines {
		out = append(out, MachineInfo{ID: m.ID, Info: m.info})
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Count returns the number of bound machines.
func (r *Router) Count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.machines)
}

// PendingCount returns the number of requests waiting for a reply.
func (r *Router) PendingCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.pending)
}
