package statechart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Load reads an XState v5 machine document (JSON) and binds its action,
// guard and delay names to reg's functions and the built-ins. reg may be
// nil when the document uses built-ins only. Any problem — invalid JSON,
// an unknown target, a name neither built in nor registered, a feature
// not supported — is a *LoadError naming its place in the document.
// XStateNet's v4 forms ("cond", an "" event for eventless, "internal")
// are accepted and reported by Machine.Warnings; keys with no meaning to
// the runtime ("meta", "tags", "description", ...) are ignored.
func Load(data []byte, reg *Registry) (*Machine, error) {
	if reg == nil {
		reg = NewRegistry()
	}
	return load(data, reg)
}

// Parse reads a document as Load does but does not require its custom
// names to be registered: it is for tools that inspect a chart (check,
// diagram). Machine.Needs lists the names; the Machine cannot run.
func Parse(data []byte) (*Machine, error) { return load(data, nil) }

type loader struct {
	m   *Machine
	cfg map[*StateNode]*object
}

func load(data []byte, reg *Registry) (*Machine, error) {
	doc, err := decodeOrdered(data)
	if err != nil {
		return nil, err
	}
	root, ok := doc.(*object)
	if !ok {
		return nil, &LoadError{Msg: "a machine must be a JSON object, not " + typeName(doc)}
	}
	l := &loader{m: &Machine{id: "(machine)", byID: map[string]*StateNode{}, reg: reg, delays: map[string]bool{}},
		cfg: map[*StateNode]*object{}}
	if v, ok := root.get("id"); ok {
		s, ok := v.(string)
		if !ok || s == "" || strings.ContainsAny(s, ".#") {
			return nil, &LoadError{Path: "/id", Msg: "the machine id must be a non-empty string without '.' or '#'"}
		}
		l.m.id = s
	}
	if err := l.context(root); err != nil {
		return nil, err
	}
	if l.m.root, err = l.node(root, "", nil, "", 0); err != nil {
		return nil, err
	}
	for _, n := range l.m.nodes {
		if err := l.behaviour(n); err != nil {
			return nil, err
		}
	}
	var compact bytes.Buffer
	if json.Compact(&compact, data) == nil {
		l.m.doc = compact.Bytes()
	}
	return l.m, nil
}

func (l *loader) context(root *object) error {
	l.m.context = map[string]any{}
	v, ok := root.get("context")
	if !ok || v == nil {
		return nil
	}
	o, ok := v.(*object)
	if !ok {
		return &LoadError{Path: "/context", Msg: "context must be a JSON object, not " + typeName(v)}
	}
	l.m.context = plain(o).(map[string]any)
	return nil
}

// nodeKeys are the state node keys the runtime reads; others are kept in
// the document and ignored (quietly for XState's descriptive keys).
var nodeKeys = map[string]bool{
	"id": true, "key": true, "initial": true, "context": true, "states": true, "type": true, "on": true,
	"always": true, "after": true, "entry": true, "exit": true, "history": true, "target": true, "onDone": true,
}

var quietKeys = map[string]bool{
	"meta": true, "tags": true, "description": true, "version": true, "output": true, "order": true,
	"schemas": true, "predictableActionArguments": true, "preserveActionOrder": true, "$schema": true,
}

// node builds the tree: kinds, ids and document order (pass one).
func (l *loader) node(cfg *object, key string, parent *StateNode, path string, depth int) (*StateNode, error) {
	if depth > maxDepth {
		return nil, &LoadError{Path: path, Msg: "states nested too deeply"}
	}
	n := &StateNode{Key: key, Path: path, Parent: parent, order: len(l.m.nodes)}
	l.m.nodes = append(l.m.nodes, n)
	l.cfg[n] = cfg
	if err := l.nodeID(n, cfg); err != nil {
		return nil, err
	}
	for _, k := range cfg.keys {
		if !nodeKeys[k] && !quietKeys[k] {
			if k == "invoke" || k == "activities" {
				return nil, &LoadError{Path: joinPath(path, k), Msg: k + " is not supported (use actions and machines on the bus)"}
			}
			l.warn(joinPath(path, k), "unknown key ignored")
		}
	}
	states, err := l.childStates(n, cfg)
	if err != nil {
		return nil, err
	}
	if n.Type, err = nodeType(n, cfg, states != nil); err != nil {
		return nil, err
	}
	if states == nil {
		return n, nil
	}
	for i, k := range states.keys {
		cpath := joinPath(joinPath(path, "states"), k)
		c, ok := states.vals[i].(*object)
		if !ok {
			return nil, &LoadError{Path: cpath, Msg: "a state must be a JSON object, not " + typeName(states.vals[i])}
		}
		if k == "" || strings.ContainsAny(k, ".#") {
			return nil, &LoadError{Path: cpath, Msg: "a state key must be non-empty and contain no '.' or '#'"}
		}
		child, err := l.node(c, k, n, cpath, depth+1)
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, child)
	}
	return n, nil
}

func (l *loader) nodeID(n *StateNode, cfg *object) error {
	if n.Parent == nil {
		n.ID = l.m.id
	} else if v, ok := cfg.get("id"); ok {
		s, ok := v.(string)
		if !ok || s == "" || strings.ContainsAny(s, ".#") {
			return &LoadError{Path: joinPath(n.Path, "id"), Msg: "a state id must be a non-empty string without '.' or '#'"}
		}
		n.ID = s
	} else {
		keys := []string{n.Key}
		for p := n.Parent; p.Parent != nil; p = p.Parent {
			keys = append([]string{p.Key}, keys...)
		}
		n.ID = l.m.id + "." + strings.Join(keys, ".")
	}
	if _, dup := l.m.byID[n.ID]; dup {
		return &LoadError{Path: n.Path, Msg: fmt.Sprintf("duplicate state id %q", n.ID)}
	}
	l.m.byID[n.ID] = n
	return nil
}

func (l *loader) childStates(n *StateNode, cfg *object) (*object, error) {
	v, ok := cfg.get("states")
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(*object)
	if !ok {
		return nil, &LoadError{Path: joinPath(n.Path, "states"), Msg: "states must be a JSON object, not " + typeName(v)}
	}
	if len(o.keys) == 0 {
		return nil, nil
	}
	return o, nil
}

func nodeType(n *StateNode, cfg *object, hasStates bool) (NodeType, error) {
	v, ok := cfg.get("type")
	t, _ := v.(string)
	if ok && t == "" {
		return 0, &LoadError{Path: joinPath(n.Path, "type"), Msg: "type must be one of atomic, compound, parallel, final, history"}
	}
	var kind NodeType
	switch t {
	case "":
		kind = Atomic
		if hasStates {
			kind = Compound
		}
	case "atomic", "final", "history":
		kind = map[string]NodeType{"atomic": Atomic, "final": Final, "history": History}[t]
		if hasStates {
			return 0, &LoadError{Path: joinPath(n.Path, "states"), Msg: "a " + t + " state cannot have child states"}
		}
	case "compound", "parallel":
		kind = Compound
		if t == "parallel" {
			kind = Parallel
		}
		if !hasStates {
			return 0, &LoadError{Path: joinPath(n.Path, "states"), Msg: "a " + t + " state needs child states"}
		}
	default:
		return 0, &LoadError{Path: joinPath(n.Path, "type"), Msg: fmt.Sprintf("unknown state type %q", t)}
	}
	if n.Parent == nil && (kind == History || kind == Final) {
		return 0, &LoadError{Path: joinPath(n.Path, "type"), Msg: "the root cannot be a " + t + " state"}
	}
	return kind, nil
}

func (l *loader) warn(path, msg string) {
	p := path
	if p == "" {
		p = "/"
	}
	l.m.warnings = append(l.m.warnings, p+": "+msg)
}

func (l *loader) addEvent(desc string) {
	for _, e := range l.m.events {
		if e == desc {
			return
		}
	}
	l.m.events = append(l.m.events, desc)
}
