package server_test

import (
	"net"
	"sync"
	"testing"

	"github.com/statebus/statebus/internal/conformance"
	"github.com/statebus/statebus/internal/server"
)

// serverConfig is the server configuration for conformance limits l.
func serverConfig(l conformance.Limits) server.Config {
	return server.Config{
		MaxConnections:           l.MaxConnections,
		MaxMessageBytes:          l.MaxMessageBytes,
		MaxQueueBytes:            l.MaxQueueBytes,
		MaxMachinesPerConnection: l.MaxMachinesPerConnection,
		MaxPendingRequests:       l.MaxPendingRequests,
		RequestTimeout:           l.RequestTimeout,
	}
}

// conformanceBus is a bus as the conformance suite sees it; both sides
// are the same bus.
type conformanceBus struct {
	bus  *testBus
	dial func() (net.Conn, error)
}

func (b conformanceBus) Dial(conformance.Side) (net.Conn, error) { return b.dial() }

func (b conformanceBus) Bound(id string) bool { return b.bus.Hosts(id) }

// TestConformanceUnixSocket runs the conformance suite over real Unix
// sockets, with the OS's peer credentials.
func TestConformanceUnixSocket(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Features: conformance.Features{PeerPID: true, PeerUID: true},
		Start: func(t testing.TB, l conformance.Limits) conformance.Bus {
			cfg := serverConfig(l)
			cfg.Peer = peerFromOS
			bus := startBus(t, cfg)
			return conformanceBus{bus: bus, dial: func() (net.Conn, error) { return net.Dial("unix", bus.path) }}
		},
	})
}

// TestConformanceNetPipe runs the conformance suite over net.Pipe: no
// socket buffers, no file descriptor, so no writev and no parking.
func TestConformanceNetPipe(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Start: func(t testing.TB, l conformance.Limits) conformance.Bus {
			ln := newPipeListener()
			bus := serveBus(t, serverConfig(l), ln, "")
			return conformanceBus{bus: bus, dial: ln.dial}
		},
	})
}

// pipeListener is a net.Listener whose connections are net.Pipe ends.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// dial hands the server one end of a new pipe and returns the other.
func (l *pipeListener) dial() (net.Conn, error) {
	client, srv := net.Pipe()
	select {
	case l.conns <- srv:
		return client, nil
	case <-l.done:
		client.Close()
		srv.Close()
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "net.Pipe" }
