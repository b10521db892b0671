package client

import (
	"errors"

	"github.com/statebus/statebus/internal/protocol"
)

// Sentinel errors. Errors returned by calls match them with errors.Is; a
// failure reported by the bus is an *Error that also matches the sentinel
// of its code.
var (
	// ErrClosed: the Conn was closed; pending and later calls fail with it.
	ErrClosed = errors.New("statebus: connection closed")
	// ErrDisconnected: the connection to the bus is down (it dropped while
	// the call was pending, or the call was made while reconnecting).
	ErrDisconnected = errors.New("statebus: disconnected from the bus")
	// ErrNotConnected: no live connection owns the target machine id.
	ErrNotConnected = errors.New("statebus: target machine not connected")
	// ErrQueueFull: the target's queue is full (it is not reading).
	ErrQueueFull = errors.New("statebus: target queue full")
	// ErrTimeout: a Request got no reply in time.
	ErrTimeout = errors.New("statebus: request timed out")
	// ErrTargetGone: the target disconnected before answering a Request.
	ErrTargetGone = errors.New("statebus: target disconnected before replying")
	// ErrIDTaken: another connection owns the machine id.
	ErrIDTaken = errors.New("statebus: machine id owned by another connection")
	// ErrRemote: the target answered a Request with an error.
	ErrRemote = errors.New("statebus: target replied with an error")
	// ErrBridgeDown: the target is not on this host and the bus's link to
	// other hosts is down.
	ErrBridgeDown = errors.New("statebus: bridge to other hosts is down")
	// ErrRejected: the bus refused the request for another reason (bad
	// input, limits); the *Error says which.
	ErrRejected = errors.New("statebus: request rejected")
	// ErrBound: Bind of a machine id that a Member of this Conn has bound
	// already (until that Member's Close).
	ErrBound = errors.New("statebus: machine id already bound on this connection")
	// ErrNoMachine: Send or Publish without a source machine id.
	ErrNoMachine = errors.New("statebus: no machine id registered on this connection to send as")
)

// Error is a failure the bus reported: its code and text.
type Error struct {
	Code string // the bus's error code, e.g. "target_not_connected"
	Text string // the bus's error text
}

func (e *Error) Error() string { return "statebus: " + e.Text }

// Unwrap returns the sentinel for the code, so errors.Is(err, ErrQueueFull)
// and the like work.
func (e *Error) Unwrap() error {
	switch protocol.CodeByName(e.Code) {
	case protocol.CodeNotConnected:
		return ErrNotConnected
	case protocol.CodeQueueFull:
		return ErrQueueFull
	case protocol.CodeTimeout:
		return ErrTimeout
	case protocol.CodeTargetGone:
		return ErrTargetGone
	case protocol.CodeIDTaken, protocol.CodeNotOwner:
		return ErrIDTaken
	case protocol.CodeRemote:
		return ErrRemote
	case protocol.CodeBridgeDown:
		return ErrBridgeDown
	default:
		return ErrRejected
	}
}

// AsyncError reports the failure of a SendAsync, or of a Reply sent for
// an OnRequest handler.
type AsyncError struct {
	Target string // target machine id
	Event  string // event name
	Err    error
}

func (e *AsyncError) Error() string {
	return "statebus: async send of " + e.Event + " to " + e.Target + ": " + e.Err.Error()
}

func (e *AsyncError) Unwrap() error { return e.Err }
