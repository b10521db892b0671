package statechart

import (
	"encoding/json"
	"fmt"
	"strings"
)

// actionRef is one action in the document, bound to its implementation.
type actionRef struct {
	name      string
	params    map[string]any
	path      string
	synthetic bool         // added by the loader for "after"
	args      *builtinArgs // compiled parameters of a built-in
	fn        Action       // a registered action
}

// guardRef is one guard in the document.
type guardRef struct {
	name   string
	params map[string]any
	path   string
	fn     Guard
	subs   []*guardRef // and, or, not
	state  *StateNode  // stateIn
	key    string      // eq
	value  any         // eq
}

// resolveTargets resolves t.targetStrs as XState's resolveTarget does:
// "#id" and "#id.path" by id, ".child.path" from the source, anything
// else from the source's parent (a sibling and its descendants).
func (l *loader) resolveTargets(t *Transition, path string) error {
	for _, s := range t.targetStrs {
		target, err := l.resolveTarget(t.Source, s)
		if err != nil {
			return &LoadError{Path: path, Msg: err.Error()}
		}
		t.Targets = append(t.Targets, target)
	}
	for i, a := range t.Targets {
		for _, b := range t.Targets[:i] {
			if a == b || isDescendant(a, b) || isDescendant(b, a) {
				return &LoadError{Path: path, Msg: fmt.Sprintf("targets %q and %q overlap", a.ID, b.ID)}
			}
		}
	}
	return nil
}

func (l *loader) resolveTarget(src *StateNode, s string) (*StateNode, error) {
	switch {
	case s == "":
		return nil, fmt.Errorf("empty target")
	case s[0] == '#':
		return l.byRef(s)
	case s[0] == '.':
		return nodeByPath(src, s[1:])
	case src.Parent == nil:
		return nil, fmt.Errorf("invalid target %q from the root; did you mean %q?", s, "."+s)
	}
	return nodeByPath(src.Parent, s)
}

// byRef finds "#id" or "#id.path.below".
func (l *loader) byRef(s string) (*StateNode, error) {
	id, rest, _ := strings.Cut(s[1:], ".")
	n := l.m.byID[id]
	if n == nil {
		return nil, fmt.Errorf("no state with id %q", id)
	}
	if rest == "" {
		return n, nil
	}
	return nodeByPath(n, rest)
}

// nodeByPath walks dot-separated child keys down from n.
func nodeByPath(n *StateNode, path string) (*StateNode, error) {
	if path == "" {
		return nil, fmt.Errorf("empty target path")
	}
	cur := n
	for _, k := range strings.Split(path, ".") {
		next := cur.child(k)
		if next == nil {
			return nil, fmt.Errorf("state %q has no child %q", cur.ID, k)
		}
		cur = next
	}
	return cur, nil
}

// actionsAt reads cfg[key]: one action reference or an array of them.
func (l *loader) actionsAt(cfg *object, base, key string) ([]*actionRef, error) {
	v, ok := cfg.get(key)
	if !ok || v == nil {
		return nil, nil
	}
	path := joinPath(base, key)
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	var out []*actionRef
	for i, x := range list {
		p := path
		if isList {
			p = fmt.Sprintf("%s/%d", path, i)
		}
		a, err := l.action(x, p)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// reference reads `"name"` or `{"type": name, "params": {...}}`; other
// keys next to "type" (the flat form XStateNet2 writes) are parameters
// too.
func reference(v any, path, what string) (string, map[string]any, error) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return "", nil, &LoadError{Path: path, Msg: "empty " + what + " name"}
		}
		return x, nil, nil
	case *object:
		tv, _ := x.get("type")
		name, ok := tv.(string)
		if !ok || name == "" {
			return "", nil, &LoadError{Path: path, Msg: what + ` object needs a "type" string`}
		}
		var params map[string]any
		for i, k := range x.keys {
			switch k {
			case "type":
			case "params":
				p, ok := x.vals[i].(*object)
				if !ok && x.vals[i] != nil {
					return "", nil, &LoadError{Path: joinPath(path, "params"), Msg: "params must be a JSON object"}
				}
				if ok {
					params = mergeParams(params, plain(p).(map[string]any))
				}
			default:
				params = mergeParams(params, map[string]any{k: plain(x.vals[i])})
			}
		}
		return name, params, nil
	}
	return "", nil, &LoadError{Path: path, Msg: what + " must be a name or an object with a \"type\", not " + typeName(v)}
}

func mergeParams(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func (l *loader) action(v any, path string) (*actionRef, error) {
	name, params, err := reference(v, path, "an action")
	if err != nil {
		return nil, err
	}
	a := &actionRef{name: name, params: params, path: path}
	if compile := builtinActions[name]; compile != nil {
		if a.args, err = compile(l, params, path); err != nil {
			return nil, err
		}
		return a, nil
	}
	l.m.needs.Actions = addSorted(l.m.needs.Actions, name)
	if l.m.reg != nil {
		if a.fn = l.m.reg.actions[name]; a.fn == nil {
			return nil, &LoadError{Path: path, Msg: fmt.Sprintf("unknown action %q (register it with Registry.Action)", name), Err: ErrUnknownName}
		}
	}
	return a, nil
}

func (l *loader) guard(v any, path string, depth int) (*guardRef, error) {
	if depth > maxDepth {
		return nil, &LoadError{Path: path, Msg: "guards nested too deeply"}
	}
	name, params, err := reference(v, path, "a guard")
	if err != nil {
		return nil, err
	}
	g := &guardRef{name: name, params: params, path: path}
	if builtinGuards[name] {
		return g, l.builtinGuard(g, v, depth)
	}
	l.m.needs.Guards = addSorted(l.m.needs.Guards, name)
	if l.m.reg != nil {
		if g.fn = l.m.reg.guards[name]; g.fn == nil {
			return nil, &LoadError{Path: path, Msg: fmt.Sprintf("unknown guard %q (register it with Registry.Guard)", name), Err: ErrUnknownName}
		}
	}
	return g, nil
}

// builtinGuard compiles stateIn, and, or, not and eq. Sub-guards are read
// from the ordered document so their paths are exact.
func (l *loader) builtinGuard(g *guardRef, v any, depth int) error {
	switch g.name {
	case "stateIn":
		s, ok := g.params["state"].(string)
		if !ok || !strings.HasPrefix(s, "#") {
			return &LoadError{Path: g.path, Msg: `stateIn needs {"state": "#id"} or {"state": "#id.path"}`}
		}
		n, err := l.byRef(s)
		if err != nil {
			return &LoadError{Path: g.path, Msg: "stateIn: " + err.Error()}
		}
		g.state = n
	case "eq":
		key, ok := g.params["key"].(string)
		if !ok {
			return &LoadError{Path: g.path, Msg: `eq needs {"key": "contextKey", "value": ...}`}
		}
		g.key, g.value = key, g.params["value"]
	default:
		return l.guardList(g, v, depth)
	}
	return nil
}

func (l *loader) guardList(g *guardRef, v any, depth int) error {
	raw, base := findParam(v, g.path, "guards")
	single := false
	if g.name == "not" && raw == nil {
		if raw, base = findParam(v, g.path, "guard"); raw != nil {
			raw, single = []any{raw}, true
		}
	}
	list, ok := raw.([]any)
	if !ok {
		return &LoadError{Path: g.path, Msg: g.name + ` needs {"guards": [...]}`}
	}
	if g.name == "not" && len(list) != 1 {
		return &LoadError{Path: base, Msg: "not takes exactly one guard"}
	}
	for i, x := range list {
		p := fmt.Sprintf("%s/%d", base, i)
		if single {
			p = base
		}
		sub, err := l.guard(x, p, depth+1)
		if err != nil {
			return err
		}
		g.subs = append(g.subs, sub)
	}
	return nil
}

// findParam returns the ordered value of a parameter, in "params" or
// next to "type", with its path.
func findParam(v any, path, key string) (any, string) {
	o, ok := v.(*object)
	if !ok {
		return nil, ""
	}
	if p, ok := o.get("params"); ok {
		if po, ok := p.(*object); ok {
			if x, ok := po.get(key); ok {
				return x, joinPath(joinPath(path, "params"), key)
			}
		}
	}
	if x, ok := o.get(key); ok {
		return x, joinPath(path, key)
	}
	return nil, ""
}

// rawJSON marshals a plain JSON value (a parameter) back to bytes.
func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
