package statechart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Snapshot is a machine instance's observable state, in XState's JSON
// shape: {"value": ..., "status": ..., "context": {...}}, plus the
// recorded history (needed to restore) and the error text of a failed
// machine. Its JSON form is stable: Restore accepts what it marshals to.
type Snapshot struct {
	Value   json.RawMessage     `json:"value"`             // "idle", {"a":"a1"}, {"p":{"r1":"x","r2":"y"}}
	Status  Status              `json:"status"`            // active, done or error
	Context map[string]any      `json:"context"`           // keys sorted when marshalled
	History map[string][]string `json:"history,omitempty"` // history node id -> recorded state ids
	Error   string              `json:"error,omitempty"`
}

// Snapshot returns the current snapshot (a copy).
func (in *Interpreter) Snapshot() Snapshot {
	s := Snapshot{Value: in.value(), Status: in.status, Context: cloneContext(in.ctx)}
	if !in.started {
		s.Value = json.RawMessage("{}")
	}
	if in.err != nil {
		s.Error = in.err.Error()
	}
	for h, nodes := range in.hist {
		if s.History == nil {
			s.History = map[string][]string{}
		}
		ids := make([]string, len(nodes))
		for i, n := range nodes {
			ids[i] = n.ID
		}
		s.History[h.ID] = ids
	}
	return s
}

// value renders the configuration as XState's state value, keys in
// document order.
func (in *Interpreter) value() json.RawMessage {
	var b bytes.Buffer
	in.writeValue(&b, in.m.root)
	return b.Bytes()
}

func (in *Interpreter) writeValue(b *bytes.Buffer, n *StateNode) {
	var kids []*StateNode
	for _, c := range n.Children {
		if in.active[c.order] {
			kids = append(kids, c)
		}
	}
	if n.Type == Compound && len(kids) == 1 && len(kids[0].Children) == 0 {
		writeString(b, kids[0].Key)
		return
	}
	b.WriteByte('{')
	for i, c := range kids {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, c.Key)
		b.WriteByte(':')
		in.writeValue(b, c)
	}
	b.WriteByte('}')
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// Restore returns a started interpreter for m in the state s describes
// (as Snapshot produced it). No entry actions run and no timers are
// armed: a System re-arms the delayed sends it saved with the snapshot.
func Restore(m *Machine, s Snapshot, opts ...Option) (*Interpreter, error) {
	in, err := NewInterpreter(m, opts...)
	if err != nil {
		return nil, err
	}
	switch s.Status {
	case StatusActive, StatusDone, StatusError:
	default:
		return nil, fmt.Errorf("statechart: restore: unknown status %q", s.Status)
	}
	v, err := decodeOrdered(s.Value)
	if err != nil {
		return nil, fmt.Errorf("statechart: restore: value: %w", err)
	}
	if err := in.activate(m.root, v); err != nil {
		return nil, fmt.Errorf("statechart: restore: %w", err)
	}
	for hid, ids := range s.History {
		h := m.byID[hid]
		if h == nil || h.Type != History {
			return nil, fmt.Errorf("statechart: restore: %q is not a history state", hid)
		}
		for _, id := range ids {
			n := m.byID[id]
			if n == nil || !isDescendant(n, h.Parent) {
				return nil, fmt.Errorf("statechart: restore: history %q: bad state %q", hid, id)
			}
			in.hist[h] = append(in.hist[h], n)
		}
	}
	in.ctx = map[string]any{}
	for k, v := range s.Context {
		if in.ctx[k], err = normalize(v); err != nil {
			return nil, fmt.Errorf("statechart: restore: context %q: %w", k, err)
		}
	}
	in.started, in.status = true, s.Status
	if s.Status == StatusError {
		in.err = fmt.Errorf("restored failed machine: %s", s.Error)
	}
	return in, nil
}

// activate marks n and the states v names below it active.
func (in *Interpreter) activate(n *StateNode, v any) error {
	in.active[n.order] = true
	if key, ok := v.(string); ok && n.Type == Compound {
		c := n.child(key)
		if c == nil || len(c.Children) > 0 || c.Type == History {
			return fmt.Errorf("state %q has no atomic child %q", n.ID, key)
		}
		in.active[c.order] = true
		return nil
	}
	o, ok := v.(*object)
	if !ok {
		return fmt.Errorf("bad value for state %q: %s", n.ID, typeName(v))
	}
	switch n.Type {
	case Compound:
		if len(o.keys) != 1 {
			return fmt.Errorf("compound state %q needs exactly one active child", n.ID)
		}
	case Parallel:
		want := slices.Collect(func(yield func(string) bool) {
			for _, c := range n.regions() {
				yield(c.Key)
			}
		})
		if !slices.Equal(sortedCopy(o.keys), sortedCopy(want)) {
			return fmt.Errorf("parallel state %q needs every region", n.ID)
		}
	default:
		if len(o.keys) != 0 {
			return fmt.Errorf("state %q has no children", n.ID)
		}
	}
	for i, k := range o.keys {
		c := n.child(k)
		if c == nil || c.Type == History {
			return fmt.Errorf("state %q has no child %q", n.ID, k)
		}
		if err := in.activate(c, o.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
