// Package conformance is the one test body every statebus transport and
// deployment runs: the golden transcripts of testdata/transcripts and the
// key behaviours of docs/protocol.md (routing, machine-id ownership, one
// reply per request line, the limits, clean-up on disconnect, Request and
// Reply with timeouts and target_disconnected, Publish), driven with raw
// wire lines, byte for byte.
//
// A test hands Run a Harness: how to start a bus with given limits, how to
// dial it, and the Features of that transport. Where a behaviour depends on
// the transport or deployment, a Feature says so and the suite adapts or
// skips exactly the checks concerned, logging each one; nothing is skipped
// silently. The idea of declaring features to one shared test body is
// watermill's pubsub/tests.
//
// The package imports only the standard library and "testing"; it knows
// nothing of the server it tests.
package conformance

import (
	"net"
	"testing"
	"time"
)

// Side names one of a harness's buses. Without Features.CrossHost both
// sides are the same bus.
type Side int

// The two sides. Transcripts open a connection on A unless it says "on B".
const (
	A Side = iota // the bus of the requester, sender or publisher
	B             // the bus of the target machines: another host with CrossHost
)

func (s Side) String() string {
	if s == B {
		return "B"
	}
	return "A"
}

// Limits are server limits a check needs; zero fields take the bus's
// defaults. A CrossHost harness applies them to both buses.
type Limits struct {
	MaxConnections           int
	MaxMessageBytes          int
	MaxQueueBytes            int
	MaxMachinesPerConnection int
	MaxPendingRequests       int
	RequestTimeout           time.Duration
}

// Features says what differs on a harness's transport or deployment.
// Each field names the checks it changes.
type Features struct {
	// CrossHost: side B is a second bus, joined to A's by a bridge, so a
	// client on A talks to machines registered on B (docs/scale-out.md).
	// Changes: Publish's Recipients counts the publisher's host only; and
	// ListMachines on A lists B's machines as remote ones, with their Host
	// and without connection details.
	CrossHost bool
	// PeerPID and PeerUID: the transport reports the connecting process's
	// id and user id (SO_PEERCRED; a Windows pipe gives the process id
	// only). Where it does not, ListMachines has -1 in PeerPid or PeerUid.
	PeerPID, PeerUID bool
}

// Bus is a running bus, or with CrossHost a pair of bridged buses.
type Bus interface {
	// Dial opens a connection to side s. The suite closes it.
	Dial(s Side) (net.Conn, error)
	// Bound reports whether any bus of the harness still has id bound, or
	// still lists it as bound elsewhere. The suite polls it after a
	// disconnect, which the bus processes asynchronously.
	Bound(id string) bool
}

// Harness is what a transport gives the suite.
type Harness struct {
	Features Features
	// Start starts a fresh bus (both buses with CrossHost) with limits l.
	// It stops it, checking a clean shutdown, in t's cleanup.
	Start func(t testing.TB, l Limits) Bus
}

// Run runs the whole suite on h, each transcript and behaviour as a
// subtest of t with a fresh bus.
func Run(t *testing.T, h Harness) {
	t.Run("Transcripts", func(t *testing.T) { runTranscripts(t, h) })
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(&suite{t: t, h: h}) })
	}
}

// checks are the behaviours Run checks beyond the transcripts.
var checks = []struct {
	name string
	run  func(s *suite)
}{
	{"PayloadVerbatim", payloadVerbatim},
	{"EventBeforeAck", eventBeforeAck},
	{"OneReplyPerLine", oneReplyPerLine},
	{"HostileLines", hostileLines},
	{"LineTooLong", lineTooLong},
	{"FatalErrorAfterPipelinedLine", fatalErrorAfterPipelinedLine},
	{"QueueFull", queueFull},
	{"MaxConnections", maxConnections},
	{"MachinesPerConnection", machinesPerConnection},
	{"PendingRequests", pendingRequests},
	{"DisconnectReleases", disconnectReleases},
	{"RequestOutOfOrder", requestOutOfOrder},
	{"RequestDefaultTimeout", requestDefaultTimeout},
	{"RequestTargetUnregisters", requestTargetUnregisters},
	{"Publish", publish},
}

// suite is the state of one check.
type suite struct {
	t      *testing.T
	h      Harness
	bus    Bus
	logged map[string]bool
}

// start starts the check's bus with limits l.
func (s *suite) start(l Limits) {
	s.t.Helper()
	s.bus = s.h.Start(s.t, l)
}

// skip logs, once per check, that the check named what is skipped or
// adapted because of the feature called flag.
func (s *suite) skip(flag, what string) {
	s.t.Helper()
	msg := "skipped where " + flag + ": " + what
	if s.logged == nil {
		s.logged = map[string]bool{}
	}
	if !s.logged[msg] {
		s.logged[msg] = true
		s.t.Log(msg)
	}
}
