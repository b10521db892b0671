package statechart

import (
	"fmt"
	"time"
)

// Action is a named action implemented in Go. It runs synchronously
// during a microstep; its sends (Scope.Send, SendSelf, SendAfter, Cancel,
// Reply, Request) are deferred to the end of the macrostep, Raise and
// Assign take effect at once. params are the "params" of the action's
// reference in the document (nil when absent), as encoding/json decodes
// them. A non-nil error stops the machine with status error.
type Action func(s *Scope, params map[string]any) error

// Guard is a named guard implemented in Go. It must not have side
// effects: the Scope's sending and assigning methods fail inside a guard.
type Guard func(s *Scope, params map[string]any) (bool, error)

// Delay computes a named delay (an "after" key or a "delay" parameter
// that is not a number of milliseconds).
type Delay func(s *Scope) (time.Duration, error)

// Registry maps the names used in documents to Go code. The built-in
// actions (raise, sendTo, cancel, assign, increment, log, reply, request)
// and guards (stateIn, and, or, not, eq) are always present and cannot be
// replaced. A Registry must not be modified once a Machine is loaded with
// it; then it may be shared.
type Registry struct {
	actions map[string]Action
	guards  map[string]Guard
	delays  map[string]Delay
}

// NewRegistry returns a Registry with only the built-ins.
func NewRegistry() *Registry {
	return &Registry{actions: map[string]Action{}, guards: map[string]Guard{}, delays: map[string]Delay{}}
}

// Action registers fn under name and returns r. It panics if name is
// empty, built in or already registered (a programming error, like
// registering an http pattern twice).
func (r *Registry) Action(name string, fn Action) *Registry {
	if name == "" || builtinActions[name] != nil || r.actions[name] != nil || fn == nil {
		panic(fmt.Sprintf("statechart: cannot register action %q", name))
	}
	r.actions[name] = fn
	return r
}

// Guard registers fn under name; it panics as Action does.
func (r *Registry) Guard(name string, fn Guard) *Registry {
	if name == "" || builtinGuards[name] || r.guards[name] != nil || fn == nil {
		panic(fmt.Sprintf("statechart: cannot register guard %q", name))
	}
	r.guards[name] = fn
	return r
}

// Delay registers fn under name; it panics as Action does.
func (r *Registry) Delay(name string, fn Delay) *Registry {
	if name == "" || r.delays[name] != nil || fn == nil {
		panic(fmt.Sprintf("statechart: cannot register delay %q", name))
	}
	r.delays[name] = fn
	return r
}

// builtinGuards are the guard names handled by evalGuard itself.
var builtinGuards = map[string]bool{"stateIn": true, "and": true, "or": true, "not": true, "eq": true}
