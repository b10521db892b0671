package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/statebus/statebus/internal/conformance"
	"github.com/statebus/statebus/internal/server"
	"github.com/statebus/statebus/internal/transport"
)

// TestConformanceBridge runs the conformance suite on two buses joined by
// the bridge through a real nats-server: clients on A talk to machines
// registered on B. Each check gets a fresh pair of buses with a subject
// and bucket prefix of its own on one shared nats-server.
func TestConformanceBridge(t *testing.T) {
	n := startNATS(t)
	var pairs atomic.Int64
	conformance.Run(t, conformance.Harness{
		Features: conformance.Features{
			CrossHost: true, PeerPID: true, PeerUID: true,
		},
		Start: func(t testing.TB, l conformance.Limits) conformance.Bus {
			prefix := fmt.Sprintf("conf%d", pairs.Add(1))
			cfg := server.Config{
				MaxConnections:           l.MaxConnections,
				MaxMessageBytes:          l.MaxMessageBytes,
				MaxQueueBytes:            l.MaxQueueBytes,
				MaxMachinesPerConnection: l.MaxMachinesPerConnection,
				MaxPendingRequests:       l.MaxPendingRequests,
				RequestTimeout:           l.RequestTimeout,
				Peer:                     peerFromOS,
			}
			a := startHostWith(t, n, "alpha", prefix, cfg)
			b := startHostWith(t, n, "beta", prefix, cfg)
			meshed(t, a, b)
			return bridged{a, b}
		},
	})
}

func peerFromOS(c net.Conn) (server.PeerInfo, error) {
	p, err := transport.PeerOf(c)
	return server.PeerInfo{PID: p.PID, UID: p.UID, GID: p.GID}, err
}

// bridged is the conformance suite's view of two bridged hosts.
type bridged struct{ a, b *host }

func (p bridged) Dial(s conformance.Side) (net.Conn, error) {
	h := p.a
	if s == conformance.B {
		h = p.b
	}
	return net.Dial("unix", h.path)
}

// Bound reports whether either bus hosts id, either bridge's directory
// still lists it, or its key is still in the bucket.
func (p bridged) Bound(id string) bool {
	for _, h := range []*host{p.a, p.b} {
		if h.srv.Hosts(id) {
			return true
		}
		for _, m := range h.br.Machines() {
			if m.ID == id {
				return true
			}
		}
	}
	return p.a.claimed(id)
}

// claimed reports whether id's key is in the ownership bucket (true when
// the bucket cannot be asked).
func (h *host) claimed(id string) bool {
	h.br.mu.Lock()
	kv := h.br.kv
	h.br.mu.Unlock()
	if kv == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := kv.Get(ctx, token(id))
	return !errors.Is(err, jetstream.ErrKeyNotFound)
}
