// Package statechart loads XState v5 machine definitions (JSON) and runs
// them with XState's semantics, the SCXML run-to-completion algorithm
// with v5's choices.
//
// Load reads a document; names of actions, guards and delays are bound
// to Go functions in a Registry (an unknown name is a load error) or to
// the built-ins (raise, sendTo, cancel, assign, increment, log, reply,
// request; stateIn, and, or, not, eq), so a chart can run with no Go code
// at all. Object keys are read in document order, which decides
// transition priority and entry order.
//
// An Interpreter runs one instance: each external event is one
// macrostep (microsteps for the event, then eventless transitions before
// each raised event, until both are exhausted; a loop that does not
// settle within WithMaxMicrosteps is an error). Actions run during the
// microstep; their sends are deferred and returned in FIFO order once
// the macrostep completes.
//
// A System hosts machines, one mailbox each, and hands those deferred
// effects out: to the mailboxes of the machines it hosts, to a Transport
// (for example statebus, see package chartbus) for other ids, and to a
// Clock for delayed sends. VirtualClock makes time a test input.
//
// Snapshots have XState's shape ({"value", "status", "context"}) and can
// be saved and restored, with pending delayed sends (System.Save,
// System.SpawnSaved).
//
// The package depends on nothing but the standard library.
package statechart
