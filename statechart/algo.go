package statechart

import (
	"sort"
	"strings"
)

// This file is XState v5's stateUtils.ts algorithm (itself the SCXML
// one with v5's choices), function for function where it can be.

// selectTransitions picks the transitions an external or internal event
// enables: per XState's transitionNode, a region's own transitions are
// tried only when none of its active descendants takes the event.
func (in *Interpreter) selectTransitions(ev Event) ([]*Transition, error) {
	return in.transitionNode(in.m.root, ev)
}

func (in *Interpreter) transitionNode(n *StateNode, ev Event) ([]*Transition, error) {
	var found []*Transition
	for _, c := range n.Children {
		if !in.active[c.order] || c.Type == History {
			continue
		}
		ts, err := in.transitionNode(c, ev)
		if err != nil {
			return nil, err
		}
		found = append(found, ts...)
		if n.Type != Parallel {
			break
		}
	}
	if len(found) > 0 {
		return found, nil
	}
	t, err := in.next(n, ev)
	if t == nil || err != nil {
		return nil, err
	}
	return []*Transition{t}, nil
}

// next returns n's first candidate for ev whose guard passes.
func (in *Interpreter) next(n *StateNode, ev Event) (*Transition, error) {
	for _, t := range candidates(n, ev.Name) {
		ok, err := in.passes(t, ev)
		if err != nil || ok {
			return t, err
		}
	}
	return nil, nil
}

func (in *Interpreter) passes(t *Transition, ev Event) (bool, error) {
	if t.guard == nil {
		return true, nil
	}
	return in.evalGuard(t.guard, ev)
}

// candidates returns the transitions of n for an event name in the order
// XState's getCandidates tries them: the exact descriptor's first, then
// those of the matching partial descriptors, longest descriptor first
// (document order among equals), "*" last; each descriptor's transitions in
// array order. next takes the first whose guard passes, so a failing guard
// on the exact descriptor falls back to the wildcards (xstate 5.32.2, #5548).
func candidates(n *StateNode, name string) []*Transition {
	var exact []*Transition
	var matches []eventTransitions
	for _, et := range n.on {
		switch {
		case et.descriptor == name:
			exact = et.list
		case matchWildcard(et.descriptor, name):
			matches = append(matches, et)
		}
	}
	if len(matches) == 0 {
		return exact
	}
	sort.SliceStable(matches, func(i, j int) bool { return len(matches[i].descriptor) > len(matches[j].descriptor) })
	out := append([]*Transition(nil), exact...) // a copy: never append to et.list
	for _, et := range matches {
		out = append(out, et.list...)
	}
	return out
}

// matchWildcard is XState's partial descriptor match: "*" matches every
// event, "a.b.*" every event whose first tokens are a and b (and "a.b").
func matchWildcard(desc, name string) bool {
	if desc == "*" {
		return true
	}
	if !strings.HasSuffix(desc, ".*") {
		return false
	}
	dt, et := strings.Split(desc, "."), strings.Split(name, ".")
	for i, tok := range dt {
		if tok == "*" {
			return i == len(dt)-1
		}
		if i >= len(et) || tok != et[i] {
			return false
		}
	}
	return true
}

// selectEventless picks the enabled "always" transitions: per active
// atomic state in document order, the first enabled one of the state or
// its nearest ancestor that has one.
func (in *Interpreter) selectEventless(ev Event) ([]*Transition, error) {
	var enabled []*Transition
	for _, n := range in.m.nodes {
		if !in.active[n.order] || len(n.Children) > 0 {
			continue
		}
	loop:
		for s := n; s != nil; s = s.Parent {
			for _, t := range s.always {
				ok, err := in.passes(t, ev)
				if err != nil {
					return nil, err
				}
				if ok {
					if !containsT(enabled, t) {
						enabled = append(enabled, t)
					}
					break loop
				}
			}
		}
	}
	return enabled, nil
}

func containsT(list []*Transition, t *Transition) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

// removeConflicts keeps, among transitions whose exit sets intersect,
// the one whose source is a descendant, else the earlier one.
func (in *Interpreter) removeConflicts(ts []*Transition) []*Transition {
	var kept []*Transition
	for _, t1 := range ts {
		preempted := false
		var remove []*Transition
		e1 := in.exitSet([]*Transition{t1})
		for _, t2 := range kept {
			if intersects(e1, in.exitSet([]*Transition{t2})) {
				if isDescendant(t1.Source, t2.Source) {
					remove = append(remove, t2)
				} else {
					preempted = true
					break
				}
			}
		}
		if preempted {
			continue
		}
		kept = removeAll(kept, remove)
		kept = append(kept, t1)
	}
	return kept
}

func intersects(a, b map[*StateNode]bool) bool {
	for n := range a {
		if b[n] {
			return true
		}
	}
	return false
}

func removeAll(list, remove []*Transition) []*Transition {
	out := list[:0]
	for _, t := range list {
		if !containsT(remove, t) {
			out = append(out, t)
		}
	}
	return out
}

// exitSet is computeExitSet: the active states that transitions leave.
func (in *Interpreter) exitSet(ts []*Transition) map[*StateNode]bool {
	set := map[*StateNode]bool{}
	for _, t := range ts {
		if len(t.Targets) == 0 {
			continue
		}
		d, all := in.domain(t)
		if t.Reenter && t.Source == d {
			set[d] = true
		}
		for _, n := range in.m.nodes {
			if in.active[n.order] && (all || isDescendant(n, d)) {
				set[n] = true
			}
		}
	}
	return set
}

// domain is getTransitionDomain. all is true for a reentering transition
// on the root, whose domain is "everything" (the root is left too).
func (in *Interpreter) domain(t *Transition) (d *StateNode, all bool) {
	targets := in.effectiveTargets(t)
	if len(targets) == 0 {
		return nil, false
	}
	if !t.Reenter {
		inside := true
		for _, x := range targets {
			if x != t.Source && !isDescendant(x, t.Source) {
				inside = false
				break
			}
		}
		if inside {
			return t.Source, false
		}
	}
	if lca := findLCCA(append(targets[1:len(targets):len(targets)], t.Source), targets[0]); lca != nil {
		return lca, false
	}
	if t.Reenter {
		return nil, true
	}
	return in.m.root, false
}

// findLCCA returns the nearest proper ancestor of head containing every
// node of tail (XState does not require it to be compound).
func findLCCA(tail []*StateNode, head *StateNode) *StateNode {
	for _, anc := range properAncestors(head, nil) {
		ok := true
		for _, n := range tail {
			if !isDescendant(n, anc) {
				ok = false
				break
			}
		}
		if ok {
			return anc
		}
	}
	return nil
}

// effectiveTargets resolves history targets to their recorded states or
// their defaults.
func (in *Interpreter) effectiveTargets(t *Transition) []*StateNode {
	var out []*StateNode
	add := func(n *StateNode) {
		for _, x := range out {
			if x == n {
				return
			}
		}
		out = append(out, n)
	}
	for _, n := range t.Targets {
		if n.Type != History {
			add(n)
			continue
		}
		if h, ok := in.hist[n]; ok {
			for _, x := range h {
				add(x)
			}
			continue
		}
		for _, x := range in.effectiveTargets(historyDefault(n)) {
			add(x)
		}
	}
	return out
}

// historyDefault is the transition a history node takes when nothing is
// recorded: its "target", else its parent's initial transition (for a
// parallel parent: all of the parent's regions).
func historyDefault(h *StateNode) *Transition {
	if h.initial != nil {
		return h.initial
	}
	if h.Parent.initial != nil {
		return h.Parent.initial
	}
	return &Transition{Source: h, Targets: h.Parent.regions()}
}
