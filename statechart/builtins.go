package statechart

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// builtinArgs are the compiled parameters of a built-in action.
type builtinArgs struct {
	event     string
	payload   json.RawMessage
	to        string
	delay     *delaySpec
	id        string
	key       string
	value     any
	fromEvent *string
	by        float64
	message   string
	timeout   time.Duration
	onReply   string
	onError   string
}

// delaySpec is a delay in milliseconds or the name of a registered delay.
type delaySpec struct {
	ms    float64
	named string
}

type compileFunc func(l *loader, p map[string]any, path string) (*builtinArgs, error)

// builtinActions compiles each built-in action's parameters at load time,
// so a bad parameter is a load error, never a surprise at run time.
var builtinActions map[string]compileFunc

func init() {
	builtinActions = map[string]compileFunc{
		"raise": func(l *loader, p map[string]any, path string) (*builtinArgs, error) {
			return compileSend(l, p, path, "raise")
		},
		"sendTo": func(l *loader, p map[string]any, path string) (*builtinArgs, error) {
			return compileSend(l, p, path, "sendTo")
		},
		"cancel": compileCancel, "assign": compileAssign,
		"increment": compileIncrement, "log": compileLog, "reply": compileReply, "request": compileRequest,
	}
}

func paramString(p map[string]any, key string, required bool, path, action string) (string, error) {
	v, ok := p[key]
	if !ok || v == nil {
		if required {
			return "", &LoadError{Path: path, Msg: fmt.Sprintf("%s needs a %q parameter", action, key)}
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok || (required && s == "") {
		return "", &LoadError{Path: path, Msg: fmt.Sprintf("%s: %q must be a non-empty string", action, key)}
	}
	return s, nil
}

// compileSend reads raise {event, payload?, delay?, id?} and
// sendTo {to, event, payload?, delay?, id?}.
func compileSend(l *loader, p map[string]any, path, name string) (*builtinArgs, error) {
	a := &builtinArgs{}
	var err error
	if name == "sendTo" {
		if a.to, err = paramString(p, "to", true, path, name); err != nil {
			return nil, err
		}
	}
	if a.event, err = paramString(p, "event", true, path, name); err != nil {
		return nil, err
	}
	if a.id, err = paramString(p, "id", false, path, name); err != nil {
		return nil, err
	}
	a.payload = rawJSON(p["payload"])
	if a.delay, err = l.delayParam(p, path, name); err != nil {
		return nil, err
	}
	return a, nil
}

func (l *loader) delayParam(p map[string]any, path, action string) (*delaySpec, error) {
	switch d := p["delay"].(type) {
	case nil:
		return nil, nil
	case float64:
		if d < 0 || d > maxDelayMs {
			return nil, &LoadError{Path: path, Msg: action + ": delay out of range"}
		}
		return &delaySpec{ms: d}, nil
	case string:
		return l.delayKey(d, path)
	}
	return nil, &LoadError{Path: path, Msg: action + ": delay must be milliseconds or a delay name"}
}

func compileCancel(l *loader, p map[string]any, path string) (*builtinArgs, error) {
	id, err := paramString(p, "id", true, path, "cancel")
	return &builtinArgs{id: id}, err
}

// compileAssign reads assign {key, value} or {key, fromEvent: "a.b"}.
func compileAssign(l *loader, p map[string]any, path string) (*builtinArgs, error) {
	key, err := paramString(p, "key", true, path, "assign")
	if err != nil {
		return nil, err
	}
	a := &builtinArgs{key: key, value: p["value"]}
	if fv, ok := p["fromEvent"]; ok {
		s, isStr := fv.(string)
		if !isStr {
			return nil, &LoadError{Path: path, Msg: `assign: "fromEvent" must be a path in the event payload ("" for all of it)`}
		}
		if _, both := p["value"]; both {
			return nil, &LoadError{Path: path, Msg: `assign takes "value" or "fromEvent", not both`}
		}
		a.fromEvent = &s
	}
	return a, nil
}

func compileIncrement(l *loader, p map[string]any, path string) (*builtinArgs, error) {
	key, err := paramString(p, "key", true, path, "increment")
	if err != nil {
		return nil, err
	}
	a := &builtinArgs{key: key, by: 1}
	if v, ok := p["by"]; ok {
		f, isNum := v.(float64)
		if !isNum {
			return nil, &LoadError{Path: path, Msg: `increment: "by" must be a number`}
		}
		a.by = f
	}
	return a, nil
}

func compileLog(l *loader, p map[string]any, path string) (*builtinArgs, error) {
	msg, err := paramString(p, "message", true, path, "log")
	return &builtinArgs{message: msg}, err
}

func compileReply(l *loader, p map[string]any, path string) (*builtinArgs, error) {
	return &builtinArgs{payload: rawJSON(p["payload"])}, nil
}

// compileRequest reads request {to, event, payload?, timeout?, onReply?,
// onError?}; the answer comes back as the event onReply (default
// EVENT.reply) or onError (default EVENT.error).
func compileRequest(l *loader, p map[string]any, path string) (*builtinArgs, error) {
	a := &builtinArgs{}
	var err error
	if a.to, err = paramString(p, "to", true, path, "request"); err != nil {
		return nil, err
	}
	if a.event, err = paramString(p, "event", true, path, "request"); err != nil {
		return nil, err
	}
	if a.onReply, err = paramString(p, "onReply", false, path, "request"); err != nil {
		return nil, err
	}
	if a.onError, err = paramString(p, "onError", false, path, "request"); err != nil {
		return nil, err
	}
	if a.onReply == "" {
		a.onReply = a.event + ".reply"
	}
	if a.onError == "" {
		a.onError = a.event + ".error"
	}
	if v, ok := p["timeout"]; ok {
		ms, isNum := v.(float64)
		if !isNum || ms <= 0 || ms > maxDelayMs {
			return nil, &LoadError{Path: path, Msg: "request: timeout must be a positive number of milliseconds"}
		}
		a.timeout = time.Duration(ms * float64(time.Millisecond))
	}
	a.payload = rawJSON(p["payload"])
	return a, nil
}

// runBuiltin executes a built-in action.
func (s *Scope) runBuiltin(a *actionRef) error {
	b := a.args
	switch a.name {
	case "raise", "sendTo":
		return s.builtinSend(a)
	case "cancel":
		s.Cancel(b.id)
	case "assign":
		v := b.value
		if b.fromEvent != nil {
			var err error
			if v, err = s.ev.Field(*b.fromEvent); err != nil {
				return err
			}
		}
		return s.Assign(b.key, v)
	case "increment":
		cur, _ := s.Get(b.key)
		if cur == nil {
			cur = 0.0
		}
		f, ok := cur.(float64)
		if !ok {
			return fmt.Errorf("increment: context %q is %s, not a number", b.key, typeName(cur))
		}
		return s.Assign(b.key, f+b.by)
	case "log":
		s.Log(b.message)
	case "reply":
		return s.Reply(b.payload)
	case "request":
		return s.Request(b.to, b.event, b.payload, b.timeout, b.onReply, b.onError)
	}
	return nil
}

func (s *Scope) builtinSend(a *actionRef) error {
	b := a.args
	to := b.to
	if a.name == "raise" {
		to = ""
	}
	if b.delay == nil {
		if to == "" {
			return s.Raise(b.event, b.payload)
		}
		return s.Send(to, b.event, b.payload)
	}
	d, err := s.resolveDelay(b.delay)
	if err != nil {
		return err
	}
	if to == "" {
		to = s.in.id
	}
	return s.SendAfter(b.id, to, b.event, b.payload, d)
}

func (s *Scope) resolveDelay(d *delaySpec) (time.Duration, error) {
	if d.named == "" {
		return time.Duration(d.ms * float64(time.Millisecond)), nil
	}
	fn := s.in.m.reg.delays[d.named]
	v, err := fn(s)
	if err != nil {
		return 0, fmt.Errorf("delay %q: %w", d.named, err)
	}
	return max(v, 0), nil
}

// evalGuard evaluates g for the event being processed.
func (in *Interpreter) evalGuard(g *guardRef, ev Event) (bool, error) {
	switch g.name {
	case "stateIn":
		return in.active[g.state.order], nil
	case "eq":
		v := in.ctx[g.key]
		return reflect.DeepEqual(v, g.value), nil
	case "and", "or":
		for _, sub := range g.subs {
			ok, err := in.evalGuard(sub, ev)
			if err != nil {
				return false, err
			}
			if ok == (g.name == "or") {
				return ok, nil
			}
		}
		return g.name == "and", nil
	case "not":
		ok, err := in.evalGuard(g.subs[0], ev)
		return !ok, err
	}
	s := &Scope{in: in, ev: ev, guard: true}
	ok, err := g.fn(s, g.params)
	if err == nil {
		err = s.err
	}
	if err != nil {
		return false, &RunError{Machine: in.id, Path: g.path, Err: fmt.Errorf("guard %q: %w", g.name, err)}
	}
	return ok, nil
}

// Field returns the value at a dot-separated path in the event's payload
// ("" is the whole payload; array elements by index); a missing path is
// nil.
func (e Event) Field(path string) (any, error) {
	var v any
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &v); err != nil {
			return nil, fmt.Errorf("event %s: payload is not JSON: %w", e.Name, err)
		}
	}
	if path == "" {
		return v, nil
	}
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, nil
			}
			v = x[i]
		default:
			return nil, nil
		}
	}
	return v, nil
}

// normalize turns any Go value into its plain JSON form, so context
// values compare the same whether they came from JSON or Go.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", x)
		}
		return x, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
