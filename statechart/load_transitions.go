package statechart

import (
	"fmt"
	"strconv"
	"strings"
)

// behaviour reads a node's transitions and actions (pass two, once the
// whole tree and every id is known).
func (l *loader) behaviour(n *StateNode) error {
	cfg := l.cfg[n]
	if err := l.initial(n, cfg); err != nil {
		return err
	}
	var err error
	if n.entry, err = l.actionsAt(cfg, n.Path, "entry"); err != nil {
		return err
	}
	if n.exit, err = l.actionsAt(cfg, n.Path, "exit"); err != nil {
		return err
	}
	if err := l.on(n, cfg); err != nil {
		return err
	}
	if v, ok := cfg.get("onDone"); ok {
		ev := "xstate.done.state." + n.ID
		list, err := l.transitions(n, ev, v, joinPath(n.Path, "onDone"))
		if err != nil {
			return err
		}
		n.on = appendOn(n.on, ev, list)
		l.addEvent(ev)
	}
	if err := l.after(n, cfg); err != nil {
		return err
	}
	if v, ok := cfg.get("always"); ok {
		list, err := l.transitions(n, "", v, joinPath(n.Path, "always"))
		if err != nil {
			return err
		}
		n.always = append(n.always, list...)
	}
	return nil
}

func appendOn(on []eventTransitions, desc string, list []*Transition) []eventTransitions {
	for i := range on {
		if on[i].descriptor == desc {
			on[i].list = append(on[i].list, list...)
			return on
		}
	}
	return append(on, eventTransitions{desc, list})
}

func (l *loader) initial(n *StateNode, cfg *object) error {
	path := joinPath(n.Path, "initial")
	v, ok := cfg.get("initial")
	switch n.Type {
	case History:
		return l.historyNode(n, cfg)
	case Compound:
		if !ok {
			return &LoadError{Path: n.Path, Msg: "a compound state needs an \"initial\" child"}
		}
	default:
		if ok {
			l.warn(path, "initial ignored: the state has no compound children")
		}
		return nil
	}
	t := &Transition{Source: n, Path: path}
	key, isStr := v.(string)
	if o, isObj := v.(*object); isObj {
		tv, _ := o.get("target")
		key, isStr = tv.(string)
		path = joinPath(path, "target")
		var err error
		if t.actions, err = l.actionsAt(o, joinPath(n.Path, "initial"), "actions"); err != nil {
			return err
		}
	}
	if !isStr || n.child(key) == nil {
		return &LoadError{Path: path, Msg: fmt.Sprintf("initial must name a child state of %q", n.ID)}
	}
	t.Targets = []*StateNode{n.child(key)}
	n.initial = t
	return nil
}

func (l *loader) historyNode(n *StateNode, cfg *object) error {
	switch v, _ := cfg.get("history"); v {
	case nil, "shallow", true:
	case "deep":
		n.Deep = true
	default:
		return &LoadError{Path: joinPath(n.Path, "history"), Msg: `history must be "shallow" or "deep"`}
	}
	v, ok := cfg.get("target")
	if !ok || v == nil {
		if n.Parent.initial != nil && n.Parent.initial.Targets[0] == n {
			return &LoadError{Path: n.Path, Msg: "a history state that is its parent's initial state needs a default target"}
		}
		return nil
	}
	path := joinPath(n.Path, "target")
	strs, err := targetStrings(v, path)
	if err != nil {
		return err
	}
	t := &Transition{Source: n, Path: path, targetStrs: strs}
	for _, s := range strs {
		target, err := nodeByPath(n.Parent, s)
		if err != nil || !isDescendant(target, n.Parent) || target.Type == History {
			return &LoadError{Path: path, Msg: fmt.Sprintf("history target %q is not a state inside %q", s, n.Parent.ID)}
		}
		t.Targets = append(t.Targets, target)
	}
	n.initial = t
	return nil
}

func (l *loader) on(n *StateNode, cfg *object) error {
	v, ok := cfg.get("on")
	if !ok || v == nil {
		return nil
	}
	o, isObj := v.(*object)
	if !isObj {
		return &LoadError{Path: joinPath(n.Path, "on"), Msg: "on must be a JSON object, not " + typeName(v)}
	}
	for i, desc := range o.keys {
		path := joinPath(joinPath(n.Path, "on"), desc)
		if desc == "" {
			l.warn(path, `the "" event (XState v4 eventless) is read as "always"`)
			list, err := l.transitions(n, "", o.vals[i], path)
			if err != nil {
				return err
			}
			n.always = append(n.always, list...)
			continue
		}
		if err := validDescriptor(desc); err != nil {
			return &LoadError{Path: path, Msg: err.Error()}
		}
		list, err := l.transitions(n, desc, o.vals[i], path)
		if err != nil {
			return err
		}
		n.on = appendOn(n.on, desc, list)
		l.addEvent(desc)
	}
	return nil
}

func validDescriptor(d string) error {
	if i := strings.IndexByte(d, '*'); i >= 0 && (i != len(d)-1 || (d != "*" && !strings.HasSuffix(d, ".*"))) {
		return fmt.Errorf("invalid event descriptor %q: a wildcard must be the whole descriptor or its last token (\"a.*\")", d)
	}
	return nil
}

func (l *loader) after(n *StateNode, cfg *object) error {
	v, ok := cfg.get("after")
	if !ok || v == nil {
		return nil
	}
	o, isObj := v.(*object)
	if !isObj {
		return &LoadError{Path: joinPath(n.Path, "after"), Msg: "after must be a JSON object, not " + typeName(v)}
	}
	for i, key := range o.keys {
		path := joinPath(joinPath(n.Path, "after"), key)
		ref := &actionRef{name: "raise", path: path, synthetic: true}
		d, err := l.delayKey(key, path)
		if err != nil {
			return err
		}
		ev := "xstate.after." + key + "." + n.ID
		ref.args = &builtinArgs{event: ev, delay: d, id: ev}
		n.entry = append(n.entry, ref)
		n.exit = append(n.exit, &actionRef{name: "cancel", path: path, synthetic: true, args: &builtinArgs{id: ev}})
		n.after = append(n.after, afterDef{key: key, event: ev})
		list, err := l.transitions(n, ev, o.vals[i], path)
		if err != nil {
			return err
		}
		n.on = appendOn(n.on, ev, list)
		l.addEvent(ev)
	}
	return nil
}

// delayKey reads a delay written as a string: milliseconds ("1000") or
// the name of a registered delay.
func (l *loader) delayKey(key, path string) (*delaySpec, error) {
	if ms, err := strconv.ParseFloat(key, 64); err == nil {
		if ms < 0 || ms > maxDelayMs {
			return nil, &LoadError{Path: path, Msg: fmt.Sprintf("delay %q out of range", key)}
		}
		return &delaySpec{ms: ms}, nil
	}
	if err := l.needDelay(key, path); err != nil {
		return nil, err
	}
	return &delaySpec{named: key}, nil
}

// maxDelayMs is about 292 years, below time.Duration's limit.
const maxDelayMs = 9e12

func (l *loader) needDelay(name, path string) error {
	l.m.needs.Delays = addSorted(l.m.needs.Delays, name)
	l.m.delays[name] = true
	if l.m.reg != nil && l.m.reg.delays[name] == nil {
		return &LoadError{Path: path, Msg: fmt.Sprintf("unknown delay %q (register it with Registry.Delay)", name), Err: ErrUnknownName}
	}
	return nil
}

// transitions reads a transition config: "target", an object, or an
// array of either.
func (l *loader) transitions(n *StateNode, event string, v any, path string) ([]*Transition, error) {
	list, isList := v.([]any)
	if !isList {
		t, err := l.transition(n, event, v, path)
		if err != nil {
			return nil, err
		}
		return []*Transition{t}, nil
	}
	out := make([]*Transition, 0, len(list))
	for i, x := range list {
		t, err := l.transition(n, event, x, fmt.Sprintf("%s/%d", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

var transitionKeys = map[string]bool{"target": true, "guard": true, "cond": true, "actions": true,
	"reenter": true, "internal": true, "description": true, "meta": true}

func (l *loader) transition(n *StateNode, event string, v any, path string) (*Transition, error) {
	t := &Transition{Source: n, Event: event, Path: path}
	var o *object
	switch x := v.(type) {
	case string:
		o = &object{keys: []string{"target"}, vals: []any{x}}
	case *object:
		o = x
	default:
		return nil, &LoadError{Path: path, Msg: "a transition must be a target string, an object or an array, not " + typeName(v)}
	}
	for _, k := range o.keys {
		if k == "in" {
			return nil, &LoadError{Path: joinPath(path, k), Msg: `"in" (XState v4) is not supported: use the guard {"type": "stateIn", "params": {"state": "#id"}}`}
		}
		if !transitionKeys[k] {
			l.warn(joinPath(path, k), "unknown key ignored")
		}
	}
	if tv, ok := o.get("target"); ok && tv != nil {
		strs, err := targetStrings(tv, joinPath(path, "target"))
		if err != nil {
			return nil, err
		}
		t.targetStrs = strs
		if err := l.resolveTargets(t, joinPath(path, "target")); err != nil {
			return nil, err
		}
	}
	if err := l.transitionFlags(t, o, path); err != nil {
		return nil, err
	}
	var err error
	if t.actions, err = l.actionsAt(o, path, "actions"); err != nil {
		return nil, err
	}
	gkey := "guard"
	if _, ok := o.get("cond"); ok {
		if _, both := o.get("guard"); both {
			return nil, &LoadError{Path: joinPath(path, "cond"), Msg: `both "guard" and "cond" given`}
		}
		l.warn(joinPath(path, "cond"), `"cond" (XState v4) is read as "guard"`)
		gkey = "cond"
	}
	if gv, ok := o.get(gkey); ok && gv != nil {
		if t.guard, err = l.guard(gv, joinPath(path, gkey), 0); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (l *loader) transitionFlags(t *Transition, o *object, path string) error {
	if rv, ok := o.get("reenter"); ok {
		b, isBool := rv.(bool)
		if !isBool {
			return &LoadError{Path: joinPath(path, "reenter"), Msg: "reenter must be true or false"}
		}
		t.Reenter = b
	}
	if iv, ok := o.get("internal"); ok {
		b, isBool := iv.(bool)
		if !isBool {
			return &LoadError{Path: joinPath(path, "internal"), Msg: "internal must be true or false"}
		}
		if _, both := o.get("reenter"); both {
			return &LoadError{Path: joinPath(path, "internal"), Msg: `both "reenter" and "internal" given`}
		}
		l.warn(joinPath(path, "internal"), `"internal" (XState v4) is read as "reenter": `+strconv.FormatBool(!b))
		t.Reenter = !b
	}
	return nil
}

func targetStrings(v any, path string) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, &LoadError{Path: path, Msg: "every target must be a string"}
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return nil, &LoadError{Path: path, Msg: "target must be a string or an array of strings, not " + typeName(v)}
}
