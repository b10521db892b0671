package statechart

import (
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotSettled: a macrostep took more microsteps than the limit
	// (WithMaxMicrosteps) because eventless transitions or raised events
	// kept enabling each other. The machine's status becomes error.
	ErrNotSettled = errors.New("statechart: eventless transitions or raised events did not settle")
	// ErrUnknownName: the document names an action, guard or delay that
	// is neither built in nor registered.
	ErrUnknownName = errors.New("statechart: unknown name")
	// ErrNotActive: an event was sent to a machine that is done, failed or
	// not started.
	ErrNotActive = errors.New("statechart: machine is not active")
	// ErrUnknownMachine: a System has no machine with that id.
	ErrUnknownMachine = errors.New("statechart: no such machine")
)

// LoadError is a problem in a machine document. Path is a JSON Pointer
// (RFC 6901) to the offending value, "" for the whole document.
type LoadError struct {
	Path string
	Msg  string
	Err  error // optional cause, e.g. ErrUnknownName
}

func (e *LoadError) Error() string {
	p := e.Path
	if p == "" {
		p = "/"
	}
	return fmt.Sprintf("statechart: %s: %s", p, e.Msg)
}

func (e *LoadError) Unwrap() error { return e.Err }

// RunError is a failure while running a machine: an action or guard that
// returned an error, or a macrostep that did not settle. Path points at
// the action, guard or transition in the document.
type RunError struct {
	Machine string // the machine instance's id
	Path    string
	Err     error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("statechart: machine %s: %s: %v", e.Machine, e.Path, e.Err)
}

func (e *RunError) Unwrap() error { return e.Err }
