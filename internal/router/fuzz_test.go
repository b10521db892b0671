package router

import (
	"testing"
	"time"

	"github.com/statebus/statebus/internal/protocol"
)

// FuzzRouter drives a Router with random sequences of bind, unbind, send,
// publish, request, answer and disconnect from four endpoints, checking
// its invariants after every step: an id belongs to at most one live
// endpoint, a removed endpoint owns nothing and has nothing pending, and
// every accepted request is completed exactly once (unless its requester
// left first).
func FuzzRouter(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6})
	f.Add([]byte{0x00, 0x10, 0x41, 0x52, 0x63, 0x06, 0x16})
	f.Add([]byte("bind send request answer remove"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		r := New(Limits{MachinesPerEndpoint: 4, PendingPerEndpoint: 3})
		var eps [4]*sink
		live := [4]bool{}
		for i := range eps {
			eps[i], live[i] = newSink(), true
		}
		accepted := map[uint64]int{} // request id -> requester
		owners := map[string]int{}   // our model of ownership
		var caches [4]RouteCache     // one per endpoint, as each reader keeps
		ids := []string{"a", "b", "c", "d", "e", "f"}
		for step, op := range ops {
			e, kind, id := int(op>>6), int(op>>3)&7, ids[int(op)%len(ids)]
			ep := eps[e]
			if !live[e] {
				eps[e], live[e] = newSink(), true // a new connection in its place
				ep = eps[e]
				caches[e] = RouteCache{}
			}
			switch kind {
			case 0, 1: // bind
				_, code := r.Bind(ep, []byte(id), protocol.AppendQuoted(nil, id), Info{})
				if o, ok := owners[id]; ok && o != e && code != protocol.CodeIDTaken {
					t.Fatalf("step %d: %s owned by %d was bound by %d: %v", step, id, o, e, code)
				}
				if code == protocol.CodeNone {
					owners[id] = e
				}
			case 2: // unbind
				code := r.Unbind(ep, []byte(id))
				if o, ok := owners[id]; ok && o != e && code != protocol.CodeNotOwner {
					t.Fatalf("step %d: foreign unbind of %s: %v", step, id, code)
				}
				if code == protocol.CodeNone && owners[id] == e {
					delete(owners, id)
				}
			case 3: // send to id, as id itself or anonymously
				src := "anon"
				if step%2 == 1 {
					src = id
				}
				var code protocol.Code
				if step%3 != 0 {
					_, code = r.RouteCached(&caches[e], ep, []byte(src), []byte(id), ev(src, id))
				} else {
					_, code = r.Route(ep, []byte(src), []byte(id), ev(src, id))
				}
				o, owned := owners[id]
				want := protocol.CodeNotConnected
				switch {
				case owned && src == id && o != e:
					want = protocol.CodeNotOwner
				case owned:
					want = protocol.CodeNone
				}
				if code != want {
					t.Fatalf("step %d: %d sends to %s as %s (owned %v by %d): %v, want %v", step, e, id, src, owned, o, code, want)
				}
			case 4:
				r.Publish(ep, []byte("anon"), ev("anon", ""))
			case 5: // request
				p, code := r.Request(ep, []byte("anon"), []byte(id), ev("anon", id), []byte("1"), time.Hour)
				if code == protocol.CodeNone {
					accepted[p.ID] = e
				}
			case 6: // answer whatever the endpoint was asked most recently
				ep.mu.Lock()
				n := len(ep.requests)
				var rid uint64
				if n > 0 {
					rid = ep.requests[n-1]
				}
				ep.mu.Unlock()
				if n > 0 {
					r.Answer(ep, &protocol.Answer{RequestID: rid})
				}
			case 7: // disconnect
				r.Remove(ep)
				live[e] = false
				for id, o := range owners {
					if o == e {
						delete(owners, id)
					}
				}
				r.mu.RLock()
				_, owns := r.owned[ep]
				_, waits := r.waiting[ep]
				r.mu.RUnlock()
				if owns || waits {
					t.Fatalf("step %d: removed endpoint still owns or waits", step)
				}
			}
			check(t, r)
			if r.Count() != len(owners) {
				t.Fatalf("step %d: router has %d machines, model %d", step, r.Count(), len(owners))
			}
		}
		// Everyone leaves: nothing may stay pending, and no request may be
		// completed twice.
		for i := range eps {
			r.Remove(eps[i])
		}
		if r.PendingCount() != 0 || r.Count() != 0 {
			t.Fatalf("left behind: %d pending, %d machines", r.PendingCount(), r.Count())
		}
		for i, s := range eps {
			s.mu.Lock()
			n := len(s.completed)
			s.mu.Unlock()
			want := 0
			for _, e := range accepted {
				if e == i {
					want++
				}
			}
			if n > want {
				t.Fatalf("endpoint %d: %d completions for %d requests", i, n, want)
			}
		}
	})
}
