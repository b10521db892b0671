package statechart

import (
	"encoding/json"
	"slices"
	"sort"
)

// NodeType is the kind of a state node.
type NodeType int

// State node kinds, as XState names them.
const (
	Atomic NodeType = iota
	Compound
	Parallel
	Final
	History
)

func (t NodeType) String() string {
	return [...]string{"atomic", "compound", "parallel", "final", "history"}[t]
}

// Machine is a loaded chart definition. It is immutable and safe for
// concurrent use: any number of Interpreters may run it.
type Machine struct {
	id       string
	root     *StateNode
	nodes    []*StateNode // by document order; nodes[i].order == i
	byID     map[string]*StateNode
	context  map[string]any // initial context (plain JSON values)
	warnings []string
	reg      *Registry
	needs    Needs
	events   []string // event descriptors in first-use order
	delays   map[string]bool
	doc      json.RawMessage // the document it was loaded from, compacted
}

// StateNode is one state of a Machine. Its exported fields describe the
// chart for tools (check, diagram); they must not be modified.
type StateNode struct {
	Key      string       // key in the parent's "states"; "" for the root
	ID       string       // "#id" without the "#": a custom id or machineId.path.to.node
	Path     string       // JSON Pointer of the node's config in the document
	Type     NodeType     // atomic, compound, parallel, final or history
	Parent   *StateNode   // nil for the root
	Children []*StateNode // in document order
	Deep     bool         // history nodes: deep (else shallow)

	order   int
	initial *Transition // compound: the initial transition; history: default target (may be nil)
	on      []eventTransitions
	always  []*Transition
	entry   []*actionRef
	exit    []*actionRef
	after   []afterDef
}

type eventTransitions struct {
	descriptor string
	list       []*Transition
}

type afterDef struct {
	key   string // delay key as written: "1000" or a named delay
	event string // xstate.after.<key>.<id>
}

// Transition is one transition of a StateNode.
type Transition struct {
	Source  *StateNode
	Event   string       // the descriptor; "" for eventless (always)
	Targets []*StateNode // none for a targetless transition
	Reenter bool
	Path    string // JSON Pointer of the transition in the document

	targetStrs []string
	guard      *guardRef
	actions    []*actionRef
}

// GuardName returns the guard's name, "" when unguarded.
func (t *Transition) GuardName() string {
	if t.guard == nil {
		return ""
	}
	return t.guard.name
}

// ActionNames returns the names of the transition's actions in order.
func (t *Transition) ActionNames() []string {
	out := make([]string, len(t.actions))
	for i, a := range t.actions {
		out[i] = a.name
	}
	return out
}

// Transitions returns the node's transitions in priority order: "on"
// entries in document order (delayed "after" transitions included under
// their xstate.after.* event), then the eventless ones.
func (n *StateNode) Transitions() []*Transition {
	var out []*Transition
	for _, et := range n.on {
		out = append(out, et.list...)
	}
	return append(out, n.always...)
}

// Initial returns the target of the initial transition of a compound
// node (or the default target of a history node), nil otherwise.
func (n *StateNode) Initial() []*StateNode {
	if n.initial == nil {
		return nil
	}
	return n.initial.Targets
}

// EntryNames and ExitNames return the names of the node's own entry and
// exit actions (the delayed-transition bookkeeping is not included).
func (n *StateNode) EntryNames() []string { return refNames(n.entry) }

// ExitNames: see EntryNames.
func (n *StateNode) ExitNames() []string { return refNames(n.exit) }

func refNames(refs []*actionRef) []string {
	var out []string
	for _, a := range refs {
		if !a.synthetic {
			out = append(out, a.name)
		}
	}
	return out
}

// ID returns the machine's id (the root's "id", "(machine)" when absent).
func (m *Machine) ID() string { return m.id }

// Definition returns the JSON document the machine was loaded from, on
// one line (insignificant white space removed, keys in their order): what
// a tool needs to draw it, such as the bus's inspector (chartbus reports
// it). The caller must not modify it.
func (m *Machine) Definition() json.RawMessage { return m.doc }

// Root returns the root state node.
func (m *Machine) Root() *StateNode { return m.root }

// Warnings lists the XStateNet/v4 forms the loader accepted ("cond", ""
// for eventless, "internal") and the unknown keys it ignored.
func (m *Machine) Warnings() []string { return slices.Clone(m.warnings) }

// Node returns the state node with the given id (without "#").
func (m *Machine) Node(id string) *StateNode { return m.byID[id] }

// Nodes returns every state node in document order, the root first.
func (m *Machine) Nodes() []*StateNode { return slices.Clone(m.nodes) }

// Events returns the event descriptors the chart handles, in document
// order (generated xstate.* events included).
func (m *Machine) Events() []string { return slices.Clone(m.events) }

// Needs lists the names a document uses that are not built in: they must
// be registered before the machine can run. Each list is sorted.
type Needs struct {
	Actions, Guards, Delays []string
}

// Needs returns the custom names the document uses.
func (m *Machine) Needs() Needs {
	return Needs{slices.Clone(m.needs.Actions), slices.Clone(m.needs.Guards), slices.Clone(m.needs.Delays)}
}

func addSorted(list []string, s string) []string {
	i := sort.SearchStrings(list, s)
	if i < len(list) && list[i] == s {
		return list
	}
	return slices.Insert(list, i, s)
}

// isDescendant reports whether a is strictly inside b.
func isDescendant(a, b *StateNode) bool {
	if b == nil {
		return false
	}
	for p := a.Parent; p != nil; p = p.Parent {
		if p == b {
			return true
		}
	}
	return false
}

// properAncestors returns n's ancestors from its parent up to, not
// including, stop (nil: up to the root); none when n is stop.
func properAncestors(n, stop *StateNode) []*StateNode {
	var out []*StateNode
	if n == stop {
		return nil
	}
	for p := n.Parent; p != nil && p != stop; p = p.Parent {
		out = append(out, p)
	}
	return out
}

// regions returns the non-history children of n.
func (n *StateNode) regions() []*StateNode {
	var out []*StateNode
	for _, c := range n.Children {
		if c.Type != History {
			out = append(out, c)
		}
	}
	return out
}

func (n *StateNode) child(key string) *StateNode {
	for _, c := range n.Children {
		if c.Key == key {
			return c
		}
	}
	return nil
}
